/**
 * A ban's announced_to lists the neighbors the speaker really wrote the
 * UPDATE to on an Established session: a neighbor that is down only has the
 * route queued and is not listed; it appears when its session comes up and
 * the UPDATE is written, and disappears when the session drops. (Against the
 * real speaker and BIRD: test/e2e/announced-to.bird.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.ts';
import { FakeSpeaker, mitigator } from './fake-speaker.ts';
import { makeBan } from '../store/fixtures.ts';

const cfg = validateConfig({
  networks: ['198.51.100.0/24'],
  bgp: { local_asn: 65000, next_hop: '192.0.2.1', neighbors: [{ address: '127.0.0.2', remote_asn: 65001 }, { address: '127.0.0.3', remote_asn: 65002 }] },
});

function ban(target: string) {
  return makeBan(target);
}

test('announced_to: only Established neighbors that were written the UPDATE; up adds, down removes, withdrawal removes', () => {
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3', established: false }]);
  const seen: Array<[string, string[]]> = [];
  const m = mitigator({ port: sp, config: cfg, dryRun: false, onAnnounced: (b, n) => seen.push([b, n]) });
  const b = ban('198.51.100.7');
  m.upsert(b);
  assert.equal(sp.rib('127.0.0.3').size, 1, 'handed to the speaker for the down neighbor (queued)');
  assert.deepEqual(m.announcedNeighbors(b.id), ['127.0.0.2'], 'the Idle neighbor is not listed');
  assert.deepEqual(seen.at(-1), [b.id, ['127.0.0.2']]);

  sp.setEstablished('127.0.0.3', true);
  assert.deepEqual(m.announcedNeighbors(b.id), ['127.0.0.2', '127.0.0.3'], 'listed once its UPDATE was written');
  assert.deepEqual(seen.at(-1), [b.id, ['127.0.0.2', '127.0.0.3']]);

  sp.setEstablished('127.0.0.2', false);
  assert.deepEqual(m.announcedNeighbors(b.id), ['127.0.0.3'], 'a dropped session holds nothing');
  assert.deepEqual(seen.at(-1), [b.id, ['127.0.0.3']]);

  sp.setEstablished('127.0.0.2', true);
  assert.deepEqual(m.announcedNeighbors(b.id), ['127.0.0.2', '127.0.0.3']);

  m.remove(b.id);
  assert.deepEqual(m.announcedNeighbors(b.id), []);
  assert.equal(sp.sent.size, 0, 'withdrawn everywhere');
});

test('announced_to: a neighbor that never comes up is never listed, whatever else happens', () => {
  const sp = new FakeSpeaker([{ id: '127.0.0.2' }, { id: '127.0.0.3', established: false }]);
  const m = mitigator({ port: sp, config: cfg, dryRun: false });
  const bans = ['198.51.100.7', '198.51.100.8', '198.51.100.9'].map(ban);
  for (const b of bans) m.upsert(b);
  m.remove(bans[1].id);
  m.applyAll();
  sp.setEstablished('127.0.0.2', false);
  sp.setEstablished('127.0.0.2', true);
  for (const b of [bans[0], bans[2]]) assert.deepEqual(m.announcedNeighbors(b.id), ['127.0.0.2']);
});
