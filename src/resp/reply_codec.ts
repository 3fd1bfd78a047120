import { QuorumError } from '../util/errors.js';
import { nullReply, ok, type Reply } from './reply.js';

/**
 * A compact, lossless binary form of a Reply, for replies that travel between nodes (Forward).
 * RESP itself would lose distinctions (RESP3 has one null for `$-1` and `*-1`) and depends on
 * the client's protocol version, which only the follower's connection knows.
 *
 *   tag u8 │ payload
 *   0 simple   u32 len, utf-8      5 array    u32 count, items
 *   1 error    u32 len, utf-8      6 map      u32 count, key/value items
 *   2 integer  u32 len, decimal    7 set      u32 count, items
 *   3 bulk     u32 len, bytes      8 double   f64, u32 len, text (len 0: none)
 *   4 null                         9 boolean  u8
 *  10 nullArray                   11 verbatim u8×3 format, u32 len, bytes
 */
const Tag = {
  simple: 0,
  error: 1,
  integer: 2,
  bulk: 3,
  null: 4,
  array: 5,
  map: 6,
  set: 7,
  double: 8,
  boolean: 9,
  nullArray: 10,
  verbatim: 11,
} as const;

export function encodeReply(reply: Reply): Buffer {
  const parts: Buffer[] = [];
  write(reply, parts);
  return Buffer.concat(parts);
}

function header(tag: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = tag;
  b.writeUInt32LE(n, 1);
  return b;
}

function write(r: Reply, parts: Buffer[]): void {
  switch (r.kind) {
    case 'simple':
    case 'error': {
      const text = Buffer.from(r.kind === 'simple' ? r.value : r.message, 'utf8');
      parts.push(header(Tag[r.kind], text.length), text);
      return;
    }
    case 'integer': {
      const text = Buffer.from(r.value.toString(), 'latin1');
      parts.push(header(Tag.integer, text.length), text);
      return;
    }
    case 'bulk':
      parts.push(header(Tag.bulk, r.value.length), r.value);
      return;
    case 'null':
      parts.push(Buffer.from([Tag.null]));
      return;
    case 'nullArray':
      parts.push(Buffer.from([Tag.nullArray]));
      return;
    case 'array':
    case 'set':
      parts.push(header(Tag[r.kind], r.items.length));
      for (const item of r.items) write(item, parts);
      return;
    case 'map':
      parts.push(header(Tag.map, r.entries.length));
      for (const [k, v] of r.entries) {
        write(k, parts);
        write(v, parts);
      }
      return;
    case 'double': {
      const text = Buffer.from(r.text ?? '', 'latin1');
      const b = Buffer.allocUnsafe(13);
      b[0] = Tag.double;
      b.writeDoubleLE(r.value, 1);
      b.writeUInt32LE(text.length, 9);
      parts.push(b, text);
      return;
    }
    case 'boolean':
      parts.push(Buffer.from([Tag.boolean, r.value ? 1 : 0]));
      return;
    case 'verbatim': {
      const fmt = Buffer.from(r.format.padEnd(3).slice(0, 3), 'latin1');
      parts.push(Buffer.from([Tag.verbatim]), fmt, header(0, r.value.length).subarray(1), r.value);
      return;
    }
    default: {
      // A reply kind added to the model must get a tag here (compile error until it does).
      const unknown: never = r;
      throw new MalformedReplyError(`cannot encode reply ${JSON.stringify(unknown)}`);
    }
  }
}

export class MalformedReplyError extends QuorumError {
  constructor(message: string) {
    super('MALFORMED_REPLY', message, 'fail');
    this.name = 'MalformedReplyError';
  }
}

export function decodeReply(buf: Buffer): Reply {
  const reader = { pos: 0 };
  const reply = read(buf, reader, 0);
  if (reader.pos !== buf.length) throw new MalformedReplyError('trailing bytes after reply');
  return reply;
}

const maxDepth = 64;

function need(buf: Buffer, r: { pos: number }, n: number): void {
  if (r.pos + n > buf.length) throw new MalformedReplyError('reply truncated');
}

function u32(buf: Buffer, r: { pos: number }): number {
  need(buf, r, 4);
  const v = buf.readUInt32LE(r.pos);
  r.pos += 4;
  return v;
}

function bytes(buf: Buffer, r: { pos: number }, n: number): Buffer {
  need(buf, r, n);
  const v = buf.subarray(r.pos, r.pos + n);
  r.pos += n;
  return v;
}

function read(buf: Buffer, r: { pos: number }, depth: number): Reply {
  if (depth > maxDepth) throw new MalformedReplyError('reply nested too deeply');
  need(buf, r, 1);
  const tag = buf[r.pos++];
  switch (tag) {
    case Tag.simple: {
      const value = bytes(buf, r, u32(buf, r)).toString('utf8');
      // The reply of most writes: one shared object (a snapshot's dedup table holds a million).
      return value === 'OK' ? ok : { kind: 'simple', value };
    }
    case Tag.error:
      return { kind: 'error', message: bytes(buf, r, u32(buf, r)).toString('utf8') };
    case Tag.integer: {
      const text = bytes(buf, r, u32(buf, r)).toString('latin1');
      const n = Number(text);
      return { kind: 'integer', value: Number.isSafeInteger(n) ? n : BigInt(text) };
    }
    case Tag.bulk:
      return { kind: 'bulk', value: Buffer.from(bytes(buf, r, u32(buf, r))) };
    case Tag.null:
      return nullReply;
    case Tag.nullArray:
      return { kind: 'nullArray' };
    case Tag.array:
    case Tag.set: {
      const n = u32(buf, r);
      const items: Reply[] = [];
      for (let i = 0; i < n; i++) items.push(read(buf, r, depth + 1));
      return tag === Tag.array ? { kind: 'array', items } : { kind: 'set', items };
    }
    case Tag.map: {
      const n = u32(buf, r);
      const entries: [Reply, Reply][] = [];
      for (let i = 0; i < n; i++) entries.push([read(buf, r, depth + 1), read(buf, r, depth + 1)]);
      return { kind: 'map', entries };
    }
    case Tag.double: {
      need(buf, r, 8);
      const value = buf.readDoubleLE(r.pos);
      r.pos += 8;
      const text = bytes(buf, r, u32(buf, r)).toString('latin1');
      return text === '' ? { kind: 'double', value } : { kind: 'double', value, text };
    }
    case Tag.boolean:
      need(buf, r, 1);
      return { kind: 'boolean', value: buf[r.pos++] === 1 };
    case Tag.verbatim: {
      const format = bytes(buf, r, 3).toString('latin1');
      return { kind: 'verbatim', format, value: Buffer.from(bytes(buf, r, u32(buf, r))) };
    }
    default:
      throw new MalformedReplyError(`unknown reply tag ${tag}`);
  }
}
