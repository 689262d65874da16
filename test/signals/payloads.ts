/** Signal payloads in their senders' own formats, shared by the signal tests. */

/** FastNetMon's JSON notify document for a ban (the shape of its published examples). */
export function fastnetmonBan(ip: string, action = 'ban'): Record<string, unknown> {
  return {
    ip,
    action,
    alert_scope: 'host',
    attack_details: {
      attack_uuid: '041eb504-2b33-4ff7-a6b7-8235408d5062',
      attack_severity: 'middle',
      attack_type: 'unknown',
      initial_attack_power: 282473,
      peak_attack_power: 282473,
      attack_direction: 'incoming',
      attack_protocol: 'udp',
      attack_detection_source: 'automatic',
      total_incoming_traffic: 15253500,
      total_outgoing_traffic: 0,
      total_incoming_pps: 282472,
      total_outgoing_pps: 0,
      total_incoming_flows: 0,
      incoming_udp_pps: 282472,
    },
  };
}
