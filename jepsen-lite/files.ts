/**
 * Text written to a file piece by piece, so that what a run writes (a history of millions of
 * events, a report, a plot) never has to be one string in memory.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';

/** Pieces are gathered into writes of about this many characters. */
const BATCH_CHARS = 64 * 1024;

export class TextFileWriter {
  private readonly stream: WriteStream;
  private pieces: string[] = [];
  private pending = 0;
  private failure: Error | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  /**
   * `flushEveryMs`: also hand what is gathered to the file this often, so that a harness killed
   * mid-run leaves a history at most that old (the reader drops a torn last line).
   */
  constructor(
    readonly path: string,
    options: { flushEveryMs?: number } = {},
  ) {
    this.stream = createWriteStream(path);
    this.stream.on('error', (error) => (this.failure ??= error));
    if (options.flushEveryMs !== undefined) {
      this.timer = setInterval(() => this.flush(), options.flushEveryMs);
      this.timer.unref();
    }
  }

  /** Never throws: a failed file is reported by `drained` and `close`. */
  write(text: string): void {
    if (this.failure) return;
    this.pieces.push(text);
    this.pending += text.length;
    if (this.pending >= BATCH_CHARS) this.flush();
  }

  /** Characters written but not yet taken by the file system: what this writer holds in memory. */
  get backlog(): number {
    return this.pending + this.stream.writableLength;
  }

  /**
   * Resolves once the file has taken what was written (below the stream's high-water mark); a
   * producer that can wait calls this now and then, so memory stays bounded if the disk is slow.
   */
  async drained(): Promise<void> {
    this.flush();
    if (this.stream.writableNeedDrain) await new Promise<void>((resolve) => this.stream.once('drain', resolve));
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.flush();
    this.stream.end();
    await finished(this.stream);
    if (this.failure) throw this.failure;
  }

  private flush(): void {
    if (this.pending === 0) return;
    const text = this.pieces.length === 1 ? this.pieces[0]! : this.pieces.join('');
    this.pieces = [];
    this.pending = 0;
    this.stream.write(text);
  }
}
