/**
 * ReadOnlyQueue (src/raft/read_only.ts): batched ReadIndex rounds (Raft thesis §6.4). etcd-io/raft
 * tests its readOnly through raft_test.go; these check the queue alone: rounds, their indexes,
 * acknowledgements by a majority of voters, and release order.
 */
import { describe, expect, it } from 'vitest';
import { ReadOnlyQueue, type ReleasedRead } from '../../src/raft/read_only.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const voters3 = ['n1', 'n2', 'n3'];

function read(ctx: string, from = 'n1') {
  return { context: enc.encode(ctx), from };
}

/** Released reads as "ctx@index" (with the asker when it is not the leader n1). */
function names(released: readonly ReleasedRead[]): string[] {
  return released.map((r) => `${dec.decode(r.request.context)}@${r.index}${r.request.from === 'n1' ? '' : `(${r.request.from})`}`);
}

describe('ReadOnlyQueue rounds', () => {
  it('reads join the open round until its heartbeats leave; then a new round opens', () => {
    const q = new ReadOnlyQueue();
    const round1 = q.add(read('a'), 5, 'n1');
    expect(round1).not.toBeNull();
    // Joins: no new heartbeats needed.
    expect(q.add(read('b', 'n2'), 5, 'n1')).toBeNull();
    q.closeOpenRound();
    const round2 = q.add(read('c'), 6, 'n1');
    expect(round2).not.toBeNull();
    expect(round2).not.toEqual(round1);
    expect(q.pendingCount()).toBe(3);
    expect(q.lastRoundContext()).toEqual(round2);
  });

  it('a round takes the highest commit index seen while it was open, never a lower one', () => {
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    q.add(read('b'), 7, 'n1');
    q.add(read('c'), 6, 'n1');
    q.closeOpenRound();
    expect(names(q.recvAck('n2', ctx, voters3))).toEqual(['a@7', 'b@7', 'c@7']);
  });
});

describe('ReadOnlyQueue acknowledgements', () => {
  it('releases a round once a majority of voters (the leader included) acknowledged it', () => {
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    q.closeOpenRound();
    expect(q.recvAck('n2', ctx, voters3).map((r) => r.index)).toEqual([5]);
    // Released once: later acknowledgements of it do nothing.
    expect(q.recvAck('n3', ctx, voters3)).toEqual([]);
    expect(q.pendingCount()).toBe(0);
    expect(q.lastRoundContext()).toBeNull();
  });

  it('with an even number of voters needs more than half', () => {
    const voters4 = ['n1', 'n2', 'n3', 'n4'];
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    expect(q.recvAck('n2', ctx, voters4)).toEqual([]);
    expect(q.recvAck('n2', ctx, voters4)).toEqual([]); // the same voter twice is one
    expect(names(q.recvAck('n4', ctx, voters4))).toEqual(['a@5']);
  });

  it('counts only voters: learners and strangers do not confirm leadership', () => {
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    expect(q.recvAck('n4', ctx, voters3)).toEqual([]);
    expect(q.recvAck('n9', ctx, voters3)).toEqual([]);
    expect(names(q.recvAck('n3', ctx, voters3))).toEqual(['a@5']);
  });

  it('a leader outside the voters (it removed itself) does not count itself', () => {
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    const others = ['n2', 'n3', 'n4'];
    expect(q.recvAck('n2', ctx, others)).toEqual([]);
    expect(names(q.recvAck('n3', ctx, others))).toEqual(['a@5']);
  });

  it('a later round releases every earlier one, oldest first, each at its own index', () => {
    const q = new ReadOnlyQueue();
    const ctx1 = q.add(read('a'), 5, 'n1')!;
    q.add(read('b', 'n3'), 5, 'n1');
    q.closeOpenRound();
    q.add(read('c'), 6, 'n1');
    q.closeOpenRound();
    const ctx3 = q.add(read('d', 'n2'), 8, 'n1')!;
    q.closeOpenRound();
    const ctx4 = q.add(read('e'), 9, 'n1')!;
    expect(names(q.recvAck('n2', ctx3, voters3))).toEqual(['a@5', 'b@5(n3)', 'c@6', 'd@8(n2)']);
    // The older contexts are gone; the newest round is still waiting.
    expect(q.recvAck('n3', ctx1, voters3)).toEqual([]);
    expect(q.pendingCount()).toBe(1);
    expect(q.lastRoundContext()).toEqual(ctx4);
  });

  it('an earlier round does not release a later one', () => {
    const q = new ReadOnlyQueue();
    const ctx1 = q.add(read('a'), 5, 'n1')!;
    q.closeOpenRound();
    const ctx2 = q.add(read('b'), 6, 'n1')!;
    q.closeOpenRound();
    expect(names(q.recvAck('n2', ctx1, voters3))).toEqual(['a@5']);
    expect(q.pendingCount()).toBe(1);
    expect(names(q.recvAck('n2', ctx2, voters3))).toEqual(['b@6']);
  });

  it('releasing the open round closes it: the next read opens a new one', () => {
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    expect(names(q.recvAck('n2', ctx, voters3))).toEqual(['a@5']);
    expect(q.add(read('b'), 6, 'n1')).not.toBeNull();
  });

  it('ignores contexts that are not round ids (a host-level heartbeat context, garbage)', () => {
    const q = new ReadOnlyQueue();
    const ctx = q.add(read('a'), 5, 'n1')!;
    expect(q.recvAck('n2', enc.encode('hello'), voters3)).toEqual([]);
    expect(q.recvAck('n2', new Uint8Array(0), voters3)).toEqual([]);
    const tampered = ctx.slice();
    tampered[0] = 0;
    expect(q.recvAck('n2', tampered, voters3)).toEqual([]);
    expect(q.pendingCount()).toBe(1);
  });
});

describe('ReadOnlyQueue reset', () => {
  it('drops every read, and a context from before never releases a round after', () => {
    const q = new ReadOnlyQueue();
    const old = q.add(read('a'), 5, 'n1')!;
    q.reset();
    expect(q.pendingCount()).toBe(0);
    expect(q.lastRoundContext()).toBeNull();
    const fresh = q.add(read('b'), 9, 'n1')!;
    expect(fresh).not.toEqual(old);
    expect(q.recvAck('n2', old, voters3)).toEqual([]);
    expect(names(q.recvAck('n2', fresh, voters3))).toEqual(['b@9']);
  });

  it('releaseAll hands out everything in order', () => {
    const q = new ReadOnlyQueue();
    q.add(read('a'), 5, 'n1');
    q.closeOpenRound();
    q.add(read('b'), 6, 'n1');
    expect(names(q.releaseAll())).toEqual(['a@5', 'b@6']);
    expect(q.pendingCount()).toBe(0);
    expect(q.add(read('c'), 7, 'n1')).not.toBeNull();
  });
});
