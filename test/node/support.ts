/**
 * Driving in-process RaftGroups by hand in tests: time advances only through tick(), and the
 * loops and the in-process network run in the event-loop turns between ticks.
 */
import type { RaftGroup } from '../../src/node/raft_group.js';

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
