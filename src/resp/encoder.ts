import { formatDouble } from './format_double.js';
import { nullArray, nullReply, ok, type Reply } from './reply.js';

/** The protocol a connection speaks: 2 until HELLO 3. */
export type Protocol = 2 | 3;

/**
 * Writes replies as Redis 7.0 does, in RESP2 or RESP3:
 *
 *   kind       RESP3                      RESP2
 *   simple     +text                      same
 *   error      -text                      same
 *   integer    :n                         same
 *   bulk       $len payload               same
 *   null       _                          $-1
 *   nullArray  _                          *-1
 *   array      *n items                   same
 *   map        %n key value ...           *2n key value ...
 *   set        ~n items                   *n items
 *   double     ,%.17g  (,inf ,-inf)       $len %.17g  (inf, -inf)
 *   boolean    #t / #f                    :1 / :0
 *   verbatim   =len fmt:payload           $len payload
 *
 * (every line ends in CRLF). A double's `text`, when given, replaces the %.17g form in both
 * protocols. Simple and error texts are byte strings (see reply.ts); CR and LF in them become
 * spaces.
 *
 * The writer appends the replies of one turn into one buffer, so that a connection answers a
 * pipeline with one socket write. Payloads of LARGE_PAYLOAD bytes or more are not copied:
 * takeChunks() hands them out by reference between the surrounding bytes.
 */
export class ReplyWriter {
  private buf: Buffer;
  /** Bytes of buf before `start` were handed out by take(); they are never written again. */
  private start = 0;
  private pos = 0;
  /** Finished segments not yet taken, in order, before buf[start, pos). */
  private readonly chunks: Buffer[] = [];
  private chunkedBytes = 0;

  constructor(private readonly chunkSize = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.chunkedBytes + this.pos - this.start;
  }

  write(reply: Reply, protocol: Protocol): void {
    if (reply === ok) return this.writeBytes(commonReplies.ok);
    if (reply === nullReply) return this.writeBytes(protocol === 3 ? commonReplies.resp3Null : commonReplies.nullBulk);
    if (reply === nullArray) return this.writeBytes(protocol === 3 ? commonReplies.resp3Null : commonReplies.nullArray);
    switch (reply.kind) {
      case 'simple':
        return this.writeLine('+', reply.value);
      case 'error':
        return this.writeLine('-', reply.message);
      case 'integer':
        return this.writeAscii(`:${reply.value}\r\n`);
      case 'bulk':
        return this.writeBulk(reply.value);
      case 'null':
        return this.writeBytes(protocol === 3 ? commonReplies.resp3Null : commonReplies.nullBulk);
      case 'nullArray':
        return this.writeBytes(protocol === 3 ? commonReplies.resp3Null : commonReplies.nullArray);
      case 'array':
        this.writeAscii(`*${reply.items.length}\r\n`);
        for (const item of reply.items) this.write(item, protocol);
        return;
      case 'set':
        this.writeAscii(`${protocol === 3 ? '~' : '*'}${reply.items.length}\r\n`);
        for (const item of reply.items) this.write(item, protocol);
        return;
      case 'map':
        this.writeAscii(protocol === 3 ? `%${reply.entries.length}\r\n` : `*${reply.entries.length * 2}\r\n`);
        for (const [key, value] of reply.entries) {
          this.write(key, protocol);
          this.write(value, protocol);
        }
        return;
      case 'double': {
        const text = reply.text ?? formatDouble(reply.value);
        return this.writeAscii(protocol === 3 ? `,${text}\r\n` : `$${text.length}\r\n${text}\r\n`);
      }
      case 'boolean':
        if (protocol === 3) return this.writeBytes(reply.value ? commonReplies.resp3True : commonReplies.resp3False);
        return this.writeBytes(reply.value ? commonReplies.one : commonReplies.zero);
      case 'verbatim':
        if (protocol === 2) return this.writeBulk(reply.value);
        this.writeAscii(`=${reply.value.length + reply.format.length + 1}\r\n${reply.format}:`);
        this.writeBytes(reply.value);
        return this.writeBytes(CRLF);
    }
  }

  /** Bytes already in protocol form (a precomputed reply, or one relayed from a leader). */
  writeBytes(bytes: Buffer): void {
    if (bytes.length >= LARGE_PAYLOAD) return this.appendChunk(bytes);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }

  /** Everything written since the last take, as one buffer (copying large payloads once). */
  take(): Buffer {
    const chunks = this.takeChunks();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  /**
   * Everything written since the last take, in order, large payloads by reference: write them
   * with socket.cork(), one write() each, socket.uncork() (Node sends them with one writev).
   */
  takeChunks(): Buffer[] {
    const chunks = this.chunks.splice(0);
    this.chunkedBytes = 0;
    if (this.pos > this.start || chunks.length === 0) chunks.push(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
    return chunks;
  }

  private writeBulk(payload: Buffer): void {
    this.writeAscii(`$${payload.length}\r\n`);
    this.writeBytes(payload);
    this.writeBytes(CRLF);
  }

  private writeLine(prefix: string, text: string): void {
    const clean = LINE_BREAK.test(text) ? text.replace(LINE_BREAKS, ' ') : text;
    this.writeAscii(`${prefix}${clean}\r\n`);
  }

  /** A string of one-byte characters (latin1). */
  private writeAscii(text: string): void {
    this.ensure(text.length);
    this.pos += this.buf.write(text, this.pos, 'latin1');
  }

  private appendChunk(bytes: Buffer): void {
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.chunkedBytes += this.pos - this.start;
      this.start = this.pos;
    }
    this.chunks.push(bytes);
    this.chunkedBytes += bytes.length;
  }

  private ensure(bytes: number): void {
    if (this.buf.length - this.pos >= bytes) return;
    // The untaken tail of the old buffer becomes a segment; the old buffer is never written again.
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.chunkedBytes += this.pos - this.start;
    }
    this.buf = Buffer.allocUnsafe(Math.max(this.chunkSize, bytes));
    this.start = this.pos = 0;
  }
}

/** One reply as bytes (tests, and one-off writes such as the error before closing). */
export function encodeReply(reply: Reply, protocol: Protocol): Buffer {
  const writer = new ReplyWriter(256);
  writer.write(reply, protocol);
  return writer.take();
}

/** Bytes of the replies that are sent most, computed once. */
export const commonReplies = Object.freeze({
  ok: Buffer.from('+OK\r\n'),
  pong: Buffer.from('+PONG\r\n'),
  queued: Buffer.from('+QUEUED\r\n'),
  zero: Buffer.from(':0\r\n'),
  one: Buffer.from(':1\r\n'),
  minusOne: Buffer.from(':-1\r\n'),
  nullBulk: Buffer.from('$-1\r\n'),
  nullArray: Buffer.from('*-1\r\n'),
  emptyBulk: Buffer.from('$0\r\n\r\n'),
  emptyArray: Buffer.from('*0\r\n'),
  resp3Null: Buffer.from('_\r\n'),
  resp3True: Buffer.from('#t\r\n'),
  resp3False: Buffer.from('#f\r\n'),
});

/** Payloads at least this big are referenced, not copied, by the writer. */
export const LARGE_PAYLOAD = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const LINE_BREAK = /[\r\n]/;
const LINE_BREAKS = /[\r\n]/g;
