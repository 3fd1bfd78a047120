/**
 * Online split, through real processes: four writers keep writing (SET with and without a TTL)
 * through every node while g1 and then g2 are split with `admin split`; afterwards every
 * acknowledged write is there with its TTL, every key is in exactly one group (the one serving
 * its slot: the groups' key counts add up to the keys written), and the new groups serve, lead
 * and survive a restart of every node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { TestCluster, admin } from './cluster_harness.js';

interface GroupRow {
  group: string;
  slots: [number, number][];
  leader: string;
  voters: string[];
  keys: number;
  epoch: number;
}

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--groups', '2'] });
}, 90_000);
afterAll(async () => {
  await cluster?.stop();
});

async function groups(): Promise<GroupRow[]> {
  const r = await admin(cluster.nodes[0]!, 'groups', '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as GroupRow[];
}

/** The last value each key was acknowledged with, and every value tried after it (their outcome unknown). */
interface KeyState {
  acked: string | null;
  ttl: boolean;
  unknown: string[];
}

describe('an online split', () => {
  it('keeps every acknowledged write while groups split under load, each key in exactly one group', async () => {
    const clients: Redis[] = cluster.nodes.map((n) => cluster.client(n, { commandTimeout: 20_000 }));
    const state = new Map<string, KeyState>();
    let stop = false;
    let acked = 0;
    const writer = async (w: number): Promise<void> => {
      for (let seq = 0; !stop; seq++) {
        const key = `w${w}:${seq % 150}`;
        const value = `${w}-${seq}`;
        const ttl = seq % 150 < 30;
        const s = state.get(key) ?? { acked: null, ttl, unknown: [] };
        state.set(key, s);
        s.unknown.push(value);
        const c = clients[(w + seq) % clients.length]!;
        try {
          const reply = ttl ? await c.set(key, value, 'EX', 3600) : await c.set(key, value);
          if (reply === 'OK') {
            s.acked = value;
            s.unknown = [];
            acked++;
          }
        } catch {
          // An error reply or a timeout: the write may or may not have happened.
        }
      }
    };
    const writers = [0, 1, 2, 3].map((w) => writer(w));
    try {
      while (acked < 300) await new Promise((r) => setTimeout(r, 50));
      const first = await admin(cluster.nodes[1]!, 'split', '--group', 'g1');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^split g1 at slot 4096: g3 serves 4096-8191/);
      const atFirst = acked;
      while (acked < atFirst + 300) await new Promise((r) => setTimeout(r, 50));
      const second = await admin(cluster.nodes[2]!, 'split', '--group', 'g2', '--at-slot', '12000');
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toMatch(/^split g2 at slot 12000: g4 serves 12000-16383/);
      const atSecond = acked;
      while (acked < atSecond + 300) await new Promise((r) => setTimeout(r, 50));
    } finally {
      stop = true;
      await Promise.all(writers);
    }

    // Every acknowledged write (or a later one whose outcome is unknown) is there, with its TTL.
    const reader = clients[0]!;
    for (const [key, s] of state) {
      const value = await reader.get(key);
      const allowed = [s.acked, ...s.unknown];
      expect(allowed, `${key} = ${value}`).toContain(value);
      if (value !== null && s.ttl) expect(await reader.pttl(key)).toBeGreaterThan(3_000_000);
    }

    // Each key in exactly one group: the one serving its slot.
    const deadline = Date.now() + 20_000;
    let rows = await groups();
    while (rows.length < 5 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      rows = await groups();
    }
    const data = rows.filter((g) => g.group !== 'meta');
    expect(data.map((g) => [g.group, g.slots])).toEqual([
      ['g1', [[0, 4095]]],
      ['g2', [[8192, 11999]]],
      ['g3', [[4096, 8191]]],
      ['g4', [[12000, 16383]]],
    ]);
    const present = [...state.keys()];
    const existing: string[] = [];
    for (const key of present) if ((await reader.exists(key)) === 1) existing.push(key);
    expect(data.reduce((n, g) => n + g.keys, 0)).toBe(existing.length);
    for (const g of data) {
      const inGroup = existing.filter((k) => {
        const slot = keyHashSlot(Buffer.from(k));
        return g.slots.some(([a, b]) => slot >= a && slot <= b);
      });
      expect(g.keys, g.group).toBe(inGroup.length);
      expect(g.leader).not.toBe('');
      expect(g.voters).toEqual(['n1', 'n2', 'n3']);
    }
    expect(await reader.dbsize()).toBe(existing.length);
  }, 180_000);

  it('brings back the split groups with their keys after every node is killed and restarted', async () => {
    const c = cluster.client(cluster.nodes[0]!);
    const keys = ['{a}1', '{b}2', '{c}3', '{d}4', '{e}5', '{f}6', '{g}7', '{h}8'];
    for (const k of keys) expect(await c.set(k, k)).toBe('OK');
    for (const n of cluster.nodes) await cluster.kill(n);
    for (const n of cluster.nodes) await cluster.restart(n);
    await cluster.waitForLeader();
    const fresh = cluster.client(cluster.nodes[2]!, { commandTimeout: 20_000 });
    for (const k of keys) {
      let value: string | null = null;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        value = await fresh.get(k).catch(() => null);
        if (value === k) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(value).toBe(k);
    }
    expect((await groups()).filter((g) => g.group !== 'meta').map((g) => g.group)).toEqual(['g1', 'g2', 'g3', 'g4']);
  }, 120_000);
});

describe('kill -9 at every step of a split', () => {
  for (const point of ['split-before-write', 'split-before-open', 'split-before-unmark']) {
    it(`a node killed at ${point} restarts with the new group and its keys`, async () => {
      const c = await TestCluster.start({ extraArgs: ['--groups', '2'] });
      try {
        const writer = c.client(c.nodes[0]!, { commandTimeout: 20_000 });
        const keys = Array.from({ length: 300 }, (_, i) => `key:${i}`);
        for (const k of keys) expect(await writer.set(k, k, 'EX', 3600)).toBe('OK');
        const victim = c.nodes[2]!;
        await c.kill(victim);
        victim.env = { QKV_FAILPOINTS: point };
        await c.restart(victim);
        const split = await admin(c.nodes[0]!, 'split', '--group', 'g1');
        expect(split.code, split.stderr).toBe(0);
        const exit = await c.waitForExit(victim);
        expect(exit.signal).toBe('SIGKILL');
        expect(victim.output.join('')).toContain(`failpoint ${point}`);
        victim.env = {};
        await c.restart(victim);
        // The victim's own replicas (admin groups reports this node's figures) come to hold what
        // the others hold, the new group included.
        const view = async (n: (typeof c.nodes)[number]): Promise<Record<string, number>> => {
          const r = await admin(n, 'groups', '--json');
          if (r.code !== 0) return {};
          return Object.fromEntries((JSON.parse(r.stdout) as { group: string; keys: number }[]).filter((g) => g.group !== 'meta').map((g) => [g.group, g.keys]));
        };
        const expected = await view(c.nodes[0]!);
        expect(Object.keys(expected).sort()).toEqual(['g1', 'g2', 'g3']);
        expect(expected.g1! + expected.g2! + expected.g3!).toBe(300);
        const deadline = Date.now() + 45_000;
        let got: Record<string, number> = {};
        while (Date.now() < deadline) {
          got = await view(victim);
          if (JSON.stringify(got) === JSON.stringify(expected)) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(got).toEqual(expected);
        const reader = c.client(victim, { commandTimeout: 20_000 });
        for (const k of keys.slice(0, 50)) expect(await reader.get(k)).toBe(k);
      } finally {
        await c.stop();
      }
    }, 150_000);
  }
});

describe('kill -9 of every node while a split-off group serves from memory', () => {
  it('brings back every write acknowledged by the new group before its first snapshot was durable', async () => {
    const c = await TestCluster.start({ extraArgs: ['--groups', '2'] });
    try {
      const setup = c.client(c.nodes[0]!, { commandTimeout: 20_000 });
      const before = Array.from({ length: 200 }, (_, i) => `before:${i}`);
      for (const k of before) expect(await setup.set(k, k)).toBe('OK');
      // Every node dies at the 60th entry its replica of the new group applies; until then the
      // group's first snapshot is never written (the failpoint holds it back), so all it has on
      // disk is its own log, and the split in g1's.
      for (const n of c.nodes) {
        await c.kill(n);
        n.env = { QKV_FAILPOINTS: 'split-child-pending@60' };
        await c.restart(n);
      }
      await c.waitForLeader();
      const split = await admin(c.nodes[0]!, 'split', '--group', 'g1');
      expect(split.code, split.stderr).toBe(0);
      expect(split.stdout).toMatch(/^split g1 at slot 4096: g3 serves 4096-8191/);

      // Writers of keys that moved to g3 (slots 4096-8191), through every node, until they die.
      const inChild = (k: string): boolean => {
        const slot = keyHashSlot(Buffer.from(k));
        return slot >= 4096 && slot <= 8191;
      };
      const childKeys = Array.from({ length: 4000 }, (_, i) => `child:${i}`).filter(inChild);
      const acked = new Map<string, string>();
      const clients = c.nodes.map((n) => c.client(n, { commandTimeout: 5_000 }));
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = w; !stop && i < childKeys.length; i += clients.length) {
          const key = childKeys[i]!;
          try {
            if ((await clients[w]!.set(key, `v${i}`)) === 'OK') acked.set(key, `v${i}`);
          } catch {
            // The node died under it, or the write timed out: its outcome is unknown.
          }
        }
      };
      const writers = clients.map((_, w) => writer(w));
      const deadline = Date.now() + 60_000;
      while (c.nodes.every((n) => n.child !== null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // The first node gone (the failpoint): the others are killed -9 at once.
      for (const n of c.nodes) await c.kill(n);
      stop = true;
      await Promise.all(writers);
      const hit = c.nodes.filter((n) => n.output.join('').includes('failpoint split-child-pending'));
      expect(hit.length, 'a node reached the failpoint').toBeGreaterThan(0);
      expect(acked.size).toBeGreaterThan(10);

      for (const n of c.nodes) n.env = {};
      for (const n of c.nodes) await c.restart(n);
      await c.waitForLeader();
      const reader = c.client(c.nodes[1]!, { commandTimeout: 20_000 });
      const get = async (k: string): Promise<string | null> => {
        const until = Date.now() + 30_000;
        for (;;) {
          try {
            return await reader.get(k);
          } catch (err) {
            if (Date.now() > until) throw err;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      };
      for (const [k, v] of acked) expect(await get(k), k).toBe(v);
      for (const k of before) expect(await get(k), k).toBe(k);
      // Every node made its replica of g3 again from g1's log (admin groups reports the node's own
      // replicas' key counts): they come to agree, with at least every acknowledged key.
      const g3Keys = async (n: (typeof c.nodes)[number]): Promise<number> => {
        const r = await admin(n, 'groups', '--json');
        if (r.code !== 0) return -1;
        return (JSON.parse(r.stdout) as { group: string; keys: number }[]).find((g) => g.group === 'g3')?.keys ?? -1;
      };
      let counts: number[] = [];
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        counts = await Promise.all(c.nodes.map(g3Keys));
        if (counts[0]! >= acked.size && counts.every((n) => n === counts[0])) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(counts.every((n) => n === counts[0]), counts.join(',')).toBe(true);
      expect(counts[0]).toBeGreaterThanOrEqual(acked.size);
    } finally {
      await c.stop();
    }
  }, 180_000);
});
