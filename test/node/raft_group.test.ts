/**
 * RaftGroup: the Ready loop that hosts the core, over MemoryLog and an in-process network.
 * Time is driven by explicit tick() calls, never by wall-clock timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RaftGroup, decodeProposal, encodeProposal } from '../../src/node/raft_group.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import { SeededRandom } from '../../src/util/random.js';
import { settle as settleWhileTicking, tickUntil } from './support.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Member {
  id: string;
  log: MemoryLog;
  group: RaftGroup;
  applied: string[];
}

class TestCluster {
  readonly network = new LocalNetwork();
  readonly members = new Map<string, Member>();

  static async start(ids: string[]): Promise<TestCluster> {
    const c = new TestCluster();
    for (const id of ids) await c.open(id, new MemoryLog('g0'), ids);
    return c;
  }

  async open(id: string, log: MemoryLog, voters: string[]): Promise<Member> {
    const applied: string[] = [];
    const group = await RaftGroup.open({
      groupId: 'g0',
      nodeId: id,
      log,
      stateMachine: {
        apply: (index, payload) => {
          applied.push(dec.decode(payload));
          return index;
        },
        applyMemberChange: () => {},
      },
      transport: this.network.transportFor(id),
      bootstrapVoters: voters,
      random: new SeededRandom(id.charCodeAt(1) * 7919),
    });
    this.network.register(id, group);
    const m = { id, log, group, applied };
    this.members.set(id, m);
    return m;
  }

  groups(): RaftGroup[] {
    return [...this.members.values()].map((m) => m.group);
  }

  /** Ticks every member and lets the loops and network run, until `done` or the tick budget ends. */
  tickUntil(done: () => boolean, maxTicks = 500): Promise<number> {
    return tickUntil(() => this.groups(), done, maxTicks);
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.group.isLeader() && !this.isolated.has(m.id));
  }

  readonly isolated = new Set<string>();

  isolate(id: string): void {
    this.isolated.add(id);
    this.network.isolate(id);
  }

  async stop(): Promise<void> {
    for (const g of this.groups()) await g.stop();
  }
}

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

/** Awaits `p` while ticking the cluster, so that Raft makes progress. */
function settle<T>(c: TestCluster, p: Promise<T>): Promise<T> {
  return settleWhileTicking(() => c.groups(), p);
}

describe('proposal envelope', () => {
  it('round-trips request id and payload', () => {
    const data = encodeProposal('n1.abc.7', enc.encode('SET k v'));
    const { requestId, payload } = decodeProposal(data);
    expect(requestId).toBe('n1.abc.7');
    expect(dec.decode(payload)).toBe('SET k v');
  });

  it('rejects a malformed envelope', () => {
    expect(() => decodeProposal(new Uint8Array([9, 1, 65]))).toThrow(/malformed/);
    expect(() => decodeProposal(new Uint8Array([1, 10, 65]))).toThrow(/malformed/);
  });
});

describe('RaftGroup', () => {
  it('elects a leader and commits proposals made on the leader and on a follower', async () => {
    cluster = await TestCluster.start(['n1', 'n2', 'n3']);
    const c = cluster;
    await c.tickUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    const follower = [...c.members.values()].find((m) => m !== leader)!;
    const [a, b] = await Promise.all([
      settle(c, leader.group.propose(enc.encode('a'))),
      settle(c, follower.group.propose(enc.encode('b'))),
    ]);
    expect(typeof a).toBe('number');
    expect(typeof b).toBe('number');
    await c.tickUntil(() => [...c.members.values()].every((m) => m.applied.length === 2));
    for (const m of c.members.values()) expect([...m.applied].sort()).toEqual(['a', 'b']);
  });

  it('batches proposals made in one turn into one append (one fsync on the leader)', async () => {
    cluster = await TestCluster.start(['n1', 'n2', 'n3']);
    const c = cluster;
    await c.tickUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    await settle(c, leader.group.propose(enc.encode('warm-up')));
    const fsyncsBefore = leader.group.stats.fsyncs;
    const entriesBefore = leader.group.stats.entriesPersisted;
    const all = Promise.all(Array.from({ length: 100 }, (_, i) => leader.group.propose(enc.encode(`v${i}`))));
    await settle(c, all);
    expect(leader.group.stats.entriesPersisted - entriesBefore).toBe(100);
    expect(leader.group.stats.fsyncs - fsyncsBefore).toBeLessThanOrEqual(2);
  });

  it('runs beforeNextFlush hooks when the turn is proposed, and at stop, where their proposals fail', async () => {
    cluster = await TestCluster.start(['n1', 'n2', 'n3']);
    const c = cluster;
    await c.tickUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    await settle(c, leader.group.propose(enc.encode('warm-up')));
    // A hook's proposal joins the turn's, after those made directly in it.
    let hooked: Promise<unknown> | null = null;
    leader.group.beforeNextFlush(() => (hooked = leader.group.propose(enc.encode('from-hook'))));
    const direct = leader.group.propose(enc.encode('direct'));
    await settle(c, direct);
    await settle(c, hooked!);
    expect(leader.applied.slice(-2)).toEqual(['direct', 'from-hook']);
    // A hook still waiting when the group stops runs then; its proposal fails instead of hanging.
    let late: Promise<unknown> | null = null;
    leader.group.beforeNextFlush(() => (late = leader.group.propose(enc.encode('too-late'))));
    await leader.group.stop();
    await expect(late!).rejects.toThrow(/shutting down/);
  });

  it('serves a read barrier only after the read index is applied', async () => {
    cluster = await TestCluster.start(['n1', 'n2', 'n3']);
    const c = cluster;
    await c.tickUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    await settle(c, leader.group.propose(enc.encode('x')));
    for (const m of c.members.values()) {
      await settle(c, m.group.readBarrier());
      // Linearizable: a read that starts after 'x' was acknowledged observes it, on any node.
      expect(m.applied).toContain('x');
    }
  });

  it('fails pending proposals as outcome-unknown when the leader is lost, and a new leader takes over', async () => {
    cluster = await TestCluster.start(['n1', 'n2', 'n3']);
    const c = cluster;
    await c.tickUntil(() => c.leader() !== undefined);
    const old = c.leader()!;
    await settle(c, old.group.propose(enc.encode('before')));
    c.isolate(old.id);
    const pending = old.group.propose(enc.encode('lost-or-not'));
    pending.catch(() => {});
    await c.tickUntil(() => c.leader() !== undefined && c.leader() !== old);
    // CheckQuorum makes the isolated leader step down; its proposal's fate is unknown to it.
    await c.tickUntil(() => !old.group.isLeader());
    await expect(pending).rejects.toMatchObject({ outcome: 'unknown' });
    const fresh = c.leader()!;
    expect(await settle(c, fresh.group.propose(enc.encode('after')))).toBeGreaterThan(0);
  });

  it('replays its log after a crash before serving, and keeps every acknowledged write', async () => {
    cluster = await TestCluster.start(['n1', 'n2', 'n3']);
    const c = cluster;
    await c.tickUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    const acked = ['p1', 'p2', 'p3'];
    for (const v of acked) await settle(c, leader.group.propose(enc.encode(v)));
    // Crash every node: only what each log made durable survives.
    const crashed = [...c.members.values()].map((m) => ({ id: m.id, log: m.log.crash() }));
    await c.stop();
    c.members.clear();
    for (const { id, log } of crashed) await c.open(id, log, ['n1', 'n2', 'n3']);
    await c.tickUntil(() => c.leader() !== undefined);
    const next = c.leader()!;
    await settle(c, next.group.readBarrier());
    for (const v of acked) expect(next.applied).toContain(v);
  });
});
