/**
 * Redis Cluster's key → hash slot mapping, exactly as Redis computes it (cluster.c keyHashSlot):
 *
 *   slot = CRC16(hashed part of key) mod 16384
 *
 * The hashed part is the whole key, unless the key holds a hash tag: the bytes between the first
 * '{' and the first '}' after it, when there is at least one byte between them. So
 * `{user1000}.following` and `{user1000}.followers` share a slot, `foo{}{bar}` hashes all of
 * `foo{}{bar}` (the first tag is empty), and `foo{{bar}}` hashes `{bar`.
 *
 * CRC16 is the CCITT/XMODEM variant (polynomial 0x1021, initial 0, no reflection), table-driven.
 */
export const slotCount = 16384;

const table = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  table[i] = crc;
}

/** CRC16-CCITT (XMODEM) of bytes[start, end). */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

const openBrace = 0x7b;
const closeBrace = 0x7d;

/**
 * keyHashSlot of a key held as a latin1 string (one char per byte, as the keyspace holds names),
 * without a Buffer.
 */
export function nameHashSlot(name: string): number {
  // One pass for the common key without a '{': the CRC of the whole name as it goes.
  const length = name.length;
  let crc = 0;
  for (let i = 0; i < length; i++) {
    const c = name.charCodeAt(i);
    if (c === openBrace) return taggedNameHashSlot(name, i);
    crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ c) & 0xff]!;
  }
  return crc & (slotCount - 1);
}

/** nameHashSlot of a name whose first '{' is at `open`. */
function taggedNameHashSlot(name: string, open: number): number {
  let start = 0;
  let end = name.length;
  const close = name.indexOf('}', open + 1);
  if (close > open + 1) {
    start = open + 1;
    end = close;
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ name.charCodeAt(i)) & 0xff]!;
  return crc & (slotCount - 1);
}

/** The hash slot of a key (its bytes, as the client sent them). */
export function keyHashSlot(key: Uint8Array): number {
  const open = key.indexOf(openBrace);
  if (open >= 0) {
    const close = key.indexOf(closeBrace, open + 1);
    if (close > open + 1) return crc16(key, open + 1, close) & (slotCount - 1);
  }
  return crc16(key) & (slotCount - 1);
}
