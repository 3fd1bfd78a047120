/**
 * A run of the harness without a cluster: seeded clients issue a workload's operations against a
 * model of the store, and a schedule of faults makes some of them slow and some time out, all
 * recorded event by event through an `OperationRecorder` as the runner records a real run. For
 * testing every stage after the cluster (recording, checking, reporting, plotting) at the size of
 * a run of hours, in seconds.
 *
 * Valid by construction, as `checker/testing/timed-execution.ts` makes histories: each operation
 * that takes effect does so at one instant, inside its window for an ok one, and possibly after
 * its client gave up for an info one; the model applies the effects in time order, and reads
 * report the model's state at theirs. A discrete-event loop does this as it goes, so nothing is
 * held per operation:
 *
 * ```
 *   p0  [──●──────]   [─────●─]
 *   p1     [────●───────]  [●──]        ● = the instant the operation takes effect
 *   p2  [─────────●───] info ●          fault windows: a third of the operations take 0.1-1.5 s
 *                                       and time out (writes info, reads fail)
 * ```
 *
 * `corrupt` makes a history certainly invalid: one read (register) that returns a value certainly
 * overwritten before it began, or reads that return what nothing wrote.
 */
import { SeededRandom } from '../../src/util/random.js';
import { expiringWrite } from '../checker/index.js';
import { Fn, type Json, type OperationRecorder, type PendingOperation } from '../history.js';
import type { FaultRecord } from '../nemesis.js';
import { APPENDS_PER_KEY } from '../workloads.js';

export type SyntheticWorkload = 'register' | 'counter' | 'append' | 'expiry';

export type Corruption =
  /** The first register read invoked at or after operation `at` that can see a value certainly overwritten before it began, does. */
  | { readonly kind: 'stale-read'; readonly at: number }
  /** Every `every`-th ok read sees something no operation wrote. */
  | { readonly kind: 'phantom-reads'; readonly every: number };

export interface SyntheticRunOptions {
  readonly workload: SyntheticWorkload;
  /** Client operations, before the final reads. */
  readonly operations: number;
  readonly seed: number;
  readonly processes?: number;
  /** A fault of `faultMs` starts every `faultEveryMs` (2.5 s in 4 s by default, as the runner's). */
  readonly faultEveryMs?: number;
  readonly faultMs?: number;
  readonly corrupt?: Corruption;
}

export interface SyntheticRun {
  /** Operations recorded, final reads included. */
  readonly operations: number;
  readonly faults: readonly FaultRecord[];
  /** How many reads `corrupt` changed. */
  readonly corrupted: number;
  /** The run's length on its clock, ms. */
  readonly endMs: number;
}

const NEMESES = ['partition', 'kill', 'pause', 'transfer-leader', 'kill-all', 'member'] as const;

/** What an operation does to the model, and what it returns. */
interface Model {
  /** The keys the final reads read. */
  keys(): readonly string[];
  /** The next client operation. */
  next(random: SeededRandom, unique: () => number): { f: string; key: string; args: Json };
  /** Applies a write at its effect instant; returns what an ok one replies. */
  write(key: string, args: Json, at: number): Json;
  /** What a read at this instant sees. */
  read(key: string, at: number): Json;
  /** Something no operation wrote, as a read of `key` would return it. */
  phantom(key: string, n: number): Json;
}

/** One client's operation in flight, times in µs. */
interface InFlight {
  readonly process: number;
  readonly pending: PendingOperation;
  readonly f: string;
  readonly key: string;
  readonly args: Json;
  readonly isRead: boolean;
  readonly outcome: 'ok' | 'fail' | 'info';
  readonly invoke: number;
  readonly complete: number;
  /** What an ok operation returns: set at its effect. */
  result: Json;
  /** A stale value the register corruption makes this read return. */
  stale?: { readonly value: Json };
}

const EVENT_INVOKE = 0;
const EVENT_EFFECT = 1;
const EVENT_COMPLETE = 2;

/**
 * Runs the clients to `options.operations` and the final reads. A recorder with `drained` (the
 * harness's) is given time to write out now and then, as the runner's clients do.
 */
export async function syntheticRun(recorder: OperationRecorder & { drained?(): Promise<void> }, options: SyntheticRunOptions): Promise<SyntheticRun> {
  const random = new SeededRandom(options.seed);
  const uniform = (): number => random.nextUint32() / 0x1_0000_0000;
  const processes = options.processes ?? 6;
  const faultEvery = (options.faultEveryMs ?? 4_000) * 1000;
  const faultLength = (options.faultMs ?? 2_500) * 1000;
  const faultStart = 1_000_000; // the first fault 1 s in, as the runner's
  const model = makeModel(options.workload);
  let nextUnique = 1;
  const unique = (): number => nextUnique++;
  const ms = (us: number): number => us / 1000;
  const inFault = (us: number): boolean => us >= faultStart && (us - faultStart) % faultEvery < faultLength;

  // Pending events: at most an invoke, an effect and a completion per process.
  const capacity = 4 * processes;
  const eventTime = new Float64Array(capacity);
  const eventKind = new Int8Array(capacity);
  const eventOp: (InFlight | number)[] = new Array<InFlight | number>(capacity);
  let events = 0;
  const schedule = (time: number, kind: number, op: InFlight | number): void => {
    eventTime[events] = time;
    eventKind[events] = kind;
    eventOp[events] = op;
    events++;
  };
  /** The earliest event; at equal times invokes, then effects, then completions. */
  const take = (): { time: number; kind: number; op: InFlight | number } => {
    let best = 0;
    for (let i = 1; i < events; i++) {
      if (eventTime[i]! < eventTime[best]! || (eventTime[i] === eventTime[best] && eventKind[i]! < eventKind[best]!)) best = i;
    }
    const event = { time: eventTime[best]!, kind: eventKind[best]!, op: eventOp[best]! };
    events--;
    eventTime[best] = eventTime[events]!;
    eventKind[best] = eventKind[events]!;
    eventOp[best] = eventOp[events]!;
    return event;
  };

  // For the stale read: per key, the last ok write to complete, and a value certainly
  // overwritten (its write completed before an ok write began that has completed since).
  const lastCompleted = new Map<string, Json>();
  const completedBefore = new Map<InFlight, Json>();
  const overwritten = new Map<string, { value: Json; since: number }>();
  let started = 0;
  let okReads = 0;
  let corrupted = 0;
  let staleDone = false;
  let now = 0;

  for (let p = 0; p < processes; p++) schedule(random.intBelow(5_000), EVENT_INVOKE, p);
  while (events > 0) {
    const event = take();
    now = event.time;
    if (event.kind === EVENT_INVOKE) {
      if (started >= options.operations) continue;
      started++;
      if (started % 4096 === 0) await recorder.drained?.();
      const process = event.op as number;
      const { f, key, args } = model.next(random, unique);
      const isRead = f === Fn.read;
      const slow = inFault(now) && uniform() < 1 / 3;
      const latency = slow ? 100_000 + random.intBelow(1_400_000) : 300 + Math.floor(-Math.log(1 - uniform()) * 6_000);
      const outcome = !slow ? 'ok' : isRead ? 'fail' : 'info';
      const pending = recorder.invoke(process, f, key, args, ms(now));
      const op: InFlight = { process, pending, f, key, args, isRead, outcome, invoke: now, complete: now + latency, result: null };
      if (!isRead && options.corrupt?.kind === 'stale-read') {
        const before = lastCompleted.get(key);
        if (before !== undefined) completedBefore.set(op, before);
      }
      if (isRead && options.corrupt?.kind === 'stale-read' && !staleDone && started > options.corrupt.at && outcome === 'ok') {
        const candidate = overwritten.get(key);
        if (candidate !== undefined && candidate.since < now) {
          op.stale = { value: candidate.value };
          staleDone = true;
        }
      }
      const effect = outcome === 'ok' ? now + Math.floor(uniform() * latency) : outcome === 'info' && uniform() < 0.5 ? now + Math.floor(uniform() * 3 * latency) : undefined;
      if (effect !== undefined) schedule(effect, EVENT_EFFECT, op);
      schedule(op.complete, EVENT_COMPLETE, op);
    } else if (event.kind === EVENT_EFFECT) {
      const op = event.op as InFlight;
      op.result = op.isRead ? model.read(op.key, now) : model.write(op.key, op.args, now);
    } else {
      const op = event.op as InFlight;
      const at = ms(now);
      if (op.outcome === 'ok') {
        let result = op.result;
        if (op.isRead) {
          okReads++;
          if (op.stale !== undefined) {
            result = op.stale.value;
            corrupted++;
          } else if (options.corrupt?.kind === 'phantom-reads' && okReads % options.corrupt.every === 0) {
            result = model.phantom(op.key, okReads);
            corrupted++;
          }
        } else {
          const before = completedBefore.get(op);
          completedBefore.delete(op);
          if (before !== undefined) overwritten.set(op.key, { value: before, since: now });
          lastCompleted.set(op.key, op.args);
        }
        recorder.ok(op.pending, result, at);
      } else if (op.outcome === 'fail') {
        recorder.fail(op.pending, at, 'Command timed out');
      } else {
        completedBefore.delete(op);
        recorder.info(op.pending, at, 'Command timed out');
      }
      schedule(now + (op.outcome === 'ok' ? 2_000 : 50_000), EVENT_INVOKE, op.process);
    }
  }

  // Faults over the run, as the runner records them; then the final reads, once every effect is in.
  const faults: FaultRecord[] = [];
  for (let at = faultStart, i = 0; at + faultLength <= now; at += faultEvery, i++) {
    const nemesis = NEMESES[i % NEMESES.length]!;
    faults.push({ nemesis, action: 'inject', time: ms(at), detail: `synthetic fault ${i + 1}` });
    faults.push({ nemesis, action: 'heal', time: ms(at + faultLength), detail: 'healed' });
  }
  let time = now + 1_000_000;
  for (const key of model.keys()) {
    const pending = recorder.invoke(processes, Fn.read, key, null, ms(time));
    recorder.ok(pending, model.read(key, time), ms(time + 500));
    time += 1_000;
  }
  return { operations: started + model.keys().length, faults, corrupted, endMs: ms(time) };
}

function makeModel(workload: SyntheticWorkload): Model {
  switch (workload) {
    case 'register': {
      const keys = ['r0', 'r1', 'r2'];
      const state = new Map<string, Json>();
      return {
        keys: () => keys,
        next: (random, unique) => {
          const key = keys[random.intBelow(keys.length)]!;
          return random.intBelow(2) === 0 ? { f: Fn.read, key, args: null } : { f: Fn.write, key, args: `v${unique()}` };
        },
        write: (key, args) => (state.set(key, args), 'OK'),
        read: (key) => state.get(key) ?? null,
        phantom: (_, n) => `phantom${n}`,
      };
    }
    case 'counter': {
      const keys = ['c0', 'c1'];
      const state = new Map<string, number>();
      return {
        keys: () => keys,
        next: (random) => {
          const key = keys[random.intBelow(keys.length)]!;
          return random.intBelow(10) < 3 ? { f: Fn.read, key, args: null } : { f: Fn.incr, key, args: 1 };
        },
        write: (key) => {
          const value = (state.get(key) ?? 0) + 1;
          state.set(key, value);
          return value;
        },
        read: (key) => (state.has(key) ? String(state.get(key)) : null),
        phantom: (key) => String((state.get(key) ?? 0) + 1_000_000),
      };
    }
    case 'append': {
      // As the workload: three keys at a time, each taking APPENDS_PER_KEY appends.
      const active = ['a0', 'a1', 'a2'];
      const generation = [0, 0, 0];
      const appended = [0, 0, 0];
      const used = [...active];
      const lists = new Map<string, string[]>();
      return {
        keys: () => used,
        next: (random, unique) => {
          const slot = random.intBelow(active.length);
          if (random.intBelow(10) < 3) return { f: Fn.read, key: active[slot]!, args: null };
          if (appended[slot]! >= APPENDS_PER_KEY) {
            generation[slot]!++;
            appended[slot] = 0;
            active[slot] = `a${slot}-${generation[slot]}`;
            used.push(active[slot]!);
          }
          appended[slot]!++;
          return { f: Fn.append, key: active[slot]!, args: `e${unique()}` };
        },
        write: (key, args) => {
          const list = lists.get(key) ?? [];
          list.push(args as string);
          lists.set(key, list);
          return 'OK';
        },
        read: (key) => (lists.has(key) ? [...lists.get(key)!] : null),
        phantom: (key, n) => [...(lists.get(key) ?? []), `phantom${n}`],
      };
    }
    case 'expiry': {
      const keys = ['x0', 'x1', 'x2'];
      const state = new Map<string, { value: Json; until: number }>();
      return {
        keys: () => keys,
        next: (random, unique) => {
          const key = keys[random.intBelow(keys.length)]!;
          if (random.intBelow(10) < 6) return { f: Fn.read, key, args: null };
          return { f: Fn.write, key, args: expiringWrite(`v${unique()}`, 100 + random.intBelow(900)) };
        },
        write: (key, args, at) => {
          const { value, ttlMs } = args as { value: Json; ttlMs: number };
          state.set(key, { value, until: at + ttlMs * 1000 });
          return 'OK';
        },
        read: (key, at) => {
          const entry = state.get(key);
          return entry !== undefined && at < entry.until ? entry.value : null;
        },
        phantom: (_, n) => `phantom${n}`,
      };
    }
  }
}
