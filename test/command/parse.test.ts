/**
 * The command language (src/command/parse.ts) with the real ExaBGP grammar
 * (bgp/command.ts): FastNetMon's and the RTBH guide's lines become bans and
 * unbans of their target; other text is refused with a reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../src/bgp/command.ts';
import { parseLine } from '../../src/command/parse.ts';

const p = (line: string) => parseLine(line, parseCommand);

test('ExaBGP unicast lines: announce is a ban of the prefix (with ttl when given), withdraw an unban', () => {
  assert.deepEqual(p('announce route 10.0.0.1/32 next-hop 192.0.2.1 community [65535:666]'), { ok: true, cmd: { op: 'ban', target: '10.0.0.1/32', syntax: 'exabgp' } });
  assert.deepEqual(p('announce route 198.51.100.7/32 next-hop self community [65535:666] ttl 90'), { ok: true, cmd: { op: 'ban', target: '198.51.100.7/32', ttlSeconds: 90, syntax: 'exabgp' } });
  assert.deepEqual(p('neighbor 127.0.0.2 announce route 2001:db8::1/128 next-hop self large-community [65001:666:0]'), { ok: true, cmd: { op: 'ban', target: '2001:db8::1/128', syntax: 'exabgp' } });
  assert.deepEqual(p('withdraw route 198.51.100.7/32 next-hop self'), { ok: true, cmd: { op: 'unban', target: '198.51.100.7/32', syntax: 'exabgp' } });
  assert.deepEqual(p('withdraw route 198.51.100.7/32'), { ok: true, cmd: { op: 'unban', target: '198.51.100.7/32', syntax: 'exabgp' } });
});

test('ExaBGP flow routes: the match destination is the target', () => {
  assert.deepEqual(p('announce flow route { match { destination 198.51.100.9/32; protocol udp; source-port =123; } then { discard; } }'), { ok: true, cmd: { op: 'ban', target: '198.51.100.9/32', syntax: 'exabgp' } });
  assert.deepEqual(p('withdraw flow route { match { destination 198.51.100.9/32; protocol udp; } then { discard; } }'), { ok: true, cmd: { op: 'unban', target: '198.51.100.9/32', syntax: 'exabgp' } });
  assert.equal(p('announce flow route { match { source 10.0.0.0/8; } then { discard; } }').ok, false);
  // The older one-line form, as FastNetMon's FlowSpec examples write it.
  assert.deepEqual(p('announce flow route source 4.0.0.0/24 destination 198.51.100.0/24 protocol [ udp ] source-port [ =53 ] rate-limit 1024'), { ok: true, cmd: { op: 'ban', target: '198.51.100.0/24', syntax: 'exabgp' } });
  assert.deepEqual(p('withdraw flow route destination [ 198.51.100.9/32 ] protocol [ udp ]'), { ok: true, cmd: { op: 'unban', target: '198.51.100.9/32', syntax: 'exabgp' } });
  assert.equal(p('announce flow route source 4.0.0.0/24 protocol [ udp ] rate-limit 1024').ok, false);
  assert.equal(p('announce flow route destination 198.51.100.9/24 discard').ok, false);
});

test('FastNetMon\'s exabgp lines: community without brackets, several communities, withdraw with next hop', () => {
  assert.deepEqual(p('announce route 198.51.100.123/32 next-hop 10.0.3.114 community 65001:666'), { ok: true, cmd: { op: 'ban', target: '198.51.100.123/32', syntax: 'exabgp' } });
  assert.deepEqual(p('announce route 198.51.100.123/32 next-hop 10.0.3.114 community [ 65535:666 65001:666 ]'), { ok: true, cmd: { op: 'ban', target: '198.51.100.123/32', syntax: 'exabgp' } });
  assert.deepEqual(p('withdraw route 198.51.100.123/32 next-hop 10.0.3.114'), { ok: true, cmd: { op: 'unban', target: '198.51.100.123/32', syntax: 'exabgp' } });
});

test('the guide\'s simple language: announce, withdraw, withdraw-all', () => {
  assert.deepEqual(p('announce 192.0.2.100/32'), { ok: true, cmd: { op: 'ban', target: '192.0.2.100/32', syntax: 'simple' } });
  assert.deepEqual(p('  announce 198.51.100.5 ttl 120  '), { ok: true, cmd: { op: 'ban', target: '198.51.100.5', ttlSeconds: 120, syntax: 'simple' } });
  assert.deepEqual(p('withdraw 192.0.2.100/32'), { ok: true, cmd: { op: 'unban', target: '192.0.2.100/32', syntax: 'simple' } });
  assert.deepEqual(p('withdraw-all'), { ok: true, cmd: { op: 'unban_all' } });
  assert.deepEqual(p('withdraw-all\r'), { ok: true, cmd: { op: 'unban_all' } });
});

test('blank lines and comments are skipped; anything else that is not a command is refused with a reason', () => {
  assert.deepEqual(p(''), { ok: 'skip' });
  assert.deepEqual(p('   '), { ok: 'skip' });
  assert.deepEqual(p('# announce 192.0.2.1'), { ok: 'skip' });
  for (const bad of [
    'announce example.com',
    'announce 192.0.2.300/32',
    'announce 198.51.100.7/24',
    'announce 198.51.100.7 ttl 0',
    'announce 198.51.100.7 ttl forever',
    'announce 198.51.100.7 ttl 99999999',
    'withdraw 198.51.100.7 now',
    'announce route 198.51.100.7/32',
    'announce route 198.51.100.7/32 next-hop 2001:db8::1',
    'show neighbor summary',
    'flush adj-rib out',
    'shutdown',
    'rm -rf /',
  ]) {
    const r = p(bad);
    assert.equal(r.ok, false, bad);
    assert.ok(r.ok === false && r.error.length > 0, bad);
  }
});
