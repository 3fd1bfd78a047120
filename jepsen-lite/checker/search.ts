/**
 * The linearizability search: Wing & Gong's backtracking search with Lowe's just-in-time
 * linearization and memoization ("Testing for Linearizability", 2017), as Porcupine runs it on
 * each partition of a history (Horn & Kroening, "Faster linearizability checking via
 * P-compositionality", 2015). Model-agnostic: operations are indices, states are small integers
 * interned by the caller, and `step` is the sequential specification.
 *
 * The history is a doubly linked list of call and return entries in time order:
 *
 * ```
 *   HEAD ─ call a ─ call b ─ return a ─ call c ─ return b ─ return c ─ ...
 *          └──── candidates ───┘   ▲
 *                                  first return: `a` must be linearized before anything past it
 * ```
 *
 * Walking from HEAD, every call before the first return is a candidate to linearize next. When a
 * candidate's step is legal and the resulting configuration (linearized set, state) has not been
 * seen, both of its entries are unlinked ("lifted") and the walk restarts at HEAD. Reaching a
 * return entry means its operation was not linearized before it returned: backtrack by popping the
 * last linearized operation, relinking it, and trying the next candidate after it. The search
 * succeeds when the list is empty and fails when it must backtrack with nothing to pop.
 *
 * Memoization: a configuration already visited leads nowhere new (the future depends only on which
 * operations are linearized and on the state), so it is pruned. The linearized set is hashed with
 * Zobrist hashing (one random word per operation, XORed in and out), so a step costs O(1) to
 * hash; the cache stores the set compactly, as the bits from the lowest not-yet-linearized
 * operation up, since everything below it is linearized by definition.
 *
 * Observer reduction: when a candidate that never changes the state (a read) is legal now, it is
 * linearized at once with no alternative tried. Sound: take any linearization that extends the
 * current prefix and move the read to its front. Everything that must precede the read in real
 * time returned before the read was called, so is already in the prefix (else the read would not
 * be a candidate); the read is legal in the current state; and removing a read from later on
 * changes no state. So if the configuration after the read fails, the one before it fails too,
 * and backtracking pops straight through such reads. On a valid 5,000-operation history with 8
 * clients this cut the work from about 90 steps (17 backtracks) per operation to about 15 (3).
 *
 * An operation whose return time is +infinity (an `info` one) may be linearized at any point after
 * its call, or at the very end, which is the same as never for every other operation.
 */

/** `step` returns this when the operation is not legal in the state. */
export const ILLEGAL = -1;

export interface SearchOperation {
  readonly invokeTime: number;
  /** +infinity for an operation that may take effect at any time after its invoke. */
  readonly returnTime: number;
}

export interface SearchProblem {
  readonly operations: readonly SearchOperation[];
  /** Interned model state before any operation (>= 0). */
  readonly initialState: number;
  /** The state after applying operation `op` in `state`, or `ILLEGAL`. Must be pure. */
  step(state: number, op: number): number;
  /**
   * True for an operation that never changes the state (a read): `step` returns either the same
   * state or `ILLEGAL`, whatever the state. Optional; it enables the observer reduction below.
   */
  isObserver?(op: number): boolean;
}

/**
 * Limits shared by every search of one check. The search stops with `unknown` when one runs out,
 * instead of running for hours on a history it cannot decide.
 */
export class SearchBudget {
  readonly maxSteps: number;
  readonly timeMs: number;
  private stepsLeft: number;
  private readonly deadline: number;
  private readonly now: () => number;
  /** Why the budget ran out, once it has. */
  exhausted: string | undefined;

  constructor(options: SearchBudgetOptions = {}) {
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.timeMs = options.timeMs ?? DEFAULT_TIME_MS;
    this.stepsLeft = this.maxSteps;
    this.now = options.now ?? (() => performance.now());
    this.deadline = this.now() + this.timeMs;
  }

  /**
   * Spends `steps`; false once the budget is exhausted, with the reason in `exhausted`. Reads the
   * clock once per call, so callers spend in batches.
   */
  spend(steps: number): boolean {
    if (this.exhausted !== undefined) return false;
    this.stepsLeft -= steps;
    if (this.stepsLeft < 0) {
      this.exhausted = `step budget of ${this.maxSteps} exhausted`;
    } else if (this.now() > this.deadline) {
      this.exhausted = `time budget of ${this.timeMs} ms exhausted`;
    }
    return this.exhausted === undefined;
  }

  get stepsUsed(): number {
    return this.maxSteps - Math.max(0, this.stepsLeft);
  }

  /** How many steps a search takes between calls to `spend`: small budgets are honoured exactly. */
  get batchSize(): number {
    return Math.max(1, Math.min(BATCH, this.maxSteps));
  }
}

export interface SearchBudgetOptions {
  /** Search steps (candidate tries and backtracks) across the whole check. */
  readonly maxSteps?: number;
  /** Wall-clock time for the whole check. */
  readonly timeMs?: number;
  /** The clock for `timeMs`, in ms; `performance.now` unless a test injects one. */
  readonly now?: () => number;
}

/** Enough for tens of thousands of operations per key at realistic concurrency. */
export const DEFAULT_MAX_STEPS = 50_000_000;
export const DEFAULT_TIME_MS = 120_000;

/** The furthest the search got before it had to backtrack. */
export interface PartialLinearization {
  /** Operations linearized, in order. */
  readonly order: readonly number[];
  /** The model state after them. */
  readonly state: number;
  /** The operation whose return was reached before it could be linearized. */
  readonly stuck: number;
  /** Operations invoked but not linearized at that point (the candidates), `stuck` included. */
  readonly pending: readonly number[];
}

export interface SearchStats {
  /** Loop iterations: candidate tries and backtracks. */
  readonly steps: number;
  readonly cacheEntries: number;
  readonly backtracks: number;
}

export type SearchOutcome =
  | { readonly kind: 'linearizable'; readonly order: readonly number[]; readonly stats: SearchStats }
  | { readonly kind: 'not-linearizable'; readonly deepest: PartialLinearization; readonly stats: SearchStats }
  | {
      readonly kind: 'unknown';
      readonly reason: string;
      readonly deepest: PartialLinearization | undefined;
      readonly stats: SearchStats;
    };

const NIL = -1;
/** How many loop iterations between looks at the budget. */
const BATCH = 4096;

/**
 * Entry ids: the call of operation `i` is `2i`, its return `2i + 1`; `2n` is the list head.
 * `next`/`prev` link the entries still in the list, in time order.
 */
export function searchLinearization(problem: SearchProblem, budget: SearchBudget): SearchOutcome {
  const n = problem.operations.length;
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  linkInTimeOrder(problem.operations, next, prev, head);

  const linearized = new LinearizedSet(n);
  const cache = new ConfigurationCache();
  const stackOp: number[] = [];
  const stackState: number[] = [];
  /** Whether each stacked operation was an observer linearized without alternatives. */
  const stackForced: boolean[] = [];
  let state = problem.initialState;
  let deepest: PartialLinearization | undefined;
  let steps = 0;
  let backtracks = 0;
  let sinceBudget = 0;

  const lift = (op: number): void => {
    const call = 2 * op;
    const ret = call + 1;
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call]; // a call is always followed, at least by its own return
    next[prev[ret]] = next[ret];
    if (next[ret] !== NIL) prev[next[ret]] = prev[ret];
  };
  // Exact inverse of `lift`, valid because lifts are undone in LIFO order (dancing links).
  const unlift = (op: number): void => {
    const call = 2 * op;
    const ret = call + 1;
    next[prev[ret]] = ret;
    if (next[ret] !== NIL) prev[next[ret]] = ret;
    next[prev[call]] = call;
    prev[next[call]] = call;
  };
  /** Linearizes `op` unless that configuration was seen before; false if it was. */
  const tryLinearize = (op: number, after: number, forced: boolean): boolean => {
    linearized.add(op);
    if (!cache.insert(linearized, after)) {
      linearized.remove(op);
      return false;
    }
    stackOp.push(op);
    stackState.push(state);
    stackForced.push(forced);
    state = after;
    lift(op);
    return true;
  };
  /**
   * Undoes linearizations until one that had alternatives; returns the entry to resume the scan
   * at (the one after that operation's call), or NIL when nothing is left to undo.
   */
  const backtrack = (): number => {
    for (;;) {
      const op = stackOp.pop();
      if (op === undefined) return NIL;
      backtracks++;
      state = stackState.pop()!;
      const forced = stackForced.pop()!;
      linearized.remove(op);
      unlift(op);
      if (!forced) return next[2 * op];
    }
  };
  /** A candidate observer that is legal now, or NIL. */
  const legalObserver = (): number => {
    if (problem.isObserver === undefined) return NIL;
    for (let entry = next[head]; entry !== NIL && (entry & 1) === 0; entry = next[entry]) {
      const op = entry >> 1;
      if (problem.isObserver(op) && problem.step(state, op) !== ILLEGAL) return op;
    }
    return NIL;
  };
  const stats = (): SearchStats => ({ steps, cacheEntries: cache.size, backtracks });

  const batchSize = budget.batchSize;
  let entry = NIL;
  let atNewConfiguration = true;
  while (next[head] !== NIL) {
    steps++;
    if (++sinceBudget === batchSize) {
      sinceBudget = 0;
      if (!budget.spend(batchSize)) {
        return { kind: 'unknown', reason: budget.exhausted!, deepest, stats: stats() };
      }
    }
    if (atNewConfiguration) {
      atNewConfiguration = false;
      const observer = legalObserver();
      if (observer !== NIL) {
        // Some linearization extends this configuration iff one extends it with the observer
        // first, so the observer is the only branch; if that configuration was already seen (and
        // so failed), this one fails too.
        if (tryLinearize(observer, state, true)) {
          atNewConfiguration = true;
          continue;
        }
        entry = backtrack();
        if (entry === NIL) break;
        continue;
      }
      entry = next[head];
    }
    if ((entry & 1) === 0) {
      // A call: try to linearize its operation now.
      const op = entry >> 1;
      const after = problem.step(state, op);
      if (after !== ILLEGAL && tryLinearize(op, after, false)) {
        atNewConfiguration = true;
        continue;
      }
      entry = next[entry];
      continue;
    }
    // A return whose operation is not linearized yet: this branch is dead.
    if (deepest === undefined || stackOp.length > deepest.order.length) {
      deepest = { order: stackOp.slice(), state, stuck: entry >> 1, pending: callsBefore(entry, head, next) };
    }
    entry = backtrack();
    if (entry === NIL) break;
  }
  budget.spend(sinceBudget);
  if (next[head] !== NIL) {
    // Every branch failed; at least one did so at a return, which set `deepest`.
    return { kind: 'not-linearizable', deepest: deepest!, stats: stats() };
  }
  return { kind: 'linearizable', order: stackOp, stats: stats() };
}

function linkInTimeOrder(ops: readonly SearchOperation[], next: Int32Array, prev: Int32Array, head: number): void {
  const entries: number[] = [];
  for (let i = 0; i < ops.length; i++) entries.push(2 * i, 2 * i + 1);
  const time = (entry: number): number =>
    (entry & 1) === 0 ? ops[entry >> 1].invokeTime : Math.max(ops[entry >> 1].returnTime, ops[entry >> 1].invokeTime);
  // At equal times calls come first, so that operations touching at one instant are concurrent.
  entries.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
  let last = head;
  for (const entry of entries) {
    next[last] = entry;
    prev[entry] = last;
    last = entry;
  }
  next[last] = NIL;
}

function callsBefore(returnEntry: number, head: number, next: Int32Array): number[] {
  const calls: number[] = [];
  for (let entry = next[head]; entry !== NIL && entry !== returnEntry; entry = next[entry]) {
    if ((entry & 1) === 0) calls.push(entry >> 1);
  }
  return calls;
}

/**
 * The set of linearized operations as a bitset, with its Zobrist hash and the span of words that
 * are neither all ones (below `low`) nor all zeros (above `high`).
 */
class LinearizedSet {
  readonly words: Uint32Array;
  hash = 0;
  low = 0;
  high = -1;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) + 1);
  }

  add(op: number): void {
    const word = op >>> 5;
    this.words[word] |= 1 << (op & 31);
    this.hash ^= zobrist(op);
    if (word > this.high) this.high = word;
    while (this.words[this.low] === 0xffffffff) this.low++;
  }

  remove(op: number): void {
    const word = op >>> 5;
    this.words[word] &= ~(1 << (op & 31));
    this.hash ^= zobrist(op);
    if (word < this.low) this.low = word;
    while (this.high >= 0 && this.words[this.high] === 0) this.high--;
  }
}

/**
 * Visited configurations. A key is `[state, low, words[low..high]...]`; buckets by hash, compared
 * exactly, because a false hit would prune a branch that might have succeeded.
 */
class ConfigurationCache {
  private readonly buckets = new Map<number, Int32Array[]>();
  size = 0;

  /** Adds the configuration; false when it was already there. */
  insert(set: LinearizedSet, state: number): boolean {
    const span = Math.max(0, set.high - set.low + 1);
    const hash = (set.hash ^ Math.imul(state + 1, 0x9e3779b1)) | 0;
    const bucket = this.buckets.get(hash);
    if (bucket) {
      for (const key of bucket) {
        if (key[0] !== state || key[1] !== set.low || key.length !== span + 2) continue;
        let same = true;
        for (let i = 0; i < span; i++) {
          if (key[i + 2] !== (set.words[set.low + i] | 0)) {
            same = false;
            break;
          }
        }
        if (same) return false;
      }
    }
    const key = new Int32Array(span + 2);
    key[0] = state;
    key[1] = set.low;
    for (let i = 0; i < span; i++) key[i + 2] = set.words[set.low + i] | 0;
    if (bucket) bucket.push(key);
    else this.buckets.set(hash, [key]);
    this.size++;
    return true;
  }
}

/** A fixed pseudo-random word per operation (the murmur3 finalizer of its index). */
function zobrist(op: number): number {
  let h = (op + 0x632be5ab) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
