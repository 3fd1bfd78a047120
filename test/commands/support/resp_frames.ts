/**
 * A minimal RESP reply reader for tests: finds where one complete reply ends in raw bytes, and
 * decodes replies into plain values for order-insensitive comparisons. RESP3's types are read
 * into the RESP2 shapes (a map is an array of its keys and values, a null a null bulk, a double,
 * boolean or big number its text), enough to frame a RESP3 session's replies.
 */
export type RespValue =
  | { readonly type: 'simple' | 'error'; readonly text: string }
  | { readonly type: 'integer'; readonly value: bigint }
  | { readonly type: 'bulk'; readonly bytes: Buffer | null }
  | { readonly type: 'array'; readonly items: readonly RespValue[] | null };

/** Decodes one reply starting at `offset`; null while the bytes are incomplete. */
export function readReply(buf: Buffer, offset = 0): { value: RespValue; end: number } | null {
  const lineEnd = buf.indexOf('\r\n', offset);
  if (lineEnd === -1) return null;
  const head = buf.toString('latin1', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (buf[offset]) {
    case 0x2b: // +
      return { value: { type: 'simple', text: head }, end: next };
    case 0x2d: // -
      return { value: { type: 'error', text: head }, end: next };
    case 0x3a: // :
      return { value: { type: 'integer', value: BigInt(head) }, end: next };
    case 0x24: {
      // $
      const length = Number(head);
      if (length < 0) return { value: { type: 'bulk', bytes: null }, end: next };
      if (buf.length < next + length + 2) return null;
      return { value: { type: 'bulk', bytes: Buffer.from(buf.subarray(next, next + length)) }, end: next + length + 2 };
    }
    case 0x5f: // _ (RESP3 null)
      return { value: { type: 'bulk', bytes: null }, end: next };
    case 0x2c: // , (RESP3 double)
    case 0x23: // # (RESP3 boolean)
    case 0x28: // ( (RESP3 big number)
      return { value: { type: 'simple', text: head }, end: next };
    case 0x3d: {
      // = (RESP3 verbatim string)
      const length = Number(head);
      if (buf.length < next + length + 2) return null;
      return { value: { type: 'bulk', bytes: Buffer.from(buf.subarray(next, next + length)) }, end: next + length + 2 };
    }
    case 0x2a: // *
    case 0x7e: // ~ (RESP3 set)
    case 0x3e: // > (RESP3 push)
    case 0x25: {
      // % (RESP3 map: its keys and values, in order)
      const count = Number(head) * (buf[offset] === 0x25 ? 2 : 1);
      if (count < 0) return { value: { type: 'array', items: null }, end: next };
      const items: RespValue[] = [];
      let position = next;
      for (let i = 0; i < count; i++) {
        const item = readReply(buf, position);
        if (item === null) return null;
        items.push(item.value);
        position = item.end;
      }
      return { value: { type: 'array', items }, end: position };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('latin1', offset, offset + 40))}`);
  }
}

/** A RESP2 request: an array of bulk strings. */
export function encodeCommand(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) parts.push(Buffer.from(`$${arg.length}\r\n`), arg, Buffer.from('\r\n'));
  return Buffer.concat(parts);
}
