/**
 * The harness's history recorder: each event goes, as it happens, to `history.jsonl` (one JSON
 * line, through a buffered file writer) and into an `OperationLog` (one row per operation). A run
 * of an hour keeps neither an object per event nor the file's text in memory, and a harness killed
 * mid-run leaves a history that `readHistoryFile` reads back (its torn last line dropped).
 *
 * Events must come in the order they happen, as the harness's clients produce them (each reads
 * the run's clock just before recording): rows are then in invoke order, as `operations()`
 * numbers a history built by `HistoryBuilder`.
 */
import { createReadStream } from 'node:fs';
import { TextFileWriter } from './files.js';
import {
  EventType,
  HistoryError,
  JsonLinesReader,
  eventToJsonLine,
  historyHeaderLine,
  type EventPairer,
  type HistoryEvent,
  type Json,
  type OperationRecorder,
  type Outcome,
  type PendingOperation,
  type TimeUnit,
} from './history.js';
import { OperationLog } from './oplog.js';

/** A file backlog beyond which `drained` makes the clients wait for the disk. */
const MAX_BACKLOG_CHARS = 8 * 1024 * 1024;

export class HistoryRecorder implements OperationRecorder {
  readonly log: OperationLog;
  private readonly pairer: EventPairer;
  private events = 0;

  /** `file`: where the history goes as JSON Lines; none, and only the log is kept. */
  constructor(
    timeUnit: TimeUnit = 'ms',
    private readonly file?: TextFileWriter,
  ) {
    this.log = new OperationLog(timeUnit);
    this.pairer = this.log.pairer();
    file?.write(historyHeaderLine(timeUnit) + '\n');
  }

  get eventCount(): number {
    return this.events;
  }

  invoke(process: number, f: string, key: string, args: Json, time: number): PendingOperation {
    this.record({ type: EventType.invoke, process, time, key, f, value: args });
    return { process, key, f };
  }

  ok(pending: PendingOperation, result: Json, time: number): void {
    this.complete(pending, EventType.ok, result, time);
  }

  fail(pending: PendingOperation, time: number, error?: string): void {
    this.complete(pending, EventType.fail, null, time, error);
  }

  info(pending: PendingOperation, time: number, error?: string): void {
    this.complete(pending, EventType.info, null, time, error);
  }

  complete(pending: PendingOperation, type: Outcome, result: Json, time: number, error?: string): void {
    const { process, key, f } = pending;
    this.record({ type, process, time, key, f, value: result, ...(error !== undefined ? { error } : {}) });
  }

  /** Waits for the disk when the file has fallen behind; immediate otherwise. */
  async drained(): Promise<void> {
    if (this.file !== undefined && this.file.backlog > MAX_BACKLOG_CHARS) await this.file.drained();
  }

  /** Writes out what is buffered and closes the file. */
  async close(): Promise<void> {
    await this.file?.close();
  }

  private record(event: HistoryEvent): void {
    this.events++;
    const valueText = JSON.stringify(event.value);
    this.file?.write(eventToJsonLine(event, valueText) + '\n');
    if (this.log.malformed !== undefined) return;
    try {
      this.log.addEvent(this.pairer, event, valueText);
    } catch (error) {
      if (!(error instanceof HistoryError)) throw error;
      // The checker answers unknown, naming this; the file keeps every event regardless.
      this.log.malformed = error;
    }
  }
}

/**
 * Reads a `history.jsonl` into a log, streaming: the file is never one string, so a history of
 * any length that fits as a log can be checked again. Malformed pairing sets `malformed` (the
 * checker answers unknown); a file that is not JSON Lines throws `HistoryError`.
 */
export async function readHistoryFile(path: string): Promise<OperationLog> {
  let log: OperationLog | undefined;
  let pairer: EventPairer | undefined;
  const reader = new JsonLinesReader(
    (event) => {
      if (log!.malformed !== undefined) return;
      try {
        log!.addEvent(pairer!, event);
      } catch (error) {
        if (!(error instanceof HistoryError)) throw error;
        log!.malformed = error;
      }
    },
    (header) => {
      log = new OperationLog(header.timeUnit);
      pairer = log.pairer();
    },
  );
  let rest = '';
  let endsWithNewline = false;
  for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
    const text = rest + (chunk as string);
    let from = 0;
    for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', from)) {
      reader.line(text.slice(from, newline));
      from = newline + 1;
    }
    rest = text.slice(from);
    endsWithNewline = text.length > 0 && text.endsWith('\n');
  }
  if (rest !== '') reader.line(rest);
  reader.end(endsWithNewline);
  return log!;
}
