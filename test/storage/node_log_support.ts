/**
 * Shared by the NodeLog tests: an fsync that can be counted and held back (a slow or interrupted
 * disk), a logger that records, and helpers to open a node log and a group's view of it.
 */
import { writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DurableLog, PersistedLog } from '../../src/storage/durable_log.js';
import type { StorageLogger } from '../../src/storage/file_log.js';
import { NodeLog } from '../../src/storage/node_log.js';
import type { NodeLogIo, NodeLogOptions } from '../../src/storage/node_log.js';
import { readSegment, segmentNames } from './support.js';

/**
 * The node log's fsync, counted; while `held`, each call waits until the test releases it (the
 * real datasync runs then) or fails it (a disk error, or a crash: the caller never hears back).
 */
export class GatedIo implements NodeLogIo {
  calls = 0;
  held = false;
  private waiting: { readonly file: FileHandle; readonly resolve: () => void; readonly reject: (error: unknown) => void }[] = [];

  private listeners: (() => void)[] = [];

  datasync(file: FileHandle): Promise<void> {
    this.calls++;
    if (!this.held) return file.datasync();
    const held = new Promise<void>((resolve, reject) => this.waiting.push({ file, resolve, reject }));
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
    return held;
  }

  get pending(): number {
    return this.waiting.length;
  }

  /**
   * Resolves once an fsync is held (a batch has been written and waits for it). A liveness
   * guard, not a timing assertion: after `guardMs` it rejects, so a lost batch fails the test
   * with a message instead of hanging it.
   */
  whenHeld(guardMs = 20_000): Promise<void> {
    if (this.waiting.length > 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no fsync arrived: the batch was never written')), guardMs);
      this.listeners.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Which comes first: `promises` all settling, or the next held fsync (another batch written
   * meanwhile). A call of the batch that was released must settle before any later batch.
   */
  async settleBeforeNextBatch(promises: readonly Promise<unknown>[]): Promise<'settled' | 'another batch came first'> {
    let cancel = (): void => undefined;
    const next = new Promise<'another batch came first'>((resolve) => {
      const listener = (): void => resolve('another batch came first');
      this.listeners.push(listener);
      cancel = () => {
        this.listeners = this.listeners.filter((l) => l !== listener);
      };
    });
    try {
      return await Promise.race([Promise.all(promises).then(() => 'settled' as const), next]);
    } finally {
      cancel();
    }
  }

  /** Lets the held fsyncs complete (in order), and stops holding new ones unless `keepHolding`. */
  async release(keepHolding = false): Promise<void> {
    this.held = keepHolding;
    const waiting = this.waiting;
    this.waiting = [];
    for (const { file, resolve, reject } of waiting) await file.datasync().then(resolve, reject);
  }

  fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const { reject } of waiting) reject(error);
  }
}

export class RecordingLogger implements StorageLogger {
  readonly warnings: Record<string, unknown>[] = [];
  readonly infos: Record<string, unknown>[] = [];
  warn(fields: Record<string, unknown>): void {
    this.warnings.push(fields);
  }
  info(fields: Record<string, unknown>): void {
    this.infos.push(fields);
  }
}

export const quietLogger: StorageLogger = { warn: () => undefined, info: () => undefined };

export async function openNodeLog(dir: string, options: Partial<NodeLogOptions> = {}): Promise<NodeLog> {
  const log = new NodeLog({ dir, logger: quietLogger, ...options });
  await log.open();
  return log;
}

export async function openGroup(node: NodeLog, groupId: string): Promise<DurableLog> {
  const view = node.group(groupId);
  await view.load();
  return view;
}

/** Every group's state in a fresh NodeLog over `dir` (closed again). */
export async function reloadGroups(dir: string, groupIds: readonly string[], options: Partial<NodeLogOptions> = {}): Promise<Map<string, PersistedLog>> {
  const node = await openNodeLog(dir, options);
  try {
    const out = new Map<string, PersistedLog>();
    for (const id of groupIds) out.set(id, await node.group(id).load());
    return out;
  } finally {
    await node.close();
  }
}

/** Turns of the event loop, enough for queued writes to reach their fsync. */
export async function turns(count = 3): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Settles to 'resolved' or the error, so a test can look at a promise without awaiting it first. */
export function observe(promise: Promise<unknown>): { readonly state: () => 'pending' | 'resolved' | 'rejected'; readonly settled: Promise<unknown> } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  const settled = promise.then(
    () => {
      state = 'resolved';
      return 'resolved';
    },
    (error: unknown) => {
      state = 'rejected';
      return error;
    },
  );
  return { state: () => state, settled };
}

/**
 * Copies of segments, to bring back those a deletion removed (a crash between its unlinks).
 * `update()` is called whenever no write is under way or one is held at its fsync: a segment that
 * is not the last never changes again, so it is read once; the last one is read again each time.
 */
export class SegmentArchive {
  private readonly contents = new Map<string, Buffer>();

  async update(dir: string): Promise<void> {
    const names = await segmentNames(dir);
    for (const [i, name] of names.entries()) {
      if (i === names.length - 1 || !this.contents.has(name)) this.contents.set(name, await readSegment(dir, name));
    }
  }

  async restore(dir: string, names: readonly string[]): Promise<void> {
    for (const name of names) await writeFile(join(dir, name), this.contents.get(name)!);
  }
}
