/**
 * Fault schedules for the simulation: each action names what happens next (a tick, a delivery,
 * a drop, a crash, a partition...). Node and message choices are small integers taken modulo the
 * current count, so any list of actions is valid and fast-check can shrink it freely.
 */
import fc from 'fast-check';
import type { SimCluster } from './cluster.js';

export type Action =
  | { readonly kind: 'tick'; readonly node: number }
  | { readonly kind: 'tickAll' }
  | { readonly kind: 'ready1'; readonly node: number }
  | { readonly kind: 'ready2'; readonly node: number }
  | { readonly kind: 'process'; readonly node: number }
  | { readonly kind: 'deliver'; readonly msg: number }
  | { readonly kind: 'deliverAll' }
  | { readonly kind: 'drop'; readonly msg: number }
  | { readonly kind: 'duplicate'; readonly msg: number }
  | { readonly kind: 'propose'; readonly node: number; readonly count: number }
  | { readonly kind: 'read'; readonly node: number }
  | { readonly kind: 'crash'; readonly node: number }
  | { readonly kind: 'restart'; readonly node: number }
  | { readonly kind: 'partition'; readonly mask: number }
  | { readonly kind: 'heal' }
  | { readonly kind: 'transfer'; readonly node: number; readonly to: number }
  | { readonly kind: 'addNode'; readonly node: number }
  | { readonly kind: 'promote'; readonly node: number; readonly target: number }
  | { readonly kind: 'remove'; readonly node: number; readonly target: number }
  | { readonly kind: 'compact'; readonly node: number }
  | { readonly kind: 'crashPending'; readonly node: number }
  | { readonly kind: 'crashLeader' }
  | { readonly kind: 'isolateLeader'; readonly mask: number }
  | { readonly kind: 'campaign'; readonly node: number }
  | { readonly kind: 'exchangeUnpersisted' }
  | { readonly kind: 'quiesce'; readonly node: number; readonly mask: number }
  | { readonly kind: 'wake'; readonly node: number; readonly leaderLost: boolean };

const node = fc.nat({ max: 7 });
const msg = fc.nat({ max: 63 });

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('tickAll' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), node }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ready1' as const), node }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ready2' as const), node }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('process' as const), node }) },
  { weight: 14, arbitrary: fc.record({ kind: fc.constant('deliver' as const), msg }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('deliverAll' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), msg }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), msg }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('propose' as const), node, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), node }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('restart' as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('partition' as const), mask: fc.nat({ max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heal' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('transfer' as const), node, to: node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('addNode' as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('promote' as const), node, target: node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), node, target: node }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), node }) },
  // Targeted faults: the moments that matter most for safety are a crash between sending and
  // persisting, losing the leader, and a leader cut off with a minority.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('crashPending' as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crashLeader' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('isolateLeader' as const), mask: fc.nat({ max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('campaign' as const), node }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('exchangeUnpersisted' as const) }) },
  // Quiescence with node liveness that may be wrong: a leader told members are down that are
  // not (or the reverse), followers woken or told their leader is lost when it is not. Safety
  // must not depend on liveness being right; runs whose seed turns the host's quiescence on
  // (SimCluster.hostTick) also check that liveness comes back after healing.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('quiesce' as const), node, mask: fc.nat({ max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wake' as const), node, leaderLost: fc.boolean() }) },
);

export function scheduleArb(minLength: number, maxLength: number): fc.Arbitrary<Action[]> {
  return fc.array(actionArb, { minLength, maxLength, size: 'max' });
}

/** Runs one action, then the safety checks. */
export function runAction(c: SimCluster, a: Action): void {
  switch (a.kind) {
    case 'tick':
      c.tick(c.nodeAt(a.node));
      break;
    case 'tickAll':
      c.tickAll();
      break;
    case 'ready1':
      c.readyPhase1(c.nodeAt(a.node));
      break;
    case 'ready2':
      c.readyPhase2(c.nodeAt(a.node));
      break;
    case 'process':
      c.process(c.nodeAt(a.node));
      break;
    case 'deliver':
      c.deliver(a.msg);
      break;
    case 'deliverAll':
      c.deliverAll(3);
      break;
    case 'drop':
      c.drop(a.msg);
      break;
    case 'duplicate':
      c.duplicate(a.msg);
      break;
    case 'propose':
      for (let i = 0; i < a.count; i++) c.propose(c.nodeAt(a.node));
      break;
    case 'read':
      c.read(c.nodeAt(a.node));
      break;
    case 'crash':
      c.crash(c.nodeAt(a.node));
      break;
    case 'restart':
      c.restart(c.nodeAt(a.node));
      break;
    case 'partition': {
      const ids = c.ids();
      const group = ids.filter((_, i) => (a.mask >> i) & 1);
      if (group.length > 0 && group.length < ids.length) c.partition(group);
      break;
    }
    case 'heal':
      c.heal();
      break;
    case 'transfer':
      c.transferLeader(c.nodeAt(a.node), c.nodeAt(a.to));
      break;
    case 'addNode':
      c.addNode(c.nodeAt(a.node));
      break;
    case 'promote':
      c.promote(c.nodeAt(a.node), c.nodeAt(a.target));
      break;
    case 'remove':
      c.remove(c.nodeAt(a.node), c.nodeAt(a.target));
      break;
    case 'compact':
      c.compact(c.nodeAt(a.node));
      break;
    case 'crashPending': {
      const pending = c.upNodes().filter((n) => n.pending !== null);
      if (pending.length > 0) c.crash(pending[a.node % pending.length]);
      break;
    }
    case 'crashLeader': {
      const leader = c.leader();
      if (leader) c.crash(leader);
      break;
    }
    case 'isolateLeader': {
      // The leader plus a strict minority chosen by the mask: the rest can elect a new leader.
      const leader = c.leader();
      if (!leader) break;
      const others = c.ids().filter((id) => id !== leader.id);
      const minority = Math.floor((others.length + 1 - 1) / 2) - 1;
      const companions = others.filter((_, i) => (a.mask >> i) & 1).slice(0, Math.max(0, minority));
      c.partition([leader.id, ...companions]);
      break;
    }
    case 'campaign':
      c.campaign(c.nodeAt(a.node));
      break;
    case 'exchangeUnpersisted':
      c.exchangeUnpersisted(3);
      break;
    case 'quiesce': {
      const ids = c.ids();
      c.quiesce(c.nodeAt(a.node), (id) => ((a.mask >> ids.indexOf(id)) & 1) === 1);
      break;
    }
    case 'wake':
      c.wake(c.nodeAt(a.node), a.leaderLost);
      break;
  }
  c.checkInvariants();
}

export function describeAction(a: Action): string {
  const { kind, ...rest } = a;
  const args = Object.values(rest).join(',');
  return args ? `${kind}(${args})` : kind;
}
