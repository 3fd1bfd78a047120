/**
 * RaftGroup applies entries that become committed while its own fsync is in flight (the
 * followers' acknowledgements of the previous batch) without waiting for that fsync, and only
 * entries that were already durable here. Logs whose save() the test holds open stand in for a
 * slow disk; time is driven by hand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RaftGroup } from '../../src/node/raft_group.js';
import type { DurableLog, LogUpdate, PersistedLog } from '../../src/storage/durable_log.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import type { Entry, SnapshotMetadata } from '../../src/raft/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { tickUntil, turn } from './support.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A MemoryLog whose saves can be held (a slow fsync) and released. */
class GatedLog implements DurableLog {
  readonly groupId = 'g0';
  private readonly inner = new MemoryLog('g0');
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  pending = 0;

  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.open?.();
    this.gate = null;
  }

  load(): Promise<PersistedLog> {
    return this.inner.load();
  }

  async save(update: LogUpdate): Promise<void> {
    this.pending++;
    if (this.gate) await this.gate;
    this.pending--;
    await this.inner.save(update);
  }

  compact(snapshot: SnapshotMetadata): Promise<void> {
    return this.inner.compact(snapshot);
  }

  readEntry(index: number): Entry {
    return this.inner.readEntry(index);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Member {
  id: string;
  log: GatedLog;
  group: RaftGroup;
  applied: string[];
}

let members: Member[] = [];
afterEach(async () => {
  for (const m of members) m.log.release();
  for (const m of members) await m.group.stop();
  members = [];
});

const tickAll = (done: () => boolean): Promise<number> => tickUntil(() => members.map((m) => m.group), done);

const settleTurns = async (n = 20): Promise<void> => {
  for (let i = 0; i < n; i++) await turn();
};

describe('applying while an fsync is in flight', () => {
  it('applies an entry committed during the leader’s next fsync before that fsync completes', async () => {
    const network = new LocalNetwork();
    const ids = ['n1', 'n2', 'n3'];
    for (const id of ids) {
      const m: Member = { id, log: new GatedLog(), group: null as unknown as RaftGroup, applied: [] };
      m.group = await RaftGroup.open({
        groupId: 'g0',
        nodeId: id,
        log: m.log,
        stateMachine: {
          apply: (_i, payload) => {
            m.applied.push(dec.decode(payload));
            return null;
          },
          applyMemberChange: () => {},
        },
        transport: network.transportFor(id),
        bootstrapVoters: ids,
        random: new SeededRandom(id.charCodeAt(1) * 101),
      });
      network.register(id, m.group);
      members.push(m);
    }
    await tickAll(() => members.some((m) => m.group.isLeader()));
    const leader = members.find((m) => m.group.isLeader())!;
    const followers = members.filter((m) => m !== leader);
    await tickAll(() => leader.group.applied === leader.group.raw.basicStatus().hardState.commit && followers.every((f) => f.group.applied === leader.group.applied));

    // p1 is durable on the leader, but the followers' disks are slow: not committed yet.
    for (const f of followers) f.log.hold();
    const p1 = leader.group.propose(enc.encode('p1'));
    await settleTurns();
    expect(followers.every((f) => f.log.pending === 1)).toBe(true);
    expect(leader.applied).not.toContain('p1');

    // p2's fsync on the leader is held; meanwhile the followers' acks for p1 arrive.
    leader.log.hold();
    const p2 = leader.group.propose(enc.encode('p2'));
    await settleTurns();
    expect(leader.log.pending).toBe(1);
    for (const f of followers) f.log.release();
    await settleTurns(40);
    expect(leader.log.pending, 'the leader’s fsync of p2 is still in flight').toBe(1);
    expect(leader.applied, 'p1 applied without waiting for it').toContain('p1');
    expect(leader.applied).not.toContain('p2');
    await expect(p1).resolves.toBeNull();

    leader.log.release();
    await tickAll(() => leader.applied.includes('p2'));
    await expect(p2).resolves.toBeNull();
    expect(leader.applied.filter((v) => v === 'p1' || v === 'p2')).toEqual(['p1', 'p2']);
  });
});
