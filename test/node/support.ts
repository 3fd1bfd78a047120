/**
 * Driving in-process RaftGroups by hand in tests: time advances only through tick(), and the
 * loops and the in-process network run in the event-loop turns between ticks.
 */
import { RaftGroup } from '../../src/node/raft_group.js';
import { GroupMembers } from '../../src/state/group_members.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import { SeededRandom } from '../../src/util/random.js';

/** One event-loop turn (setImmediate: the Ready loops and LocalNetwork deliver on it). */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Ticks every group and lets them run, until `done` (returns the ticks it took) or the budget ends. */
export async function tickUntil(groups: () => Iterable<RaftGroup>, done: () => boolean, maxTicks = 500): Promise<number> {
  for (let t = 0; t < maxTicks; t++) {
    if (done()) return t;
    for (const g of groups()) g.tick();
    for (let i = 0; i < 5; i++) await turn();
  }
  if (done()) return maxTicks;
  throw new Error(`condition not reached within ${maxTicks} ticks`);
}

/** Awaits `p` while ticking `groups`, so that Raft makes progress meanwhile. */
export async function settle<T>(groups: () => Iterable<RaftGroup>, p: Promise<T>, maxTicks?: number): Promise<T> {
  let done = false;
  const tracked = p.finally(() => {
    done = true;
  });
  tracked.catch(() => {});
  await tickUntil(groups, () => done, maxTicks);
  return tracked;
}

/** The members record each group of openLocalGroups keeps (its state machine keeps nothing else). */
export const membersOf = new WeakMap<RaftGroup, GroupMembers>();

/**
 * A group `g0` of `ids` in this process: MemoryLogs, a state machine that keeps only the members
 * (membersOf), one LocalNetwork; member i draws its election jitter from seed `seed + i`. The
 * caller stops them.
 */
export async function openLocalGroups(ids: readonly string[], seed: number): Promise<RaftGroup[]> {
  const network = new LocalNetwork();
  const groups: RaftGroup[] = [];
  for (const [i, id] of ids.entries()) {
    const members = new GroupMembers();
    const group = await RaftGroup.open({
      groupId: 'g0',
      nodeId: id,
      log: new MemoryLog('g0'),
      stateMachine: { apply: () => null, applyMemberChange: (change) => members.apply(change) },
      transport: network.transportFor(id),
      bootstrapVoters: [...ids],
      random: new SeededRandom(seed + i),
    });
    network.register(id, group);
    membersOf.set(group, members);
    groups.push(group);
  }
  return groups;
}
