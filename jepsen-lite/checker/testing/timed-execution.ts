/**
 * Histories valid by construction, for testing checkers: sequential clients issue operations with
 * random latencies; each operation that takes effect does so at one random instant, and running
 * the effects in that order against a plain model gives every result. Whatever the model, the
 * history is then consistent with it:
 *
 * ```
 *   p0  [──●──────]   [─────●─]
 *   p1     [────●───────]  [●──]          ● = the instant the operation takes effect
 *   p2  [─────────●───] info ●            an info one may take effect after its client gave up
 * ```
 *
 * - `ok`: at a uniform instant inside [invoke, complete];
 * - `info`: for an operation that changes state, with probability 1/2 at a uniform instant in
 *   [invoke, invoke + 3 × latency] (so possibly after the client gave up), otherwise never;
 * - `fail`, and `info` of an operation that only observes: never.
 */
import { SeededRandom } from '../../../src/util/random.js';
import type { Outcome } from '../../history.js';

export interface TimingOptions {
  readonly processes: number;
  readonly operations: number;
  /** Fraction of operations whose outcome is `info`. Default 0.05. */
  readonly infoFraction?: number;
  /** Fraction of operations that `fail`. Default 0.02. */
  readonly failFraction?: number;
  /** Latency: 1..maxLatency time units. Default 20. */
  readonly maxLatency?: number;
  /** Think time between one client's operations: 0..maxGap. Default 5. */
  readonly maxGap?: number;
}

export interface TimedOperation<Kind> {
  readonly process: number;
  readonly kind: Kind;
  readonly invokeTime: number;
  readonly completeTime: number;
  readonly outcome: Outcome;
  /** When it takes effect; undefined if it never does. */
  readonly effect: number | undefined;
}

/**
 * Plans the operations: `choose` picks each one's kind from the shared random source, and
 * `changesState` says whether an `info` one may still take effect.
 */
export function planTimedOperations<Kind>(
  random: SeededRandom,
  options: TimingOptions,
  choose: (random: SeededRandom, index: number) => Kind,
  changesState: (kind: Kind) => boolean,
): TimedOperation<Kind>[] {
  const uniform = (): number => random.nextUint32() / 0x1_0000_0000;
  const infoFraction = options.infoFraction ?? 0.05;
  const failFraction = options.failFraction ?? 0.02;
  const maxLatency = options.maxLatency ?? 20;
  const maxGap = options.maxGap ?? 5;

  const clocks = Array.from({ length: options.processes }, () => random.intBelow(maxGap + 1));
  const planned: TimedOperation<Kind>[] = [];
  for (let index = 0; index < options.operations; index++) {
    const process = random.intBelow(options.processes);
    const invokeTime = clocks[process]! + random.intBelow(maxGap + 1);
    const completeTime = invokeTime + 1 + random.intBelow(maxLatency);
    clocks[process] = completeTime;
    const roll = uniform();
    const outcome: Outcome = roll < failFraction ? 'fail' : roll < failFraction + infoFraction ? 'info' : 'ok';
    const kind = choose(random, index);
    const latency = completeTime - invokeTime;
    const effect =
      outcome === 'ok'
        ? invokeTime + uniform() * latency
        : outcome === 'info' && changesState(kind) && uniform() < 0.5
          ? invokeTime + uniform() * latency * 3
          : undefined;
    planned.push({ process, kind, invokeTime, completeTime, outcome, effect });
  }
  return planned;
}

/** A read by process 0 once everything has taken effect: the final read of a workload. */
export function finalOperation<Kind>(planned: readonly TimedOperation<Kind>[], kind: Kind): TimedOperation<Kind> {
  const settled = planned.reduce((latest, op) => Math.max(latest, op.completeTime, op.effect ?? 0), 0);
  return { process: 0, kind, invokeTime: Math.ceil(settled) + 1, completeTime: Math.ceil(settled) + 2, outcome: 'ok', effect: Math.ceil(settled) + 1 };
}

/** Calls `apply` on each operation that takes effect, in effect order, and collects what it returns. */
export function runInEffectOrder<Kind, Result>(
  planned: readonly TimedOperation<Kind>[],
  apply: (op: TimedOperation<Kind>) => Result,
): Map<TimedOperation<Kind>, Result> {
  const results = new Map<TimedOperation<Kind>, Result>();
  const order = planned.filter((op) => op.effect !== undefined).sort((a, b) => a.effect! - b.effect!);
  for (const op of order) results.set(op, apply(op));
  return results;
}
