/**
 * Register histories that are linearizable by construction (see `timed-execution.ts`): the
 * effects run in order against a plain register per key, and reads record what they saw. Also
 * mutations that make such a history certainly invalid, for the negative properties.
 */
import { SeededRandom } from '../../../src/util/random.js';
import { Fn, HistoryBuilder, type History, type Json, type Outcome } from '../../history.js';
import { planTimedOperations, runInEffectOrder, type TimingOptions } from './timed-execution.js';

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

export interface RegisterHistoryOptions extends TimingOptions {
  readonly keys?: number;
  /** Fraction of operations that are reads. Default 0.5. */
  readonly readFraction?: number;
}

export function generateRegisterOps(seed: number, options: RegisterHistoryOptions): GeneratedOp[] {
  const random = new SeededRandom(seed);
  const readFraction = options.readFraction ?? 0.5;
  const keys = options.keys ?? 1;
  const planned = planTimedOperations(
    random,
    options,
    (r, index) => ({
      key: `k${r.intBelow(keys)}`,
      write: r.nextUint32() / 0x1_0000_0000 >= readFraction ? `v${index}` : undefined,
    }),
    (kind) => kind.write !== undefined,
  );
  const registers = new Map<string, Json>();
  const seen = runInEffectOrder(planned, ({ kind }) => {
    if (kind.write === undefined) return registers.get(kind.key) ?? null;
    registers.set(kind.key, kind.write);
    return 'OK';
  });
  return planned.map((op) => ({
    process: op.process,
    key: op.kind.key,
    f: op.kind.write === undefined ? Fn.read : Fn.write,
    args: op.kind.write ?? null,
    result: op.kind.write === undefined ? (seen.get(op) ?? null) : 'OK',
    outcome: op.outcome,
    invokeTime: op.invokeTime,
    completeTime: op.completeTime,
  }));
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
