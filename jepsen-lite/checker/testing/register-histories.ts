/**
 * Register histories that are linearizable by construction, for testing the checker: every
 * operation takes effect at one random instant inside its [invoke, complete] window, the effects
 * run in that order against a plain register, and reads record what they saw. An `info` write
 * takes effect at a random instant after its invoke (possibly after the client gave up) or never;
 * a `fail` write never does; an `info` read records nothing.
 *
 * Also mutations that make such a history certainly invalid, for the negative properties.
 */
import { SeededRandom } from '../../../src/util/random.js';
import { Fn, HistoryBuilder, type History, type Json, type Outcome } from '../../history.js';

export interface GeneratedOp {
  readonly process: number;
  readonly key: string;
  readonly f: typeof Fn.read | typeof Fn.write;
  /** The written value (writes). */
  readonly args: Json;
  /** What the read saw (ok reads); 'OK' for writes. */
  result: Json;
  readonly outcome: Outcome;
  readonly invokeTime: number;
  readonly completeTime: number;
}

export interface RegisterHistoryOptions {
  readonly processes: number;
  readonly operations: number;
  readonly keys?: number;
  /** Fraction of operations that are reads. Default 0.5. */
  readonly readFraction?: number;
  /** Fraction of operations whose outcome is `info`. Default 0.05. */
  readonly infoFraction?: number;
  /** Fraction of operations that `fail`. Default 0.02. */
  readonly failFraction?: number;
  /** Latency of an operation: 1..maxLatency time units. Default 20. */
  readonly maxLatency?: number;
  /** Think time between a process's operations: 0..maxGap. Default 5. */
  readonly maxGap?: number;
}

export function generateRegisterOps(seed: number, options: RegisterHistoryOptions): GeneratedOp[] {
  const random = new SeededRandom(seed);
  const uniform = (): number => random.nextUint32() / 0x1_0000_0000;
  const keys = options.keys ?? 1;
  const readFraction = options.readFraction ?? 0.5;
  const infoFraction = options.infoFraction ?? 0.05;
  const failFraction = options.failFraction ?? 0.02;
  const maxLatency = options.maxLatency ?? 20;
  const maxGap = options.maxGap ?? 5;

  const clocks = Array.from({ length: options.processes }, () => random.intBelow(maxGap + 1));
  const ops: GeneratedOp[] = [];
  /** When each operation takes effect; undefined for one that never does. */
  const effects: (number | undefined)[] = [];
  let nextValue = 0;
  for (let i = 0; i < options.operations; i++) {
    const process = random.intBelow(options.processes);
    const invokeTime = clocks[process]! + random.intBelow(maxGap + 1);
    const completeTime = invokeTime + 1 + random.intBelow(maxLatency);
    clocks[process] = completeTime;
    const roll = uniform();
    const outcome: Outcome = roll < failFraction ? 'fail' : roll < failFraction + infoFraction ? 'info' : 'ok';
    const isRead = uniform() < readFraction;
    const key = `k${random.intBelow(keys)}`;
    ops.push({
      process,
      key,
      f: isRead ? Fn.read : Fn.write,
      args: isRead ? null : `v${nextValue++}`,
      result: isRead ? null : 'OK',
      outcome,
      invokeTime,
      completeTime,
    });
    const window = completeTime - invokeTime;
    if (outcome === 'ok') effects.push(invokeTime + uniform() * window);
    else if (outcome === 'info' && !isRead && uniform() < 0.5) effects.push(invokeTime + uniform() * window * 3);
    else effects.push(undefined);
  }

  const order = ops.map((_, i) => i).filter((i) => effects[i] !== undefined);
  order.sort((a, b) => effects[a]! - effects[b]!);
  const registers = new Map<string, Json>();
  for (const i of order) {
    const op = ops[i]!;
    if (op.f === Fn.write) registers.set(op.key, op.args);
    else op.result = registers.get(op.key) ?? null;
  }
  return ops;
}

export function toHistory(ops: readonly GeneratedOp[]): History {
  const builder = new HistoryBuilder('ms');
  for (const op of ops) {
    builder.op(op.process, op.f, op.key, op.args, op.result, [op.invokeTime, op.completeTime], op.outcome);
  }
  return builder.build();
}

export function generateRegisterHistory(seed: number, options: RegisterHistoryOptions): History {
  return toHistory(generateRegisterOps(seed, options));
}

/** Makes one ok read see a value nothing wrote; false when there is no ok read. */
export function mutateToPhantomRead(ops: GeneratedOp[], pick: number): boolean {
  const reads = ops.filter((op) => op.f === Fn.read && op.outcome === 'ok');
  if (reads.length === 0) return false;
  reads[pick % reads.length]!.result = 'never-written';
  return true;
}

/**
 * Makes one ok read see a value certainly overwritten before it began: the read sees `w1` although
 * an ok `w2` to the same key was invoked after `w1` completed and completed before the read was
 * invoked. With unique values no linearization allows that. False when no such triple exists.
 */
export function mutateToStaleRead(ops: GeneratedOp[], pick: number): boolean {
  const okWrites = ops.filter((op) => op.f === Fn.write && op.outcome === 'ok');
  const candidates: { read: GeneratedOp; stale: Json }[] = [];
  for (const read of ops) {
    if (read.f !== Fn.read || read.outcome !== 'ok') continue;
    const before = okWrites.filter((w) => w.key === read.key && w.completeTime < read.invokeTime);
    const overwritten = before.find((w1) => before.some((w2) => w2 !== w1 && w1.completeTime < w2.invokeTime));
    if (overwritten) candidates.push({ read, stale: overwritten.args });
  }
  if (candidates.length === 0) return false;
  const chosen = candidates[pick % candidates.length]!;
  chosen.read.result = chosen.stale;
  return true;
}
