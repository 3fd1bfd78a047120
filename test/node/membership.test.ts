/**
 * Membership (src/node/membership.ts) over real RaftGroups on an in-process network, ticked by
 * hand: concurrent changes are refused with a clear error (one server at a time, no joint
 * consensus), ids are never reused, and promote turns a learner into a voter. And forwardToLeader
 * (on a fake follower and clock): which failures of a call passed on to the leader it asks again.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminError } from '../../src/admin/admin_client.js';
import { Membership, MembershipError, forwardToLeader } from '../../src/node/membership.js';
import type { RaftGroup } from '../../src/node/raft_group.js';
import { membersOf, openLocalGroups, settle, tickUntil, turn } from './support.js';


let groups: RaftGroup[] = [];
afterEach(async () => {
  for (const g of groups) await g.stop();
  groups = [];
});

async function settled<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  return settle(
    () => groups,
    p.then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
  );
}

async function leaderMembership(): Promise<{ leader: RaftGroup; membership: Membership }> {
  groups.push(...(await openLocalGroups(['n1', 'n2', 'n3'], 31)));
  await tickUntil(() => groups, () => groups.some((g) => g.isLeader()));
  const leader = groups.find((g) => g.isLeader())!;
  // A new leader accepts changes once it has applied its own no-op.
  await tickUntil(() => groups, () => !leader.hasUnappliedConfChange() && leader.applied === leader.raw.basicStatus().hardState.commit && leader.applied >= 4);
  const membership = new Membership({
    group: leader,
    addressOf: () => '127.0.0.1:1',
    wasMember: (id) => membersOf.get(leader)!.wasMember(id),
    onLeader: () => Promise.reject(new Error('never called: this is the leader')),
    sleep: () => turn(),
    waitMs: 2_000,
  });
  return { leader, membership };
}

describe('membership changes', () => {
  it('refuses a second change while the first is in the log and not yet applied', async () => {
    const { leader, membership } = await leaderMembership();
    const first = membership.addNode('n4', '127.0.0.1:7004');
    const second = membership.addNode('n5', '127.0.0.1:7005');
    const [a, b] = await Promise.all([settled(first), settled(second)]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    const reason = (b as PromiseRejectedResult).reason as MembershipError;
    expect(reason).toBeInstanceOf(MembershipError);
    expect(reason.code).toBe('CHANGE_REFUSED');
    expect(reason.message).toMatch(/in progress/);
    expect(leader.confState().learners).toEqual(['n4']);
  });

  it('never reuses an id, and promotes a learner on request', async () => {
    const { leader, membership } = await leaderMembership();
    expect((await settled(membership.addNode('n4', '127.0.0.1:7004'))).status).toBe('fulfilled');
    const promoted = await settled(membership.promote('n4'));
    expect(promoted).toEqual({ status: 'fulfilled', value: 'promoted n4 to voter' });
    expect(leader.confState().voters).toContain('n4');
    expect((await settled(membership.removeNode('n4'))).status).toBe('fulfilled');
    const again = await settled(membership.addNode('n4', '127.0.0.1:7004'));
    expect(again.status).toBe('rejected');
    expect(((again as PromiseRejectedResult).reason as Error).message).toMatch(/never reused/);
    const notLearner = await settled(membership.promote('n9'));
    expect(((notLearner as PromiseRejectedResult).reason as MembershipError).code).toBe('NOT_A_LEARNER');
  });
});

describe('forwardToLeader', () => {
  /** A follower's view of its group (all forwardToLeader reads of it), led by n2. */
  const follower = { isLeader: () => false, leaderId: () => 'n2', confState: () => ({ voters: ['n1', 'n2', 'n3'], learners: [] }) } as unknown as RaftGroup;
  const dropped = (): AdminError => new AdminError('ADMIN_UNREACHABLE', 'cannot reach the admin API at n2: Connection dropped', grpc.status.UNAVAILABLE);

  /** A call that runs for `runMs` on a clock that only the call moves, then fails as `failures` says, then answers. */
  function longCall(runMs: number, failures: (() => Error)[]): { clock: () => number; call: () => Promise<string>; asked: () => number } {
    let now = 0;
    let asked = 0;
    return {
      clock: () => now,
      asked: () => asked,
      call: async () => {
        asked++;
        now += runMs;
        const failure = failures.shift();
        if (failure) throw failure();
        return 'done';
      },
    };
  }

  it('asks a resumable call again after it was cut short long after the first asking', async () => {
    const c = longCall(60_000, [dropped, () => new AdminError('ADMIN_FAILED', 'MoveReplica failed: [NO_LEADER] no leader', grpc.status.FAILED_PRECONDITION, { refusalCode: 'NO_LEADER' })]);
    const answer = await forwardToLeader(follower, c.call, { addressOf: () => '127.0.0.1:1', sleep: async () => {}, clock: c.clock, waitMs: 5_000, resumeUntil: 240_000 });
    expect([answer, c.asked()]).toEqual(['done', 3]);
  });

  it('does not ask a call again once its wait is over, unless it is resumable and within its limit', async () => {
    const opts = { addressOf: () => '127.0.0.1:1', sleep: async () => {}, waitMs: 5_000 };
    const once = longCall(60_000, [dropped]);
    await expect(forwardToLeader(follower, once.call, { ...opts, clock: once.clock })).rejects.toThrow(/Connection dropped/);
    expect(once.asked()).toBe(1);
    const late = longCall(60_000, [dropped, dropped]);
    await expect(forwardToLeader(follower, late.call, { ...opts, clock: late.clock, resumeUntil: 100_000 })).rejects.toThrow(/Connection dropped/);
    expect(late.asked()).toBe(2);
  });

  it('never asks again a call the leader refused', async () => {
    const c = longCall(10, [() => new AdminError('ADMIN_FAILED', 'MoveReplica failed: [NOT_A_VOTER] n9 is not a voter', grpc.status.FAILED_PRECONDITION, { refusalCode: 'NOT_A_VOTER' })]);
    await expect(forwardToLeader(follower, c.call, { addressOf: () => '127.0.0.1:1', sleep: async () => {}, clock: c.clock, waitMs: 5_000, resumeUntil: 240_000 })).rejects.toThrow(/NOT_A_VOTER/);
    expect(c.asked()).toBe(1);
  });
});
