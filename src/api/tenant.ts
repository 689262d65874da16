/**
 * Tenant scoping (Kapkan's `hostgroups[].tenant` and `api.tokens[].tenant`):
 * a scoped token sees and acts only on the hosts of its tenant's hostgroups.
 * A host belongs to the hostgroup with its most specific network (as the
 * engine decides), so a tenant's /26 carved out of another tenant's /24 stays
 * the /26's. A prefix target belongs to a tenant when its whole range lies in
 * one of the tenant's networks and no other group's more specific network
 * overlaps it.
 */
import { BreakwaterError } from '../core/errors.ts';
import { parseIP, parsePrefix, prefixContains, prefixCovers, prefixesOverlap, type Prefix } from '../core/ip.ts';

/**
 * The caller of a route that acts on targets (signals, commands,
 * mitigations): the token's name, the audit actor, and whether its tenant
 * owns a target (always, for an unscoped token). Scoping is a check before
 * the ban module's guards, never instead of them.
 */
export interface Scope {
  actor: string;
  /** Set for a tenant-scoped token. */
  tenant?: string;
  owns(target: string): boolean;
}

/** The refusal of a target outside the caller's tenant: a 404 that reads the same whether or not anything is there. */
export function outsideTenant(what: string, target: string): BreakwaterError {
  return new BreakwaterError('outside_tenant', `${what} refused: ${target} is not a host of this token's tenant`);
}

interface Net {
  prefix: Prefix;
  tenant: string | undefined;
}

export class TenantIndex {
  /** Networks of all hostgroups, most specific first. */
  private readonly nets: Net[];
  readonly tenants: ReadonlySet<string>;

  constructor(groups: ReadonlyArray<{ networks: readonly string[]; tenant?: string }>) {
    const nets: Net[] = [];
    const tenants = new Set<string>();
    for (const g of groups) {
      if (g.tenant) tenants.add(g.tenant);
      for (const s of g.networks) {
        const p = parsePrefix(s, false);
        if (typeof p !== 'string') nets.push({ prefix: p, tenant: g.tenant });
      }
    }
    // Stable sort: among equal prefixes the first group wins, as in the engine.
    this.nets = nets.map((n, i) => ({ n, i })).sort((a, b) => b.n.prefix.len - a.n.prefix.len || a.i - b.i).map((x) => x.n);
    this.tenants = tenants;
  }

  /** The tenant of an address or prefix ("" when no tenant owns it, undefined when it is not an address). */
  tenantOf(target: string): string | undefined {
    const t = target.trim();
    if (t.includes('/')) {
      const p = parsePrefix(t, false);
      if (typeof p === 'string') return undefined;
      const owner = this.nets.find((n) => n.prefix.family === p.family && prefixCovers(n.prefix, p));
      if (!owner) return '';
      // A more specific network of another tenant inside the range: the range is shared, nobody's alone.
      const mixed = this.nets.some((n) => n.prefix.family === p.family && n.prefix.len > owner.prefix.len && prefixesOverlap(n.prefix, p) && n.tenant !== owner.tenant);
      return mixed ? '' : (owner.tenant ?? '');
    }
    const a = parseIP(t);
    if (!a) return undefined;
    const owner = this.nets.find((n) => prefixContains(n.prefix, a.family, a.bytes));
    return owner?.tenant ?? '';
  }

  /** Whether a scoped token of `tenant` may see or act on `target`; undefined tenant (unscoped) sees everything. */
  allows(tenant: string | undefined, target: string | undefined): boolean {
    if (tenant === undefined) return true;
    if (target === undefined || target === '') return false;
    return this.tenantOf(target) === tenant;
  }
}
