/**
 * RaftGroup with snapshots, over MemoryLog and an in-process network, ticked by hand: log
 * compaction behind a snapshot, a follower caught up by a snapshot instead of the log, restarts
 * from a snapshot with the log after it (and with a store that is ahead of the log, as a crash
 * between publishing a snapshot and compacting or resetting the log leaves it), and a log whose
 * snapshot went missing refused.
 *
 * The host's part (SnapshotManager in the node) is played by a small fake: each member's "store"
 * holds its newest snapshot (metadata and the applied payloads up to it); shipping one copies the
 * leader's store entry to the follower's before the follower's core sees the MsgSnap, as the real
 * InstallSnapshot path publishes before stepping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../src/raft/index.js';
import type { Message, SnapshotMetadata } from '../../src/raft/index.js';
import { RaftGroup } from '../../src/node/raft_group.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import { QuorumError } from '../../src/util/errors.js';
import { SeededRandom } from '../../src/util/random.js';
import { settle, tickUntil, turn } from './support.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Stored {
  readonly meta: SnapshotMetadata;
  readonly state: readonly string[];
}

interface Member {
  id: string;
  log: MemoryLog;
  group: RaftGroup;
  applied: string[];
  installs: number;
}

class SnapshotCluster {
  readonly network = new LocalNetwork();
  readonly members = new Map<string, Member>();
  readonly stores = new Map<string, Stored>();
  readonly isolated = new Set<string>();

  constructor(
    readonly voters: string[],
    /** RaftGroupOptions.residentLogBytes (undefined: the default). */
    readonly residentLogBytes?: number,
  ) {}

  async open(id: string, log: MemoryLog): Promise<Member> {
    const stored = this.stores.get(id);
    const member: Member = { id, log, group: null as unknown as RaftGroup, applied: stored ? [...stored.state] : [], installs: 0 };
    const send = this.network.transportFor(id);
    member.group = await RaftGroup.open({
      groupId: 'g0',
      nodeId: id,
      log,
      stateMachine: {
        apply: (index, payload) => {
          member.applied.push(dec.decode(payload));
          return index;
        },
        applyMemberChange: () => {},
      },
      transport: {
        send: (messages: readonly Message[]) => {
          send.send(messages.filter((m) => m.type !== MessageType.MsgSnap));
          for (const m of messages) if (m.type === MessageType.MsgSnap) this.ship(id, m);
        },
      },
      bootstrapVoters: this.voters,
      ...(this.residentLogBytes === undefined ? {} : { residentLogBytes: this.residentLogBytes }),
      ...(stored ? { initialSnapshot: stored.meta } : {}),
      snapshots: {
        install: async (meta) => {
          await turn();
          const s = this.stores.get(id);
          if (!s || s.meta.index !== meta.index) throw new Error(`no stored snapshot at ${meta.index} on ${id}`);
          return () => {
            member.applied = [...s.state];
            member.installs++;
          };
        },
      },
      random: new SeededRandom(id.charCodeAt(1) * 7919),
    });
    this.network.register(id, member.group);
    this.members.set(id, member);
    return member;
  }

  /** The leader's newest snapshot to `m.to`: into its store first, then its core hears of it. */
  private ship(from: string, m: Message): void {
    setImmediate(() => {
      const leader = this.members.get(from);
      const target = this.members.get(m.to);
      const stored = this.stores.get(from);
      if (!leader || !target || !stored || this.isolated.has(from) || this.isolated.has(m.to)) {
        leader?.group.reportSnapshot(m.to, true);
        return;
      }
      this.stores.set(m.to, stored);
      target.group.step({ ...m, snapshot: { metadata: stored.meta, data: new Uint8Array(0) } });
      leader.group.reportSnapshot(m.to, false);
    });
  }

  /** What the node's SnapshotManager does: capture at the applied index, publish, compact. */
  async takeSnapshot(member: Member, keepEntries: number, compact = true, keepBytes?: number): Promise<SnapshotMetadata> {
    const g = member.group;
    const meta: SnapshotMetadata = { index: g.applied, term: g.termOf(g.applied), confState: g.confState() };
    this.stores.set(member.id, { meta, state: [...member.applied] });
    if (compact) await this.settle(g.compactLog(meta, keepEntries, keepBytes));
    return meta;
  }

  isolate(id: string): void {
    this.isolated.add(id);
    this.network.isolate(id);
  }

  rejoin(id: string): void {
    this.isolated.delete(id);
    this.network.rejoin(id);
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.group.isLeader() && !this.isolated.has(m.id));
  }

  async tickUntil(done: () => boolean, maxTicks = 600): Promise<void> {
    await tickUntil(() => this.groups(), done, maxTicks);
  }

  groups(): RaftGroup[] {
    return [...this.members.values()].map((m) => m.group);
  }

  /** Awaits `p` while ticking, so that the groups make progress meanwhile. */
  settle<T>(p: Promise<T>): Promise<T> {
    return settle(() => this.groups(), p, 600);
  }

  async propose(values: string[]): Promise<void> {
    const leader = this.leader()!;
    await this.settle(Promise.all(values.map((v) => leader.group.propose(enc.encode(v)))));
  }

  /** Every member's durable log as a crash leaves it, then all stopped. */
  async crashAll(): Promise<Map<string, MemoryLog>> {
    const logs = new Map([...this.members.values()].map((m) => [m.id, m.log.crash()] as const));
    await this.stop();
    this.members.clear();
    return logs;
  }

  async stop(): Promise<void> {
    for (const m of this.members.values()) await m.group.stop();
  }
}

let cluster: SnapshotCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

async function started(residentLogBytes?: number): Promise<SnapshotCluster> {
  const c = new SnapshotCluster(['n1', 'n2', 'n3'], residentLogBytes);
  cluster = c;
  for (const id of c.voters) await c.open(id, new MemoryLog('g0'));
  await c.tickUntil(() => c.leader() !== undefined);
  return c;
}

const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('RaftGroup snapshots', () => {
  it('compacts the log behind a snapshot, keeping the catch-up entries, in memory and on disk', async () => {
    const c = await started();
    await c.propose(values('a', 40));
    const leader = c.leader()!;
    const meta = await c.takeSnapshot(leader, 10);
    expect(leader.group.snapshotMetadata().index).toBe(meta.index);
    expect(leader.group.firstIndex()).toBe(meta.index - 10 + 1);
    const persisted = await leader.log.load();
    expect(persisted.snapshot?.index).toBe(meta.index - 10);
    expect(persisted.entries[0]?.index).toBe(meta.index - 10 + 1);
    // Replication goes on after compaction.
    await c.propose(['after']);
    expect(leader.applied.at(-1)).toBe('after');
  });

  it('keeps fewer catch-up entries when they would hold more than the byte bound', async () => {
    const c = await started();
    await c.propose(Array.from({ length: 40 }, (_, i) => `${i}`.padEnd(100, 'x')));
    const leader = c.leader()!;
    const meta = await c.takeSnapshot(leader, 30, true, 1_000);
    const first = leader.group.firstIndex();
    expect(first).toBeGreaterThan(meta.index - 30 + 1);
    const kept = leader.group.raw.entries(first, meta.index + 1);
    expect(kept.reduce((n, e) => n + e.data.length, 0)).toBeLessThanOrEqual(1_000);
    expect(kept.length).toBeGreaterThanOrEqual(5);
  });

  it('catches up a follower the log no longer reaches with a snapshot, then with the log', async () => {
    const c = await started();
    await c.propose(values('a', 5));
    const lagging = [...c.members.values()].find((m) => m !== c.leader())!;
    c.isolate(lagging.id);
    await c.propose(values('b', 30));
    const leader = c.leader()!;
    await c.takeSnapshot(leader, 0);
    expect(leader.group.firstIndex()).toBeGreaterThan(lagging.group.applied + 1);
    await c.propose(values('c', 5));
    c.rejoin(lagging.id);
    await c.tickUntil(() => lagging.group.applied === leader.group.applied && lagging.applied.at(-1) === 'c4');
    expect(lagging.installs).toBe(1);
    expect(lagging.applied).toEqual(leader.applied);
    await c.propose(['d']);
    await c.tickUntil(() => lagging.applied.at(-1) === 'd');
  });

  it('catches up a follower from entries paged out of memory, read back from the log', async () => {
    const c = await started(0); // no applied payload stays in memory
    await c.propose(values('a', 5));
    const lagging = [...c.members.values()].find((m) => m !== c.leader())!;
    c.isolate(lagging.id);
    await c.propose(values('b', 30));
    const leader = c.leader()!;
    expect(leader.group.logMemory().residentPayloadBytes).toBe(0);
    const pageInsBefore = leader.group.logMemory().pageIns;
    c.rejoin(lagging.id);
    await c.tickUntil(() => lagging.group.applied === leader.group.applied && lagging.applied.at(-1) === 'b29');
    expect(lagging.installs).toBe(0);
    expect(lagging.applied).toEqual(leader.applied);
    expect(leader.group.logMemory().pageIns - pageInsBefore).toBeGreaterThanOrEqual(30);
    // And after a restart of everyone, with every payload on disk only.
    const expected = [...leader.applied];
    const logs = await c.crashAll();
    for (const [id, log] of logs) await c.open(id, log);
    await c.tickUntil(() => c.leader() !== undefined);
    await c.tickUntil(() => [...c.members.values()].every((m) => m.applied.length >= expected.length));
    for (const m of c.members.values()) expect(m.applied.slice(0, expected.length)).toEqual(expected);
  });

  it('restarts from its snapshot and the log after it: every acknowledged entry, once', async () => {
    const c = await started();
    await c.propose(values('a', 20));
    for (const m of c.members.values()) await c.takeSnapshot(m, 5);
    await c.propose(values('b', 7));
    const expected = [...c.leader()!.applied];
    const logs = await c.crashAll();
    for (const [id, log] of logs) await c.open(id, log);
    await c.tickUntil(() => c.leader() !== undefined);
    const leader = c.leader()!;
    await c.settle(leader.group.readBarrier());
    for (const m of c.members.values()) expect(m.applied.slice(0, expected.length)).toEqual(expected);
    await c.propose(['after']);
    await c.tickUntil(() => [...c.members.values()].every((m) => m.applied.at(-1) === 'after'));
  });

  it('restarts with a store ahead of its log (a crash after publishing, before compacting)', async () => {
    const c = await started();
    await c.propose(values('a', 12));
    const follower = [...c.members.values()].find((m) => m !== c.leader())!;
    await c.tickUntil(() => follower.group.applied === c.leader()!.group.applied);
    const meta = await c.takeSnapshot(follower, 0, false);
    const logs = await c.crashAll();
    expect((await logs.get(follower.id)!.load()).snapshot).toBeNull();
    for (const [id, log] of logs) await c.open(id, log);
    const reopened = c.members.get(follower.id)!;
    expect(reopened.group.applied).toBe(meta.index);
    await c.tickUntil(() => c.leader() !== undefined);
    await c.propose(['after']);
    await c.tickUntil(() => reopened.applied.at(-1) === 'after');
    expect(reopened.applied).toEqual(c.leader()!.applied);
  });

  it('restarts with a received snapshot newer than its whole log (a crash after the store got it)', async () => {
    const c = await started();
    const lagging = [...c.members.values()].find((m) => m !== c.leader())!;
    c.isolate(lagging.id);
    await c.propose(values('b', 25));
    const leader = c.leader()!;
    await c.takeSnapshot(leader, 0);
    // The follower's store got the leader's snapshot; its log never heard of it.
    c.stores.set(lagging.id, c.stores.get(leader.id)!);
    const log = lagging.log.crash();
    const before = await log.load();
    await lagging.group.stop();
    c.members.delete(lagging.id);
    c.rejoin(lagging.id);
    const reopened = await c.open(lagging.id, log);
    expect(reopened.group.applied).toBeGreaterThan(before.entries.at(-1)?.index ?? 0);
    const reset = await log.load();
    expect(reset.snapshot?.index).toBe(c.stores.get(leader.id)!.meta.index);
    expect(reset.entries).toHaveLength(0);
    await c.propose(['after']);
    await c.tickUntil(() => reopened.applied.at(-1) === 'after');
    expect(reopened.applied).toEqual(leader.applied);
  });

  it('refuses to start when the log starts after the newest snapshot it has', async () => {
    const c = await started();
    await c.propose(values('a', 10));
    const leader = c.leader()!;
    await c.takeSnapshot(leader, 0);
    const logs = await c.crashAll();
    c.stores.delete(leader.id);
    await expect(c.open(leader.id, logs.get(leader.id)!)).rejects.toThrow(QuorumError);
    await expect(c.open(leader.id, logs.get(leader.id)!)).rejects.toThrow(/starts after index \d+, but the newest snapshot is missing/);
  });
});
