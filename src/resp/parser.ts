import { ProtocolError, ProtocolErrorCode, protocolError } from './errors.js';
import { splitInlineArgs } from './inline_args.js';
import { defaultRespLimits, type RespLimits } from './limits.js';
import { parseRedisInteger } from './redis_integer.js';

/**
 * The request parser of one connection, resumable at any byte, as processInputBuffer,
 * processMultibulkBuffer and processInlineBuffer in Redis's networking.c:
 *
 *   feed(chunk)  ─▶  next() ─▶ Buffer[]        one command (arguments, binary-safe)
 *                          ─▶ null            needs more bytes
 *                          ─▶ ProtocolError   the stream is broken: write its reply, then close
 *
 * A request starting with `*` is multibulk (`*N\r\n` then N times `$len\r\n<len bytes>\r\n`);
 * anything else is an inline line split with sdssplitargs rules. `*0`, `*-1` (any count <= 0)
 * and empty inline lines are skipped, as Redis does. Once an error is returned, the parser
 * returns it again forever.
 *
 * Redis quirks kept on purpose, because clients can observe them:
 *  - the two bytes after a bulk payload are skipped without being checked to be CRLF, and the
 *    byte after the CR of a header line is not checked to be LF;
 *  - header and inline lines are found with strchr: a NUL byte before the terminator means the
 *    line never ends, so the connection waits until the line passes the inline limit.
 *
 * One approximation: Redis notices an over-long line (`too big inline request`, `too big ...
 * count string`) when more than 64 KB are buffered without a terminator after some read(2), so
 * whether a line a little longer than the limit passes depends on how the kernel split the
 * stream. Here a line passes if and only if at most `maxInlineSize` bytes precede its
 * terminator: exactly the lines Redis accepts however the stream is split.
 *
 * Memory and copies. Arguments are views (subarray) into the buffers the parser holds, which
 * it never writes over once a view exists: a consumer keeping an argument for long (past the
 * command) should copy it so that it does not pin its whole chunk. A chunk that starts a
 * request is parsed in place. Only an element (line or bulk) that straddles chunks is copied,
 * once, into a buffer sized for it; a bulk of hundreds of megabytes is therefore copied exactly
 * once, chunk by chunk, into a buffer of its exact size. `feed` takes ownership of the chunk:
 * the caller must not change it afterwards.
 */
export class RespParser {
  /** Before AUTH on a server that requires a password, Redis bounds requests much lower. */
  authenticated = true;

  private readonly limits: RespLimits;

  // Unparsed bytes are buf[pos, end), then the queued chunks in order.
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  /** buf was allocated here: bytes past `end` may be written. */
  private owned = false;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;

  // The multibulk request being read.
  private argv: Buffer[] = [];
  private argsRemaining = 0;
  /** Length of the bulk whose payload comes next, or -1 when its `$len` line comes next. */
  private bulkLength = -1;

  // The line being looked for.
  /** Bytes after `pos` already known to hold neither terminator nor NUL. */
  private scanned = 0;
  /** A NUL came before the terminator: strchr never finds it. */
  private lineBlocked = false;
  /** After step() needs more: bytes still missing for the current element, or 0 for "a line, until its terminator". */
  private need = 0;
  private lineTerminator = LF;

  private failure: ProtocolError | null = null;

  constructor(limits: Partial<RespLimits> = {}) {
    this.limits = { ...defaultRespLimits, ...limits };
  }

  /** Unparsed bytes held (Redis's qbuf). */
  get bufferedBytes(): number {
    return this.end - this.pos + this.queuedBytes;
  }

  feed(chunk: Buffer): void {
    if (this.failure !== null || chunk.length === 0) return;
    if (this.pos === this.end && this.queue.length === 0) {
      this.adopt(chunk);
    } else {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
    }
  }

  next(): Buffer[] | ProtocolError | null {
    if (this.failure !== null) return this.failure;
    for (;;) {
      const result = this.step();
      if (result !== NEED_MORE) {
        if (result instanceof ProtocolError) this.fail(result);
        return result;
      }
      if (this.lineBlocked) {
        // The line can never end; only its size matters now.
        if (this.bufferedBytes > this.limits.maxInlineSize) return this.fail(protocolError(this.lineTooBigCode()));
        return null;
      }
      if (!this.pullQueued()) break;
    }
    if (this.bufferedBytes > this.limits.maxQueryBuffer) return this.fail(protocolError(ProtocolErrorCode.QUERY_BUFFER_LIMIT));
    if (this.pos === this.end) this.adopt(EMPTY);
    return null;
  }

  /** Parses what buf[pos, end) holds: a command, an error, or NEED_MORE with `need` set. */
  private step(): Buffer[] | ProtocolError | typeof NEED_MORE {
    const buf = this.buf;
    const end = this.end;
    const limits = this.limits;
    for (;;) {
      if (this.argsRemaining === 0) {
        if (this.pos >= end) return this.needLine(LF);
        if (buf[this.pos] === STAR) {
          const cr = this.findTerminator(CR);
          if (cr < 0) return this.lineNotFound(CR);
          if (cr + 1 >= end) return this.needBytes(1);
          const count = parseRedisInteger(buf, this.pos + 1, cr);
          if (count === null || count > limits.maxMultibulkLength) {
            return protocolError(ProtocolErrorCode.INVALID_MULTIBULK_LENGTH);
          }
          if (!this.authenticated && count > limits.maxUnauthenticatedMultibulkLength) {
            return protocolError(ProtocolErrorCode.UNAUTHENTICATED_MULTIBULK_LENGTH);
          }
          this.consumeTo(cr + 2);
          if (count <= 0) continue;
          this.argsRemaining = count;
          this.argv = [];
        } else {
          const lf = this.findTerminator(LF);
          if (lf < 0) return this.lineNotFound(LF);
          const lineEnd = lf > this.pos && buf[lf - 1] === CR ? lf - 1 : lf;
          const args = splitInlineArgs(buf, this.pos, lineEnd);
          if (args === null) return protocolError(ProtocolErrorCode.UNBALANCED_QUOTES);
          this.consumeTo(lf + 1);
          if (args.length === 0) continue;
          return args;
        }
      }

      while (this.argsRemaining > 0) {
        if (this.bulkLength < 0) {
          const cr = this.findTerminator(CR);
          if (cr < 0) return this.lineNotFound(CR);
          if (cr + 1 >= end) return this.needBytes(1);
          const first = buf[this.pos]!;
          if (first !== DOLLAR) {
            return protocolError(
              ProtocolErrorCode.EXPECTED_DOLLAR,
              `Protocol error: expected '$', got '${String.fromCharCode(first)}'`,
            );
          }
          const length = parseRedisInteger(buf, this.pos + 1, cr);
          if (length === null || length < 0 || length > limits.maxBulkLength) {
            return protocolError(ProtocolErrorCode.INVALID_BULK_LENGTH);
          }
          if (!this.authenticated && length > limits.maxUnauthenticatedBulkLength) {
            return protocolError(ProtocolErrorCode.UNAUTHENTICATED_BULK_LENGTH);
          }
          this.consumeTo(cr + 2);
          this.bulkLength = length;
        }
        const available = end - this.pos;
        if (available < this.bulkLength + 2) return this.needBytes(this.bulkLength + 2 - available);
        this.argv.push(buf.subarray(this.pos, this.pos + this.bulkLength));
        this.consumeTo(this.pos + this.bulkLength + 2);
        this.bulkLength = -1;
        this.argsRemaining--;
      }
      const argv = this.argv;
      this.argv = [];
      return argv;
    }
  }

  /**
   * Index of the line's terminator in buf, or -1: not there yet, or never (a NUL first). Only
   * the first maxInlineSize + 1 bytes of a line are searched, and each byte once however the
   * line arrives.
   */
  private findTerminator(terminator: number): number {
    if (this.lineBlocked) return -1;
    const buf = this.buf;
    const limit = Math.min(this.end, this.pos + this.limits.maxInlineSize + 1);
    for (let i = this.pos + this.scanned; i < limit; i++) {
      const c = buf[i];
      if (c === terminator) return i;
      if (c === NUL) {
        this.lineBlocked = true;
        this.lineTerminator = terminator;
        return -1;
      }
    }
    this.scanned = Math.max(0, limit - this.pos);
    return -1;
  }

  private lineNotFound(terminator: number): ProtocolError | typeof NEED_MORE {
    if (this.lineBlocked) return NEED_MORE;
    this.lineTerminator = terminator;
    if (this.end - this.pos > this.limits.maxInlineSize) return protocolError(this.lineTooBigCode());
    return this.needLine(terminator);
  }

  private lineTooBigCode(): ProtocolErrorCode {
    if (this.lineTerminator === LF) return ProtocolErrorCode.TOO_BIG_INLINE_REQUEST;
    return this.argsRemaining === 0 ? ProtocolErrorCode.TOO_BIG_MBULK_COUNT : ProtocolErrorCode.TOO_BIG_BULK_COUNT;
  }

  private needLine(terminator: number): typeof NEED_MORE {
    this.lineTerminator = terminator;
    this.need = 0;
    return NEED_MORE;
  }

  private needBytes(count: number): typeof NEED_MORE {
    this.need = count;
    return NEED_MORE;
  }

  private consumeTo(position: number): void {
    this.pos = position;
    this.scanned = 0;
  }

  /**
   * Moves queued bytes behind buf[pos, end) so that step() can go on; false when none are queued.
   * With nothing left unparsed, the next chunk is parsed in place. Otherwise only what the
   * current element still needs is copied (up to its terminator, or its missing payload bytes),
   * into spare room of a buffer of ours or a new one sized for the element; the rest of the
   * chunk stays queued, to be parsed in place.
   */
  private pullQueued(): boolean {
    const chunk = this.queue.shift();
    if (chunk === undefined) return false;
    this.queuedBytes -= chunk.length;
    const available = this.end - this.pos;
    if (available === 0) {
      this.adopt(chunk);
      return true;
    }

    let take: number;
    let capacity: number;
    if (this.need > 0) {
      take = Math.min(this.need, chunk.length);
      capacity = available + this.need;
    } else {
      take = chunk.length;
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i];
        if (c === this.lineTerminator || c === NUL) {
          // A header line also needs the byte after its CR.
          take = Math.min(chunk.length, c === CR ? i + 2 : i + 1);
          break;
        }
      }
      capacity = take === chunk.length ? 2 * (available + take) : available + take;
    }

    if (this.owned && this.buf.length - this.end >= take) {
      chunk.copy(this.buf, this.end, 0, take);
      this.end += take;
    } else {
      const grown = Buffer.allocUnsafe(Math.max(capacity, available + take));
      this.buf.copy(grown, 0, this.pos, this.end);
      chunk.copy(grown, available, 0, take);
      this.buf = grown;
      this.pos = 0;
      this.end = available + take;
      this.owned = true;
    }
    if (take < chunk.length) {
      this.queue.unshift(chunk.subarray(take));
      this.queuedBytes += chunk.length - take;
    }
    return true;
  }

  private adopt(chunk: Buffer): void {
    this.buf = chunk;
    this.pos = 0;
    this.end = chunk.length;
    this.owned = false;
    this.scanned = 0;
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failure = error;
    this.buf = EMPTY;
    this.pos = this.end = 0;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.argv = [];
    return error;
  }
}

const EMPTY = Buffer.alloc(0);
const NEED_MORE = Symbol('need more');
const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const DOLLAR = 0x24;
const STAR = 0x2a;
