/**
 * The detection → ban path as the daemon wires it (daemon/engine-adapter.ts):
 * the engine emits attacks, the ban module decides, mitigation shows routes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeForAttack } from '../../src/mitigation/route.ts';
import { config, Harness } from '../engine/engine-helpers.ts';

test('bans: attack events drive the BanManager; attacks carry the would-be route; whitelist refuses', () => {
  const cfg = config({ thresholds: { pps: 1000 }, protected_whitelist: ['198.51.100.99/32'], detection: { attack_hysteresis_seconds: 1 } });
  const h = new Harness(cfg, { bans: true });
  h.run(2000, 100, 25, (i) => ({ dst: i % 2 ? '198.51.100.10' : '198.51.100.99', packets: 10, proto: 6, flags: 2 }));
  const kinds = h.events.filter((e) => e.event !== 'attack_update').map((e) => e.event);
  assert.equal(kinds.filter((k) => k === 'attack_start').length, 2);
  assert.equal(kinds[0], 'attack_start', 'the attack event comes before its ban event');
  const ban = h.events.find((e) => e.event === 'ban');
  assert.ok(ban && ban.event === 'ban');
  assert.equal(ban.ban.target.startsWith('198.51.100.10'), true);
  const refused = h.events.find((e) => e.event === 'ban_refused');
  assert.ok(refused && refused.event === 'ban_refused' && refused.target.startsWith('198.51.100.99'));
  const start = h.starts().find((a) => a.target === '198.51.100.10')!;
  assert.equal(start.route?.type, 'blackhole');
  assert.equal(routeForAttack(h.engine.attacks().find((a) => a.target === '198.51.100.10')!, cfg, h.bans!).type, 'blackhole');
  assert.equal(h.bans!.active().length, 1);
});

