/** Routes the interop tests send to real routers. */
import type { FlowspecRoute, NumericOp, UnicastRoute } from '../../src/bgp/types.ts';

const eq = (value: number, and = false): NumericOp => ({ and, lt: false, gt: false, eq: true, value });
const ge = (value: number, and = false): NumericOp => ({ and, lt: false, gt: true, eq: true, value });
const le = (value: number, and = false): NumericOp => ({ and, lt: true, gt: false, eq: true, value });

export const RTBH4: UnicastRoute = {
  family: 'ipv4_unicast',
  prefix: '203.0.113.7/32',
  attrs: { nextHop: '192.0.2.1', communities: [0xffff029a, 65001 * 65536 + 100], largeCommunities: [[65001, 666, 7]] },
};
export const RTBH6: UnicastRoute = {
  family: 'ipv6_unicast',
  prefix: '2001:db8:7::7/128',
  attrs: { nextHop6: '100::1', communities: [0xffff029a] },
};
export const FLOW4: FlowspecRoute = {
  family: 'ipv4_flowspec',
  rule: { destination: { prefix: '203.0.113.7/32' }, protocol: [eq(17)], sourcePort: [eq(53), eq(123)], packetLength: [ge(512), le(1500, true)] },
  attrs: { extCommunities: [{ type: 'traffic-rate', asn: 0, rate: 125000 }] },
};
export const FLOW6: FlowspecRoute = {
  family: 'ipv6_flowspec',
  rule: { destination: { prefix: '2001:db8:7::7/128' }, protocol: [eq(6)], destinationPort: [eq(80), eq(443)] },
  attrs: { extCommunities: [{ type: 'traffic-rate', asn: 0, rate: 0 }] },
};

