/**
 * The operation model of jepsen-lite: what the harness records and what the checkers read.
 *
 * A history is the list of events the clients produced, in the order they happened. Every client
 * operation is two events from the same process: an `invoke` (with the arguments) and a
 * completion (with the result), timed by one monotonic clock shared by all clients:
 *
 * ```
 *   process 1   invoke write x "a" ───────────── ok
 *   process 2        invoke read x ──── ok "a"
 *   process 3              invoke write x "b" ─────────────────── info (timed out)
 *              ──────────────────────────────────────────────────────────────▶ time
 * ```
 *
 * A completion says how the operation ended:
 *
 * | type   | meaning                                                                        |
 * | ------ | ------------------------------------------------------------------------------ |
 * | `ok`   | it took effect, once, at some instant between its invoke and this completion   |
 * | `fail` | it certainly did not take effect                                                |
 * | `info` | unknown: it may take effect at any instant after its invoke, even long after   |
 * |        | this completion, or never. Checkers treat its completion time as +infinity.    |
 *
 * This is Jepsen's vocabulary (`:invoke`, `:ok`, `:fail`, `:info`). A process has at most one
 * operation outstanding; an invoke with no completion (the harness stopped first) reads as `info`.
 * Pure data and pure functions: nothing here reads a clock or touches a file.
 */

/** A JSON value: what arguments and results may hold, so that a history round-trips to disk. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

export const EventType = {
  invoke: 'invoke',
  ok: 'ok',
  fail: 'fail',
  info: 'info',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/** How an operation ended. */
export type Outcome = Exclude<EventType, 'invoke'>;

/** The functions the workloads use; a history may hold others, which checkers ignore or reject. */
export const Fn = {
  read: 'read',
  write: 'write',
  incr: 'incr',
  append: 'append',
  /** scan workload: DEL of one key (args null; result the number deleted). */
  del: 'del',
  /** scan workload: a full SCAN (key `*`; result every key returned, sorted). */
  scan: 'scan',
} as const;

/** The unit of every `time` in a history. TTLs and bounds, given in ms, are converted to it. */
export type TimeUnit = 'ms' | 'ns';

export interface HistoryEvent {
  readonly type: EventType;
  /** The client that issued the operation. */
  readonly process: number;
  /** From the one monotonic clock of the run, in the history's `timeUnit`. */
  readonly time: number;
  readonly key: string;
  /** `read`, `write`, `incr`, `append`, ... */
  readonly f: string;
  /** On an invoke, the arguments; on a completion, the result (`null` when none or unknown). */
  readonly value: Json;
  /** On a `fail` or `info` completion: why, in words (an error code or message). */
  readonly error?: string;
}

export const HISTORY_FORMAT = 'jepsen-lite/history@1';

export interface History {
  readonly format: typeof HISTORY_FORMAT;
  readonly timeUnit: TimeUnit;
  readonly events: readonly HistoryEvent[];
}

/** One client operation: an invoke paired with its completion. */
export interface Operation {
  /** Position in invoke order (0-based), stable for a given history. */
  readonly id: number;
  readonly process: number;
  readonly key: string;
  readonly f: string;
  readonly args: Json;
  /** The result of an `ok` operation; `null` otherwise. */
  readonly result: Json;
  readonly outcome: Outcome;
  readonly invokeTime: number;
  /**
   * When the client saw the completion; `Infinity` when none was recorded. For an `info`
   * operation this is when the client gave up, not a bound on when it may take effect: use
   * `effectDeadline`.
   */
  readonly completeTime: number;
  readonly error?: string;
}

/** The latest instant at which `op` may take effect: +infinity for an `info` operation. */
export function effectDeadline(op: Operation): number {
  return op.outcome === EventType.info ? Infinity : op.completeTime;
}

/** `a` certainly took effect before `b` was invoked (real-time order; equal times are concurrent). */
export function precedes(a: Operation, b: Operation): boolean {
  return effectDeadline(a) < b.invokeTime;
}

export class HistoryError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HistoryError';
    this.code = code;
  }
}

/**
 * Pairs each invoke with its process's next completion. Throws `HistoryError` when the events
 * cannot come from well-behaved clients: a completion with nothing outstanding, a second invoke
 * while one is outstanding, a completion naming another key or function, time going backwards
 * within a process.
 */
export function operations(history: History): Operation[] {
  const byId: Operation[] = [];
  const pairer = new EventPairer((invoke, id, completion) => {
    byId[id] = {
      id,
      process: invoke.process,
      key: invoke.key,
      f: invoke.f,
      args: invoke.value,
      result: completion?.type === EventType.ok ? completion.value : null,
      outcome: completion ? (completion.type as Outcome) : EventType.info,
      invokeTime: invoke.time,
      completeTime: completion ? completion.time : Infinity,
      ...(completion?.error !== undefined ? { error: completion.error } : {}),
    };
  });
  for (const event of history.events) pairer.add(event);
  pairer.finish();
  return byId;
}

/**
 * The pairing rules of `operations`, one event at a time, for whoever stores the operations
 * (an array of objects, or the columns of an `OperationLog` as the run goes). Operations are
 * numbered in invoke order; `complete` is called once per operation, at its completion, or with
 * no completion from `finish` for those still outstanding.
 */
export class EventPairer {
  private readonly outstanding = new Map<number, { readonly invoke: HistoryEvent; readonly id: number; readonly eventIndex: number }>();
  private events = 0;
  private nextId = 0;

  constructor(private readonly complete: (invoke: HistoryEvent, id: number, completion: HistoryEvent | undefined) => void) {}

  /** The id the next invoke gets. */
  get operationCount(): number {
    return this.nextId;
  }

  /** Takes the next event; throws `HistoryError` as `operations` does, naming the event's index. */
  add(event: HistoryEvent): number {
    const index = this.events++;
    const pending = this.outstanding.get(event.process);
    if (event.type === EventType.invoke) {
      if (pending) {
        throw new HistoryError(
          'OVERLAPPING_INVOKE',
          `event ${index}: process ${event.process} invoked ${event.f} while event ` +
            `${pending.eventIndex} (${pending.invoke.f}) was outstanding`,
        );
      }
      const id = this.nextId++;
      this.outstanding.set(event.process, { invoke: event, id, eventIndex: index });
      return id;
    }
    if (!pending) {
      throw new HistoryError(
        'UNMATCHED_COMPLETION',
        `event ${index}: ${event.type} for process ${event.process} with no outstanding invoke`,
      );
    }
    if (pending.invoke.key !== event.key || pending.invoke.f !== event.f) {
      throw new HistoryError(
        'MISMATCHED_COMPLETION',
        `event ${index}: ${event.type} ${event.f} ${event.key} completes ` +
          `${pending.invoke.f} ${pending.invoke.key} of process ${event.process}`,
      );
    }
    if (event.time < pending.invoke.time) {
      throw new HistoryError(
        'TIME_WENT_BACKWARDS',
        `event ${index}: process ${event.process} completed at ${event.time}, before its invoke at ${pending.invoke.time}`,
      );
    }
    this.outstanding.delete(event.process);
    this.complete(pending.invoke, pending.id, event);
    return pending.id;
  }

  /** Completes, as unknown, every operation still outstanding (the harness stopped first). */
  finish(): void {
    for (const pending of this.outstanding.values()) this.complete(pending.invoke, pending.id, undefined);
    this.outstanding.clear();
  }
}

/** Counts of operations by outcome. */
export interface OutcomeCounts {
  total: number;
  ok: number;
  fail: number;
  info: number;
}

export function countOutcomes(ops: readonly Operation[]): OutcomeCounts {
  const counts: OutcomeCounts = { total: ops.length, ok: 0, fail: 0, info: 0 };
  for (const op of ops) counts[op.outcome]++;
  return counts;
}

/** One line per operation, for reports: `#12 p3 write x "a" -> ok  [1020, 1040]`. */
export function formatOperation(op: Operation): string {
  const args = op.args === null ? '' : ` ${JSON.stringify(op.args)}`;
  const result = op.outcome === EventType.ok && op.result !== null ? ` ${JSON.stringify(op.result)}` : '';
  const error = op.error !== undefined ? ` (${op.error})` : '';
  const end = op.completeTime === Infinity ? '…' : String(op.completeTime);
  return `#${op.id} p${op.process} ${op.f} ${op.key}${args} -> ${op.outcome}${result}${error}  [${op.invokeTime}, ${end}]`;
}

// ---------------------------------------------------------------------------------------------
// Building histories (tests, and the harness's recorder)

/** An invoked operation waiting for its completion. */
export interface PendingOperation {
  readonly process: number;
  readonly key: string;
  readonly f: string;
}

/** `[invoke, complete]` times of an operation. */
export type Span = readonly [number, number];

/**
 * What records a history event by event, in the order the events happen: `HistoryBuilder` (tests)
 * and the harness's streaming recorder (`recorder.ts`).
 */
export interface OperationRecorder {
  invoke(process: number, f: string, key: string, args: Json, time: number): PendingOperation;
  ok(pending: PendingOperation, result: Json, time: number): unknown;
  fail(pending: PendingOperation, time: number, error?: string): unknown;
  info(pending: PendingOperation, time: number, error?: string): unknown;
}

/**
 * Builds a history event by event (`invoke`, then `ok` / `fail` / `info`), or operation by
 * operation for tests (`write`, `read`, `incr`, `append`, `op`). `build()` orders the events by
 * time; events with equal times keep the order they were added in.
 */
export class HistoryBuilder implements OperationRecorder {
  private readonly events: HistoryEvent[] = [];

  constructor(private readonly timeUnit: TimeUnit = 'ms') {}

  invoke(process: number, f: string, key: string, args: Json, time: number): PendingOperation {
    this.events.push({ type: EventType.invoke, process, time, key, f, value: args });
    return { process, key, f };
  }

  ok(pending: PendingOperation, result: Json, time: number): this {
    return this.complete(pending, EventType.ok, result, time);
  }

  fail(pending: PendingOperation, time: number, error?: string): this {
    return this.complete(pending, EventType.fail, null, time, error);
  }

  info(pending: PendingOperation, time: number, error?: string): this {
    return this.complete(pending, EventType.info, null, time, error);
  }

  complete(pending: PendingOperation, type: Outcome, result: Json, time: number, error?: string): this {
    const { process, key, f } = pending;
    this.events.push({ type, process, time, key, f, value: result, ...(error !== undefined ? { error } : {}) });
    return this;
  }

  /** A whole operation. `result` is recorded only when the outcome is `ok`. */
  op(process: number, f: string, key: string, args: Json, result: Json, span: Span, outcome: Outcome = 'ok'): this {
    const pending = this.invoke(process, f, key, args, span[0]);
    return this.complete(pending, outcome, outcome === EventType.ok ? result : null, span[1]);
  }

  write(process: number, key: string, value: Json, span: Span, outcome: Outcome = 'ok'): this {
    return this.op(process, Fn.write, key, value, 'OK', span, outcome);
  }

  read(process: number, key: string, result: Json, span: Span, outcome: Outcome = 'ok'): this {
    return this.op(process, Fn.read, key, null, result, span, outcome);
  }

  /** INCR (delta 1) or INCRBY; `result` is the value after the increment. */
  incr(process: number, key: string, result: number | null, span: Span, outcome: Outcome = 'ok', delta = 1): this {
    return this.op(process, Fn.incr, key, delta, result, span, outcome);
  }

  append(process: number, key: string, element: Json, span: Span, outcome: Outcome = 'ok'): this {
    return this.op(process, Fn.append, key, element, 'OK', span, outcome);
  }

  build(): History {
    const order = this.events.map((event, index) => ({ event, index }));
    order.sort((a, b) => a.event.time - b.event.time || a.index - b.index);
    return { format: HISTORY_FORMAT, timeUnit: this.timeUnit, events: order.map(({ event }) => event) };
  }
}

// ---------------------------------------------------------------------------------------------
// On disk: one JSON document, or JSON Lines (a header line, then one event a line) for a harness
// that appends as it goes. A torn last line, as a kill -9 leaves it, is dropped.

export function historyToJson(history: History): string {
  return JSON.stringify(history);
}

export function historyFromJson(text: string): History {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new HistoryError('BAD_JSON', 'history is not valid JSON', { cause });
  }
  if (!isRecord(parsed)) throw new HistoryError('BAD_HISTORY', 'history is not a JSON object');
  const header = parseHeader(parsed, 'history');
  if (!Array.isArray(parsed.events)) throw new HistoryError('BAD_HISTORY', 'history has no events array');
  return { ...header, events: parsed.events.map((event, index) => parseEvent(event, `event ${index}`)) };
}

export function historyHeaderLine(timeUnit: TimeUnit): string {
  return JSON.stringify({ format: HISTORY_FORMAT, timeUnit });
}

/**
 * `JSON.stringify(event)`, field for field, written out by hand: a run writes millions.
 * `valueText`: the event's value as JSON, when the caller has it already.
 */
export function eventToJsonLine(event: HistoryEvent, valueText = JSON.stringify(event.value)): string {
  const error = event.error !== undefined ? `,"error":${JSON.stringify(event.error)}` : '';
  return `{"type":"${event.type}","process":${JSON.stringify(event.process)},"time":${JSON.stringify(event.time)},"key":${JSON.stringify(event.key)},"f":${JSON.stringify(event.f)},"value":${valueText}${error}}`;
}

/** The whole history as one string: for tests and small histories; a run streams it (`recorder.ts`). */
export function historyToJsonLines(history: History): string {
  const lines = [historyHeaderLine(history.timeUnit)];
  for (const event of history.events) lines.push(eventToJsonLine(event));
  return lines.join('\n') + '\n';
}

export function historyFromJsonLines(text: string): History {
  const events: HistoryEvent[] = [];
  const reader = new JsonLinesReader((event) => events.push(event));
  for (const line of text.split('\n')) reader.line(line);
  // split() leaves an empty last piece after a final newline; it is not a line.
  return { ...reader.end(text.endsWith('\n')), events };
}

/**
 * JSON Lines read one line at a time (a file of any size, as it streams in): the header, then
 * events, each handed to `onEvent`. A line that is not JSON is an error, except the last one of a
 * file that does not end with a newline: torn by a crash mid-write, it is dropped. Blank lines at
 * the end are ignored.
 */
export class JsonLinesReader {
  private lineNumber = 0;
  /** The last non-blank line, held until it is known whether it is the file's last. */
  private held: { readonly text: string; readonly number: number } | undefined;
  /** The first blank line since `held`: an error if another line follows. */
  private blank: number | undefined;
  private header: Pick<History, 'format' | 'timeUnit'> | undefined;

  constructor(
    private readonly onEvent: (event: HistoryEvent) => void,
    private readonly onHeader?: (header: Pick<History, 'format' | 'timeUnit'>) => void,
  ) {}

  /** One line, without its newline. */
  line(text: string): void {
    this.lineNumber++;
    if (text.trim() === '') {
      this.blank ??= this.lineNumber;
      return;
    }
    if (this.held) this.take(this.held, false);
    if (this.blank !== undefined) throw new HistoryError('BAD_JSON', `line ${this.blank} is not valid JSON`);
    this.held = { text, number: this.lineNumber };
  }

  /** The end of the input; `endsWithNewline`: whether its last character was a newline. */
  end(endsWithNewline: boolean): Pick<History, 'format' | 'timeUnit'> {
    if (this.held) this.take(this.held, !endsWithNewline);
    this.held = undefined;
    if (!this.header) throw new HistoryError('BAD_HISTORY', 'empty history file');
    return this.header;
  }

  private take(line: { readonly text: string; readonly number: number }, mayBeTorn: boolean): void {
    if (!this.header) {
      this.header = parseHeader(parseLine(line.text, line.number), `line ${line.number}`);
      this.onHeader?.(this.header);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line.text);
    } catch (cause) {
      if (mayBeTorn) return; // torn by a crash mid-write
      throw new HistoryError('BAD_JSON', `line ${line.number} is not valid JSON`, { cause });
    }
    this.onEvent(parseEvent(value, `line ${line.number}`));
  }
}

function parseLine(line: string, lineNumber: number): unknown {
  try {
    return JSON.parse(line);
  } catch (cause) {
    throw new HistoryError('BAD_JSON', `line ${lineNumber} is not valid JSON`, { cause });
  }
}

function parseHeader(value: unknown, where: string): Pick<History, 'format' | 'timeUnit'> {
  if (!isRecord(value) || value.format !== HISTORY_FORMAT) {
    throw new HistoryError('BAD_FORMAT', `${where}: expected format ${JSON.stringify(HISTORY_FORMAT)}`);
  }
  if (value.timeUnit !== 'ms' && value.timeUnit !== 'ns') {
    throw new HistoryError('BAD_FORMAT', `${where}: timeUnit must be "ms" or "ns"`);
  }
  return { format: HISTORY_FORMAT, timeUnit: value.timeUnit };
}

const EVENT_TYPES: ReadonlySet<unknown> = new Set(Object.values(EventType));

function parseEvent(value: unknown, where: string): HistoryEvent {
  const bad = (what: string): never => {
    throw new HistoryError('BAD_EVENT', `${where}: ${what}`);
  };
  if (!isRecord(value)) return bad('not an object');
  const { type, process, time, key, f, error } = value;
  if (!EVENT_TYPES.has(type)) bad(`unknown type ${JSON.stringify(type)}`);
  if (typeof process !== 'number' || !Number.isInteger(process)) bad('process must be an integer');
  if (typeof time !== 'number' || !Number.isFinite(time)) bad('time must be a finite number');
  if (typeof key !== 'string') bad('key must be a string');
  if (typeof f !== 'string') bad('f must be a string');
  if (error !== undefined && typeof error !== 'string') bad('error must be a string');
  return {
    type: type as EventType,
    process: process as number,
    time: time as number,
    key: key as string,
    f: f as string,
    value: (value.value ?? null) as Json,
    ...(error !== undefined ? { error: error as string } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
