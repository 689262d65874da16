/**
 * The config keys of the compatibility surface (PRODUCT.md, "Config keys"):
 * the names users' configs and scripts written for Kapkan / the seed product
 * documents depend on. Written in PRODUCT.md's brace notation and expanded.
 */
const SURFACE = [
  'dry_run',
  'listen.{netflow,sflow}',
  'sampling.default_rate',
  'networks',
  'protected_whitelist',
  'thresholds.{pps,mbps,flows_per_sec,tcp_pps,udp_pps,icmp_pps,tcp_syn_pps,frag_pps}',
  'thresholds_outgoing',
  'hostgroups[].{name,networks,thresholds,ban,calculation,mitigation,escalation}',
  'baseline',
  'mitigation',
  'escalation[].{after_seconds,action}',
  'flowspec.{action,rate_mbps}',
  'ban.{ttl_seconds,unban_hysteresis_seconds,max_active_bans,max_banned_fraction,max_bans_per_window,ban_window_seconds,fallback}',
  'bgp.{local_asn,router_id,next_hop,next_hop6,community,communities,large_communities,local_pref,graceful_restart.enabled,graceful_restart.restart_seconds,neighbors[].address,neighbors[].remote_asn,neighbors[].port}',
  'samples.{enabled,buffer_flows,flows_per_attack}',
  'carpet',
  'sampling.boundary[].{exporter,external_ifindexes}',
  'flow_sources',
  'notify.telegram.{token_env,chat_id}',
  'notify.slack.webhook_url',
  'notify.email.{smtp_host,from,to,username_env,password_env,require_tls}',
  'notify.webhook.url',
  'notify.exec.{command,timeout_seconds}',
  'api.{listen,dashboard,token_env,tokens[].name,tokens[].token_env,tokens[].role}',
  'storage',
];

/** "a.{b,c}" -> ["a.b", "a.c"] (one brace group, at the end). */
export function expandBraces(spec: string): string[] {
  const m = /^(.*)\{([^{}]+)\}$/.exec(spec);
  return m ? m[2].split(',').map((k) => m[1] + k.trim()) : [spec];
}

export const COMPAT_KEYS: readonly string[] = SURFACE.flatMap(expandBraces);

/**
 * Blocks PRODUCT.md leaves open (`baseline{...}`, `carpet{...}`, `storage{...}`,
 * `thresholds.{...,...}`, `neighbors[]{address, remote_asn, port, ...}`): any
 * key of ours below them is fair in a Kapkan-style config.
 */
export const OPEN_BLOCKS: readonly string[] = ['baseline', 'carpet', 'storage', 'thresholds', 'thresholds_outgoing', 'bgp.neighbors[]'];
