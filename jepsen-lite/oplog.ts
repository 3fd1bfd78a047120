/**
 * A history held compactly, for runs of hours and millions of operations: one row per operation
 * in typed-array columns (about 40 bytes), with keys, functions, error messages and values
 * interned. The checkers, the report and the plot read operations from here; an `Operation`
 * object is made only for the few that a report shows.
 *
 * ```
 *   row   process key f  outcome invoke   complete  args   result  error
 *   0     3       0   1  ok      1020.5   1040.25   17     0       -1        values: 0 null
 *   1     1       0   0  ok      1021.0   1035.0    0      17      -1                17 "v9"
 * ```
 *
 * Rows are operations in invoke order, as `operations()` numbers them; an operation with no
 * completion yet (or ever) reads as `info` with completion time +infinity.
 */
import { EventPairer, EventType, HistoryError, type History, type HistoryEvent, type Json, type Operation, type Outcome, type OutcomeCounts, type TimeUnit } from './history.js';

const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;

type NumberArray = Float64Array | Int32Array | Uint8Array;

/**
 * A growable column in fixed chunks: growing never copies a chunk that is full, and never holds
 * twice the memory. The first chunk starts small and doubles, so a log of a few operations (a
 * test's) costs little.
 */
class Column<A extends NumberArray> {
  private readonly chunks: A[] = [];

  constructor(private readonly make: (length: number) => A) {}

  get(i: number): number {
    return this.chunks[i >>> CHUNK_BITS]![i & CHUNK_MASK]!;
  }

  set(i: number, value: number): void {
    const chunk = i >>> CHUNK_BITS;
    if (chunk >= this.chunks.length || (chunk === 0 && i >= this.chunks[0]!.length)) this.grow(i);
    this.chunks[chunk]![i & CHUNK_MASK] = value;
  }

  private grow(i: number): void {
    const first = this.chunks[0];
    if (first === undefined || first.length < CHUNK) {
      const length = i >= CHUNK ? CHUNK : Math.min(CHUNK, Math.max(16, 2 * (first?.length ?? 0), i + 1));
      const bigger = this.make(length);
      if (first !== undefined) bigger.set(first);
      this.chunks[0] = bigger;
    }
    while (this.chunks.length <= i >>> CHUNK_BITS) this.chunks.push(this.make(CHUNK));
  }
}

/** Strings to small integers, in first-seen order. */
class Interner {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [];

  idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  find(name: string): number | undefined {
    return this.ids.get(name);
  }
}

/** A Map holds at most 2^24 entries; the table opens a new one well before that. */
const SHARD_LIMIT = 1 << 23;

/**
 * Values interned by their canonical JSON text (`JSON.stringify`, the same text the checkers
 * compare values by): workloads write unique values, and a read's result is the text of a write's
 * argument, so one copy serves both. Id 0 is `null`.
 */
export class ValueTable {
  static readonly NULL = 0;
  private readonly shards: Map<string, number>[] = [new Map()];
  private readonly texts: string[] = [];

  constructor() {
    this.idOfText('null');
  }

  get size(): number {
    return this.texts.length;
  }

  idOf(value: Json): number {
    return value === null ? ValueTable.NULL : this.idOfText(JSON.stringify(value));
  }

  idOfText(text: string): number {
    const found = this.findText(text);
    if (found !== undefined) return found;
    let shard = this.shards[this.shards.length - 1]!;
    if (shard.size >= SHARD_LIMIT) this.shards.push((shard = new Map()));
    const id = this.texts.length;
    shard.set(text, id);
    this.texts.push(text);
    return id;
  }

  /** The id of a value's text if some operation holds it. */
  findText(text: string): number | undefined {
    for (const shard of this.shards) {
      const id = shard.get(text);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  text(id: number): string {
    return this.texts[id]!;
  }

  value(id: number): Json {
    return id === ValueTable.NULL ? null : (JSON.parse(this.texts[id]!) as Json);
  }
}

/** Outcome codes in the `outcome` column; `PENDING` (no completion) reads as `info`. */
export const OutcomeCode = { ok: 0, fail: 1, info: 2, pending: 3 } as const;
const OUTCOMES: readonly Outcome[] = [EventType.ok, EventType.fail, EventType.info, EventType.info];

/** One key's operations: row numbers in the log, in log order. */
export interface KeyPartition {
  readonly key: string;
  readonly rows: Int32Array;
}

/** The fields of an operation as the log stores them (an `Operation` without its id, or with it). */
export interface OperationRow {
  readonly id?: number;
  readonly process: number;
  readonly key: string;
  readonly f: string;
  readonly args: Json;
  readonly result: Json;
  readonly outcome: Outcome | 'pending';
  readonly invokeTime: number;
  readonly completeTime: number;
  readonly error?: string;
}

export class OperationLog {
  readonly values = new ValueTable();
  private readonly keys = new Interner();
  private readonly fns = new Interner();
  private readonly errors = new Interner();
  private rows = 0;
  private readonly processCol = new Column((n) => new Int32Array(n));
  private readonly keyCol = new Column((n) => new Int32Array(n));
  private readonly fCol = new Column((n) => new Int32Array(n));
  private readonly outcomeCol = new Column((n) => new Uint8Array(n));
  private readonly invokeCol = new Column((n) => new Float64Array(n));
  private readonly completeCol = new Column((n) => new Float64Array(n));
  private readonly argsCol = new Column((n) => new Int32Array(n));
  private readonly resultCol = new Column((n) => new Int32Array(n));
  private readonly errorCol = new Column((n) => new Int32Array(n));
  /** Operation ids when they are not the row numbers (a log made from an arbitrary operation list). */
  private idCol: Column<Float64Array> | undefined;
  /** Why the events cannot come from well-behaved clients, when they cannot; checkers answer unknown. */
  malformed: HistoryError | undefined;

  constructor(readonly timeUnit: TimeUnit = 'ms') {}

  get length(): number {
    return this.rows;
  }

  /** A log of these operations, ids kept, in this order. */
  static fromOperations(ops: readonly Operation[], timeUnit: TimeUnit = 'ms'): OperationLog {
    const log = new OperationLog(timeUnit);
    ops.forEach((op, row) => {
      log.append(op);
      if (op.id !== row && log.idCol === undefined) {
        log.idCol = new Column((n) => new Float64Array(n));
        for (let i = 0; i < row; i++) log.idCol.set(i, i);
      }
      log.idCol?.set(row, op.id);
    });
    return log;
  }

  /** Pairs a history's events as `operations()` does; a malformed history sets `malformed`. */
  static fromHistory(history: History): OperationLog {
    const log = new OperationLog(history.timeUnit);
    const pairer = log.pairer();
    try {
      for (const event of history.events) log.addEvent(pairer, event);
    } catch (error) {
      if (!(error instanceof HistoryError)) throw error;
      log.malformed = error;
    }
    return log;
  }

  /** Pairs events into this log as they come (see `addEvent`). */
  pairer(): EventPairer {
    return new EventPairer((invoke, row, completion) => {
      if (completion === undefined) return; // stays pending
      const outcome = completion.type as Outcome;
      this.complete(row, outcome, outcome === EventType.ok ? completion.value : null, completion.time, completion.error);
    });
  }

  /**
   * One event through `pairer`: an invoke adds a pending row, a completion completes it.
   * `valueText`: the event's value as JSON text when the caller has it already (the recorder
   * writes it to the file), so that it is not made twice.
   */
  addEvent(pairer: EventPairer, event: HistoryEvent, valueText?: string): void {
    this.valueText = valueText;
    try {
      const row = pairer.add(event);
      if (event.type === EventType.invoke) {
        this.append({ process: event.process, key: event.key, f: event.f, args: event.value, result: null, outcome: 'pending', invokeTime: event.time, completeTime: Infinity });
        if (row !== this.rows - 1) throw new Error(`the log is out of step with its pairer (${row} vs ${this.rows - 1})`);
      }
    } finally {
      this.valueText = undefined;
    }
  }

  /** Set by `addEvent` while it adds an event whose value's text the caller gave. */
  private valueText: string | undefined;

  private valueId(value: Json): number {
    if (value === null) return ValueTable.NULL;
    return this.valueText !== undefined ? this.values.idOfText(this.valueText) : this.values.idOf(value);
  }

  /** Adds an operation; returns its row. */
  append(op: OperationRow): number {
    const row = this.rows++;
    this.processCol.set(row, op.process);
    this.keyCol.set(row, this.keys.idOf(op.key));
    this.fCol.set(row, this.fns.idOf(op.f));
    this.outcomeCol.set(row, OutcomeCode[op.outcome]);
    this.invokeCol.set(row, op.invokeTime);
    this.completeCol.set(row, op.completeTime);
    this.argsCol.set(row, this.valueId(op.args));
    this.resultCol.set(row, this.values.idOf(op.result));
    this.errorCol.set(row, op.error === undefined ? -1 : this.errors.idOf(op.error));
    return row;
  }

  /** Completes a pending row. */
  complete(row: number, outcome: Outcome, result: Json, time: number, error?: string): void {
    this.outcomeCol.set(row, OutcomeCode[outcome]);
    this.completeCol.set(row, time);
    this.resultCol.set(row, this.valueId(result));
    this.errorCol.set(row, error === undefined ? -1 : this.errors.idOf(error));
  }

  id(row: number): number {
    return this.idCol === undefined ? row : this.idCol.get(row);
  }

  process(row: number): number {
    return this.processCol.get(row);
  }

  keyId(row: number): number {
    return this.keyCol.get(row);
  }

  key(row: number): string {
    return this.keys.names[this.keyCol.get(row)]!;
  }

  /** Function ids: compare `fId(row)` with `functionId('read')`. */
  fId(row: number): number {
    return this.fCol.get(row);
  }

  f(row: number): string {
    return this.fns.names[this.fCol.get(row)]!;
  }

  /** The id of a function name, or -1 when no operation has it. */
  functionId(name: string): number {
    return this.fns.find(name) ?? -1;
  }

  outcomeCode(row: number): number {
    return this.outcomeCol.get(row);
  }

  outcome(row: number): Outcome {
    return OUTCOMES[this.outcomeCol.get(row)]!;
  }

  invokeTime(row: number): number {
    return this.invokeCol.get(row);
  }

  completeTime(row: number): number {
    return this.completeCol.get(row);
  }

  argsId(row: number): number {
    return this.argsCol.get(row);
  }

  resultId(row: number): number {
    return this.resultCol.get(row);
  }

  args(row: number): Json {
    return this.values.value(this.argsCol.get(row));
  }

  result(row: number): Json {
    return this.values.value(this.resultCol.get(row));
  }

  error(row: number): string | undefined {
    const id = this.errorCol.get(row);
    return id < 0 ? undefined : this.errors.names[id];
  }

  /** The operation at `row` as an object, for reports. */
  operation(row: number): Operation {
    const error = this.error(row);
    return {
      id: this.id(row),
      process: this.process(row),
      key: this.key(row),
      f: this.f(row),
      args: this.args(row),
      result: this.result(row),
      outcome: this.outcome(row),
      invokeTime: this.invokeTime(row),
      completeTime: this.completeTime(row),
      ...(error !== undefined ? { error } : {}),
    };
  }

  /** Every operation as objects: for small logs (tests), never for a run's. */
  operations(): Operation[] {
    const ops: Operation[] = [];
    for (let row = 0; row < this.rows; row++) ops.push(this.operation(row));
    return ops;
  }

  /** Rows grouped by key, keys in order of first appearance, each group in log order. */
  partitionByKey(): KeyPartition[] {
    const keyCount = this.keys.names.length;
    const start = new Int32Array(keyCount + 1);
    for (let row = 0; row < this.rows; row++) start[this.keyCol.get(row) + 1]!++;
    for (let k = 0; k < keyCount; k++) start[k + 1]! += start[k]!;
    const all = new Int32Array(this.rows);
    const fill = start.slice(0, keyCount);
    for (let row = 0; row < this.rows; row++) all[fill[this.keyCol.get(row)]!++] = row;
    return this.keys.names.map((key, k) => ({ key, rows: all.subarray(start[k]!, start[k + 1]!) }));
  }

  counts(): OutcomeCounts {
    const counts: OutcomeCounts = { total: this.rows, ok: 0, fail: 0, info: 0 };
    for (let row = 0; row < this.rows; row++) counts[this.outcome(row)]++;
    return counts;
  }

  /** Counts of a subset of rows. */
  countRows(rows: ArrayLike<number>): OutcomeCounts {
    const counts: OutcomeCounts = { total: rows.length, ok: 0, fail: 0, info: 0 };
    for (let i = 0; i < rows.length; i++) counts[this.outcome(rows[i]!)]++;
    return counts;
  }
}
