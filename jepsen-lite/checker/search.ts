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

/**
 * The operations, `0 .. count - 1`, as columns: a long history is searched without an object per
 * operation.
 */
export interface SearchProblem {
  readonly count: number;
  readonly invokeTimes: ArrayLike<number>;
  /** +infinity for an operation that may take effect at any time after its invoke. */
  readonly returnTimes: ArrayLike<number>;
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
  const n = problem.count;
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const entries = entriesInTimeOrder(problem);
  let last = head;
  for (const entry of entries) {
    next[last] = entry;
    prev[entry] = last;
    last = entry;
  }
  next[last] = NIL;

  const linearized = new LinearizedSet(n);
  const cache = new ConfigurationCache();
  // The stack of linearized operations: each one's state before it, and whether it was an
  // observer linearized without alternatives.
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackForced = new Uint8Array(n);
  let depth = 0;
  let state = problem.initialState;
  let steps = 0;
  let backtracks = 0;
  let sinceBudget = 0;

  // The longest partial linearization so far. Copying the whole stack each time the search got
  // deeper would cost O(depth) per backtrack, quadratic over a long key; instead only the part of
  // the stack that changed since the last copy is copied: `unchanged` is the lowest the stack has
  // been since then, and below it the stack still equals `deepestOrder`.
  const deepestOrder = new Int32Array(n);
  let deepestDepth = -1;
  let deepestState = 0;
  let deepestStuck = NIL;
  let unchanged = 0;

  const lift = (op: number): void => {
    const call = 2 * op;
    const ret = call + 1;
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!; // a call is always followed, at least by its own return
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== NIL) prev[next[ret]!] = prev[ret]!;
  };
  // Exact inverse of `lift`, valid because lifts are undone in LIFO order (dancing links).
  const unlift = (op: number): void => {
    const call = 2 * op;
    const ret = call + 1;
    next[prev[ret]!] = ret;
    if (next[ret] !== NIL) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  };
  /** Linearizes `op` unless that configuration was seen before; false if it was. */
  const tryLinearize = (op: number, after: number, forced: boolean): boolean => {
    linearized.add(op);
    if (!cache.insert(linearized, after)) {
      linearized.remove(op);
      return false;
    }
    stackOp[depth] = op;
    stackState[depth] = state;
    stackForced[depth] = forced ? 1 : 0;
    depth++;
    state = after;
    lift(op);
    return true;
  };
  /**
   * Undoes linearizations until one that had alternatives; returns the entry to resume the scan
   * at (the one after that operation's call), or NIL when nothing is left to undo.
   */
  const backtrack = (): number => {
    while (depth > 0) {
      depth--;
      if (depth < unchanged) unchanged = depth;
      const op = stackOp[depth]!;
      backtracks++;
      state = stackState[depth]!;
      linearized.remove(op);
      unlift(op);
      if (stackForced[depth] === 0) return next[2 * op]!;
    }
    return NIL;
  };
  /** A candidate observer that is legal now, or NIL. */
  const legalObserver = (): number => {
    if (problem.isObserver === undefined) return NIL;
    for (let entry = next[head]!; entry !== NIL && (entry & 1) === 0; entry = next[entry]!) {
      const op = entry >> 1;
      if (problem.isObserver(op) && problem.step(state, op) !== ILLEGAL) return op;
    }
    return NIL;
  };
  const stats = (): SearchStats => ({ steps, cacheEntries: cache.size, backtracks });
  const deepest = (): PartialLinearization | undefined => {
    if (deepestDepth < 0) return undefined;
    const order = Array.from(deepestOrder.subarray(0, deepestDepth));
    // The candidates then: every call before the stuck operation's return, in time order, whose
    // operation was not linearized (the scan that got stuck saw exactly these).
    const inOrder = new Uint8Array(n);
    for (const op of order) inOrder[op] = 1;
    const pending: number[] = [];
    for (const entry of entries) {
      if (entry === 2 * deepestStuck + 1) break;
      if ((entry & 1) === 0 && inOrder[entry >> 1] === 0) pending.push(entry >> 1);
    }
    return { order, state: deepestState, stuck: deepestStuck, pending };
  };

  const batchSize = budget.batchSize;
  let entry = NIL;
  let atNewConfiguration = true;
  while (next[head] !== NIL) {
    steps++;
    if (++sinceBudget === batchSize) {
      sinceBudget = 0;
      if (!budget.spend(batchSize)) {
        return { kind: 'unknown', reason: budget.exhausted!, deepest: deepest(), stats: stats() };
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
      entry = next[head]!;
    }
    if ((entry & 1) === 0) {
      // A call: try to linearize its operation now.
      const op = entry >> 1;
      const after = problem.step(state, op);
      if (after !== ILLEGAL && tryLinearize(op, after, false)) {
        atNewConfiguration = true;
        continue;
      }
      entry = next[entry]!;
      continue;
    }
    // A return whose operation is not linearized yet: this branch is dead.
    if (depth > deepestDepth) {
      deepestOrder.set(stackOp.subarray(unchanged, depth), unchanged);
      deepestDepth = depth;
      deepestState = state;
      deepestStuck = entry >> 1;
      unchanged = depth;
    }
    entry = backtrack();
    if (entry === NIL) break;
  }
  budget.spend(sinceBudget);
  if (next[head] !== NIL) {
    // Every branch failed; at least one did so at a return, which set the deepest.
    return { kind: 'not-linearizable', deepest: deepest()!, stats: stats() };
  }
  return { kind: 'linearizable', order: Array.from(stackOp.subarray(0, depth)), stats: stats() };
}

/** Call and return entries sorted by time; at equal times calls first, so that operations touching at one instant are concurrent. */
function entriesInTimeOrder(problem: SearchProblem): Int32Array {
  const n = problem.count;
  const entries = new Int32Array(2 * n);
  const times = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    const invoke = problem.invokeTimes[i]!;
    entries[2 * i] = 2 * i;
    entries[2 * i + 1] = 2 * i + 1;
    times[2 * i] = invoke;
    times[2 * i + 1] = Math.max(problem.returnTimes[i]!, invoke);
  }
  entries.sort((a, b) => times[a]! - times[b]! || (a & 1) - (b & 1) || a - b);
  return entries;
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
    this.words[word]! |= 1 << (op & 31);
    this.hash ^= zobrist(op);
    if (word > this.high) this.high = word;
    while (this.words[this.low] === 0xffffffff) this.low++;
  }

  remove(op: number): void {
    const word = op >>> 5;
    this.words[word]! &= ~(1 << (op & 31));
    this.hash ^= zobrist(op);
    if (word < this.low) this.low = word;
    while (this.high >= 0 && this.words[this.high] === 0) this.high--;
  }
}

/**
 * Visited configurations, each stored as `[state, low, span, words[low .. low + span)]` in one
 * growing arena and found through an open-addressing table of arena offsets. A Map of small
 * arrays would cost an object per configuration and stop at the Map's size limit (2^24 entries),
 * which a long key reaches. Compared exactly, because a false hit would prune a branch that might
 * have succeeded.
 */
class ConfigurationCache {
  private arena = new Int32Array(1 << 8);
  private used = 0;
  /** Arena offset + 1 of each entry; 0 for an empty slot. */
  private slots = new Int32Array(1 << 6);
  private hashes = new Int32Array(1 << 6);
  size = 0;

  /** Adds the configuration; false when it was already there. */
  insert(set: LinearizedSet, state: number): boolean {
    const span = Math.max(0, set.high - set.low + 1);
    const hash = (set.hash ^ Math.imul(state + 1, 0x9e3779b1)) | 0;
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (; this.slots[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.hashes[slot] === hash && this.matches(this.slots[slot]! - 1, set, state, span)) return false;
    }
    if (this.used + span + 3 > this.arena.length) {
      const bigger = new Int32Array(Math.max(2 * this.arena.length, this.used + span + 3));
      bigger.set(this.arena.subarray(0, this.used));
      this.arena = bigger;
    }
    const at = this.used;
    this.arena[at] = state;
    this.arena[at + 1] = set.low;
    this.arena[at + 2] = span;
    for (let i = 0; i < span; i++) this.arena[at + 3 + i] = set.words[set.low + i]! | 0;
    this.used += span + 3;
    this.slots[slot] = at + 1;
    this.hashes[slot] = hash;
    this.size++;
    if (2 * this.size > this.slots.length) this.grow();
    return true;
  }

  private matches(at: number, set: LinearizedSet, state: number, span: number): boolean {
    const arena = this.arena;
    if (arena[at] !== state || arena[at + 1] !== set.low || arena[at + 2] !== span) return false;
    for (let i = 0; i < span; i++) if (arena[at + 3 + i] !== (set.words[set.low + i]! | 0)) return false;
    return true;
  }

  private grow(): void {
    const slots = new Int32Array(2 * this.slots.length);
    const hashes = new Int32Array(2 * this.slots.length);
    const mask = slots.length - 1;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i] === 0) continue;
      let slot = this.hashes[i]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = this.slots[i]!;
      hashes[slot] = this.hashes[i]!;
    }
    this.slots = slots;
    this.hashes = hashes;
  }
}

/** A fixed pseudo-random word per operation (the murmur3 finalizer of its index). */
function zobrist(op: number): number {
  let h = (op + 0x632be5ab) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
