/** Bans: active (live, with TTL left, escalation step, neighbors announced to, the FlowSpec method and the neighbors whose lint refused its rule, an unban button for operators) and history. */
import { useState } from 'preact/hooks';
import { api, type ApiResult } from '../api.ts';
import { duration, time } from '../format.ts';
import { useLive } from '../live.ts';
import { lintRefusals, routeText, Table, useGet } from './common.tsx';

export function Bans(props: { canChange: boolean }) {
  const live = useLive();
  const [reloadKey, setReloadKey] = useState(0);
  const [result, setResult] = useState<ApiResult | undefined>();
  /** Bans this page lifted: gone at once, even while the stream still reports them active. */
  const [lifted, setLifted] = useState<ReadonlySet<string>>(new Set());
  const act = useGet('/api/v1/bans?active=true&limit=1000', 3000, reloadKey);
  const hist = useGet('/api/v1/bans?active=false&limit=100', 10000, reloadKey);
  const byId = new Map<string, any>();
  if (act?.ok) for (const b of act.body.bans) byId.set(b.id, b);
  // the stream is newer than the last poll: a ban it reports ended leaves at once
  for (const b of live.bans.values()) {
    if (b.active === false || b.ended !== undefined) byId.delete(b.id);
    else byId.set(b.id, { ...byId.get(b.id), ...b });
  }
  for (const id of lifted) byId.delete(id);
  const active = [...byId.values()].sort((a, b) => b.created - a.created);
  const unban = async (b: any) => {
    if (!confirm(`Unban ${b.target}? Its route is withdrawn now.`)) return;
    const r = await api('POST', '/api/v1/unban', { ip: b.target });
    setResult(r);
    if (r.ok) setLifted((s) => new Set([...s, b.id]));
    setReloadKey((k) => k + 1);
  };
  const head = ['target', 'action', 'source', 'reason', 'created', 'TTL left', 'step', 'announced to', 'route'];
  return (
    <div data-testid="view-bans">
      {result ? <p class={result.ok ? 'ok' : 'error'} data-testid="unban-result">{result.ok ? 'unbanned' : result.error}</p> : null}
      <h2>Active</h2>
      <Table
        testid="bans-active"
        rowTestid="ban-row"
        keys={active.map((b) => b.id)}
        head={props.canChange ? [...head, ''] : head}
        rows={active.map((b) => {
          const cells: any[] = [
            b.target,
            b.flowspec?.method ? `${b.action} (method ${b.flowspec.method})` : b.action,
            b.source,
            b.reason,
            time(b.created),
            duration(b.ttl_left_seconds ?? (b.expires - Date.now()) / 1000),
            b.escalation_step >= 0 ? b.escalation_step : '–',
            <span data-testid="ban-announced">{(b.announced_to ?? []).join(', ') || (b.mode === 'dry_run' ? 'none (dry-run)' : 'none')}</span>,
            <>
              <span class="route">{routeText(b.route)}</span>
              {lintRefusals(b.lint).map((x) => (
                <div class="bad" data-testid="ban-lint">
                  {x}
                </div>
              ))}
            </>,
          ];
          if (props.canChange) cells.push(<button class="danger" data-testid="unban" onClick={() => unban(b)}>Unban</button>);
          return cells;
        })}
        empty="no active ban"
      />
      <h2>History</h2>
      <Table
        testid="bans-history"
        head={['target', 'action', 'source', 'created', 'ended', 'why', 'by']}
        rows={(hist?.ok ? hist.body.bans : []).map((b: any) => [b.target, b.action, b.source, time(b.created), time(b.ended), b.end_reason ?? '', b.ended_by ?? ''])}
        empty="no ended ban"
      />
    </div>
  );
}
