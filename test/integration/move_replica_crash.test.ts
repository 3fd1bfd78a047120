/**
 * kill -9 at every step of a move-replica, through real processes: g1's replica moves from n2 to
 * a new node n4 (`admin move-replica` sent to n3, run by g1's leader n1) while writers write
 * through n1, n2 and n3, and one node kills itself at a failpoint: the node running the move
 * (after the learner is added, after its promotion, before and after the removal), the target
 * (receiving the snapshot, after publishing it, before its replica opens), or the source (removed,
 * before its files are deleted). The killed node is restarted; the one admin command completes
 * the move whichever node died (a move cut short resumes when asked again, and the node it was
 * sent to asks again, the next leader, after its call to the dying one dropped). Afterwards g1 has
 * exactly n1, n3 and n4 as voters, every acknowledged write is read back through every node, n2
 * holds no file of g1 and does not open it again after a restart, and n4 serves g1.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FailpointName } from '../../src/node/failpoints.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { TestCluster, admin, adminGroups, hostedGroups, startWriters, until, type NodeProcess } from './cluster_harness.js';

/** Which node of the move the failpoint is armed on. */
type Role = 'runner' | 'target' | 'source';

/**
 * A case whose check fails for a known server bug, named here and skipped until it is fixed.
 * move-after-remove: the node running the move dies right after applying the source's removal; if
 * the source had not learned that the removal committed, no one tells it any more (the new leader
 * no longer sends to a non-member, and voters in lease ignore its PreVotes, so it never gets the
 * rejection that carries the commit index): its replica of g1 lives on as a member without a
 * leader, and its node sends g1's commands there, where they time out.
 */
const cases: readonly (readonly [FailpointName, Role])[] = [
  ['move-after-learner', 'runner'],
  ['move-after-promote', 'runner'],
  ['move-before-remove', 'runner'],
  ['move-after-remove', 'runner'],
  ['install-chunk', 'target'],
  ['install-after-publish', 'target'],
  ['join-before-open', 'target'],
  ['leave-before-delete', 'source'],
];

const inG1 = (k: string): boolean => keyHashSlot(Buffer.from(k)) <= 8191;

describe('kill -9 at every step of a move-replica', () => {
  for (const [point, role] of cases) {
    it(`the ${role} killed at ${point}: the move completes, no acknowledged write lost, n2 gone from g1 for good`, async () => {
      const armed = { QKV_FAILPOINTS: point };
      // A short log behind each snapshot: the target catches up by snapshot, as a move does.
      const c = await TestCluster.start({
        extraArgs: ['--groups', '2', '--snapshot-entries', '50', '--snapshot-catchup-entries', '0'],
        beforeSpawn: async (cl) => {
          if (role === 'runner') cl.nodes[0]!.env = armed;
          if (role === 'source') cl.nodes[1]!.env = armed;
        },
      });
      try {
        const [n1, n2, n3] = c.nodes as [NodeProcess, NodeProcess, NodeProcess];
        // n1 is g1's preferred leader: it runs the move.
        await until('n1 to lead g1', async () => (await adminGroups(n3)).find((g) => g.group === 'g1')?.leader === 'n1');
        const writers = startWriters(c, [n1, n2, n3], 'w');
        let finished;
        try {
          await until('writes before the move', async () => writers.acked.size >= 150, 60_000);
          const n4 = await c.startJoiner('n4', role === 'target' ? armed : undefined);
          const move = (): ReturnType<typeof admin> => admin(n3, 'move-replica', '--group', 'g1', '--from', 'n2', '--to', 'n4', '--grpc', `127.0.0.1:${n4.grpcPort}`);
          const moving = move();
          const victim = { runner: n1, target: n4, source: n2 }[role];
          const exit = await c.waitForExit(victim, 120_000);
          expect(exit.signal).toBe('SIGKILL');
          expect(victim.output.join('')).toContain(`failpoint ${point}`);
          victim.env = {};
          await c.restart(victim);
          // The death of the node running it cuts the move short; the node it was sent to asks the
          // next leader again, and the move resumes there: the one command completes it.
          finished = await moving;
          // Writes go on across the restart, until the node that was down serves them again.
          const settled = writers.acked.size;
          await until('writes after the move', async () => writers.acked.size >= settled + 50, 60_000);
        } finally {
          await writers.stop();
        }
        expect(finished.code, finished.stderr).toBe(0);
        expect(finished.stdout).toMatch(/moved g1's replica from n2 to n4/);

        const n4 = c.nodes[3]!;
        const g1 = (await adminGroups(n3)).find((g) => g.group === 'g1')!;
        expect([g1.voters, g1.learners]).toEqual([['n1', 'n3', 'n4'], []]);
        expect([...writers.acked.keys()].some(inG1)).toBe(true);
        // The source may not have seen its removal committed (a leader stops sending to a member
        // once it applies the member's removal): until it learns it from the others, its replica
        // of g1 has no leader, and reads through it wait for one. Read through it once it knows.
        await until('n2 to drop its replica of g1', async () => !(await hostedGroups(n2)).includes('g1'));
        const readBack = await Promise.all(
          c.nodes.map(async (n) => {
            const reader = c.client(n, { commandTimeout: 20_000 });
            const values = await Promise.all([...writers.acked.keys()].map((k) => reader.get(k))).catch((err: Error) => [`reading through ${n.id}: ${err.message}`]);
            return [n.id, values] as const;
          }),
        );
        for (const [id, values] of readBack) expect(values, `acknowledged writes read through ${id}`).toEqual([...writers.acked.values()]);

        // n2 left g1 for good: recorded, its files deleted, not opened again after a restart.
        await until('n2 to drop its replica of g1', async () => !(await hostedGroups(n2)).includes('g1'));
        const nodeJson = JSON.parse(readFileSync(join(n2.dataDir, 'node.json'), 'utf8')) as { leftGroups?: string[] };
        expect(nodeJson.leftGroups).toEqual(['g1']);
        await c.kill(n2);
        await c.restart(n2);
        expect(existsSync(join(n2.dataDir, 'snapshots', 'g1'))).toBe(false);
        expect(existsSync(join(n2.dataDir, 'groups', 'g1'))).toBe(false);
        expect(await hostedGroups(n2)).toEqual(['meta', 'g2']);

        // n4 serves g1: it hosts it, and a write through it lands there.
        expect(await hostedGroups(n4)).toEqual(['g1']);
        const g1Key = [...writers.acked.keys()].find(inG1)!;
        expect(await c.client(n4, { commandTimeout: 20_000 }).set(g1Key, 'after').catch((err: Error) => `SET through n4: ${err.message}`)).toBe('OK');
        expect(await c.client(n2, { commandTimeout: 20_000 }).get(g1Key).catch((err: Error) => `GET through n2: ${err.message}`)).toBe('after');
      } finally {
        await c.stop();
      }
    }, 240_000);
  }
});
