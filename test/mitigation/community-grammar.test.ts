/**
 * One community grammar (core/community.ts) for the config and the
 * ExaBGP-style command line (bgp/command.ts): both accept and refuse exactly
 * the same inputs, and an accepted input means the same value in both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateConfig } from '../../src/config/load.ts';
import { parseCommand } from '../../src/bgp/command.ts';
import { compilePolicy } from '../../src/mitigation/policy.ts';

function viaConfig(key: 'community' | 'large', text: string): unknown {
  try {
    const cfg = validateConfig({ networks: ['198.51.100.0/24'], bgp: key === 'community' ? { community: text } : { large_communities: [text] } });
    const g = compilePolicy(cfg).global;
    return key === 'community' ? g.communities[0] : g.large_communities[0];
  } catch {
    return null;
  }
}

function viaCommand(key: 'community' | 'large', text: string): unknown {
  const r = parseCommand(`announce route 198.51.100.7/32 next-hop 192.0.2.1 ${key === 'community' ? 'community' : 'large-community'} [${text}]`);
  if (!r.ok || r.command.kind !== 'announce') return null;
  const a = r.command.route.attrs;
  return key === 'community' ? a.communities?.[0] ?? null : a.largeCommunities?.[0] ?? null;
}

const STANDARD = [
  '65535:666', '0:0', '65535:65535', '65536:1', '1:65536', '65000:1', 'blackhole', 'BLACKHOLE', 'no-export', 'no_export', 'NO_EXPORT',
  'no-advertise', 'no-export-subconfed', 'no-peer', 'graceful-shutdown', 'accept-own', 'llgr-stale', 'no-llgr', '4294967295', '4294967296',
  '123', '', ':', '65000:', ':1', '65000:1:2', 'blackhol', 'no export', '-1:1', '1.2:3', '0x10', '65000 :1', 'a:b',
];
const LARGE = ['65000:1:2', '0:0:0', '4294967295:4294967295:4294967295', '4294967296:0:0', '65000:1', '65000:1:2:3', 'a:b:c', '', '1::2'];

test('standard communities: config and command line accept and refuse the same inputs, with the same value', () => {
  for (const s of STANDARD) {
    const c = viaConfig('community', s);
    const l = viaCommand('community', s);
    assert.deepEqual(c, l, `"${s}": config ${c}, command ${l}`);
  }
  assert.equal(viaConfig('community', 'blackhole'), 0xffff029a);
  assert.equal(viaConfig('community', '65536:1'), null);
  assert.equal(viaConfig('community', 'no_export'), 0xffffff01);
});

test('large communities: config and command line accept and refuse the same inputs', () => {
  for (const s of LARGE) assert.deepEqual(viaConfig('large', s), viaCommand('large', s), `"${s}"`);
  assert.deepEqual(viaConfig('large', '65000:1:2'), [65000, 1, 2]);
});

test('property: any short string over the community alphabet is treated alike by config and command line', () => {
  const alphabet = fc.constantFrom(...'0123456789:-_abcklnopxBHE'.split(''));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 14 }).map((a) => a.join('')), (s) => {
      if (/[\[\]\s;{}]/.test(s) || s === '') return; // the command line's own token syntax
      assert.deepEqual(viaConfig('community', s), viaCommand('community', s), `"${s}"`);
      assert.deepEqual(viaConfig('large', s), viaCommand('large', s), `"${s}"`);
    }),
    { numRuns: 500 },
  );
});
