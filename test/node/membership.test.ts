/**
 * Membership (src/node/membership.ts) over real RaftGroups on an in-process network, ticked by
 * hand: concurrent changes are refused with a clear error (one server at a time, no joint
 * consensus), ids are never reused, and promote turns a learner into a voter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Membership, MembershipError } from '../../src/node/membership.js';
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
