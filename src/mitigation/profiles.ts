/**
 * FlowSpec capability profiles (`bgp.neighbors[].profile`): per router
 * platform, which components, operators and actions it takes and which rule
 * shapes are known to hurt it. lint.ts checks every rule against the profile
 * of the neighbor it goes to. One row per profile, data only; the sources
 * behind each row are cited in docs/flowspec.md. A row is deliberately
 * conservative: what a platform's documentation does not promise is refused
 * (an operator who knows better picks `generic`).
 */
import type { FlowspecRule } from '../bgp/index.ts';
import type { PROFILES } from '../config/schema.ts';

export type ProfileName = (typeof PROFILES)[number];
export type ComponentKey = keyof FlowspecRule;
export type ActionType = 'traffic-rate' | 'traffic-rate-packets' | 'traffic-action' | 'redirect' | 'redirect-ip' | 'traffic-marking';

export interface Profile {
  name: ProfileName;
  /** Match components the platform installs. */
  components: ReadonlySet<ComponentKey>;
  /** Actions (extended communities) the platform installs. */
  actions: ReadonlySet<ActionType>;
  /** Most components in one rule. */
  maxComponents: number;
  /** Most operator/value pairs in one component. */
  maxOpsPerComponent: number;
  /** Fragment bits it matches (RFC 8955 §4.2.2.12: DF 0x01, IsF 0x02, FF 0x04, LF 0x08). */
  fragmentBits: number;
  /** TCP flags wider than one byte (RFC 8955 allows two). */
  twoByteTcpFlags: boolean;
  /** Packet-length rules are refused: the 2013 packet-length rule exhausted Junos memory. */
  packetLengthDangerous: boolean;
  /** IPv6 FlowSpec (RFC 8956). */
  ipv6: boolean;
}

const ALL_COMPONENTS: ComponentKey[] = ['destination', 'source', 'protocol', 'port', 'destinationPort', 'sourcePort', 'icmpType', 'icmpCode', 'tcpFlags', 'packetLength', 'dscp', 'fragment', 'flowLabel'];
const RFC_COMPONENTS = ALL_COMPONENTS.filter((c) => c !== 'flowLabel');
const ALL_ACTIONS: ActionType[] = ['traffic-rate', 'traffic-rate-packets', 'traffic-action', 'redirect', 'redirect-ip', 'traffic-marking'];
const RFC5575_ACTIONS: ActionType[] = ['traffic-rate', 'traffic-action', 'redirect', 'traffic-marking'];

function row(p: Omit<Profile, 'components' | 'actions'> & { components: ComponentKey[]; actions: ActionType[] }): Profile {
  return Object.freeze({ ...p, components: new Set(p.components), actions: new Set(p.actions) });
}

/** The profile table. */
export const PROFILE_TABLE: Readonly<Record<ProfileName, Profile>> = Object.freeze({
  junos: row({ name: 'junos', components: RFC_COMPONENTS, actions: RFC5575_ACTIONS, maxComponents: 12, maxOpsPerComponent: 16, fragmentBits: 0x0f, twoByteTcpFlags: false, packetLengthDangerous: true, ipv6: true }),
  iosxr: row({ name: 'iosxr', components: RFC_COMPONENTS, actions: [...RFC5575_ACTIONS, 'redirect-ip'], maxComponents: 12, maxOpsPerComponent: 24, fragmentBits: 0x02, twoByteTcpFlags: false, packetLengthDangerous: false, ipv6: true }),
  eos: row({ name: 'eos', components: RFC_COMPONENTS, actions: ['traffic-rate', 'redirect', 'redirect-ip', 'traffic-marking'], maxComponents: 12, maxOpsPerComponent: 16, fragmentBits: 0x02, twoByteTcpFlags: false, packetLengthDangerous: false, ipv6: true }),
  sros: row({ name: 'sros', components: RFC_COMPONENTS, actions: RFC5575_ACTIONS, maxComponents: 12, maxOpsPerComponent: 16, fragmentBits: 0x0f, twoByteTcpFlags: false, packetLengthDangerous: false, ipv6: true }),
  frr: row({ name: 'frr', components: ALL_COMPONENTS, actions: ALL_ACTIONS, maxComponents: 13, maxOpsPerComponent: 64, fragmentBits: 0x0f, twoByteTcpFlags: true, packetLengthDangerous: false, ipv6: true }),
  bird: row({ name: 'bird', components: ALL_COMPONENTS, actions: ALL_ACTIONS, maxComponents: 13, maxOpsPerComponent: 64, fragmentBits: 0x0f, twoByteTcpFlags: true, packetLengthDangerous: false, ipv6: true }),
  generic: row({ name: 'generic', components: ALL_COMPONENTS, actions: ALL_ACTIONS, maxComponents: 13, maxOpsPerComponent: 64, fragmentBits: 0x0f, twoByteTcpFlags: true, packetLengthDangerous: false, ipv6: true }),
});

export function profileOf(name: string | undefined): Profile {
  return PROFILE_TABLE[(name ?? 'generic') as ProfileName] ?? PROFILE_TABLE.generic;
}

/** Component names as routers and RFC 8955 spell them. */
export const COMPONENT_NAMES: Readonly<Record<ComponentKey, string>> = {
  destination: 'destination prefix', source: 'source prefix', protocol: 'protocol', port: 'port', destinationPort: 'destination port', sourcePort: 'source port',
  icmpType: 'ICMP type', icmpCode: 'ICMP code', tcpFlags: 'TCP flags', packetLength: 'packet length', dscp: 'DSCP', fragment: 'fragment', flowLabel: 'flow label',
};
