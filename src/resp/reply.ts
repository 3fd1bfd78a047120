/**
 * The value model of a reply, independent of the protocol version: the encoder writes it as
 * RESP2 or RESP3 (a map becomes a flat array in RESP2, a null a `$-1`/`*-1`, a double a bulk
 * string, and so on, exactly as Redis 7.0 does).
 *
 * Commands build replies from these; they never write bytes themselves. This module is the
 * protocol's data model, so src/commands imports it (a deliberate exception to "commands import
 * state only": the reply shape is part of every command's contract).
 */
/*
 * Text of `simple` and `error` replies is a byte string: each character is one byte (the encoder
 * writes it as latin1). Redis's own texts are ASCII, where this changes nothing; an error that
 * quotes client bytes (`unknown command 'x'`) stays byte-exact when built with
 * `buf.toString('latin1')`. CR and LF cannot travel in a one-line reply: the encoder turns them
 * into spaces, as Redis's addReplyErrorFormat does.
 */
export type Reply =
  | { readonly kind: 'simple'; readonly value: string }
  /** Full error text without the leading '-', e.g. `ERR syntax error`, `WRONGTYPE Operation ...`. */
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'integer'; readonly value: number | bigint }
  | { readonly kind: 'bulk'; readonly value: Buffer }
  /** RESP2 `$-1` / RESP3 `_` (a missing value). */
  | { readonly kind: 'null' }
  /** RESP2 `*-1` / RESP3 `_` (a missing array, e.g. a timed-out blocking pop). */
  | { readonly kind: 'nullArray' }
  | { readonly kind: 'array'; readonly items: readonly Reply[] }
  | { readonly kind: 'map'; readonly entries: readonly (readonly [Reply, Reply])[] }
  | { readonly kind: 'set'; readonly items: readonly Reply[] }
  /** RESP3 `,` and RESP2 bulk string, of Redis's `%.17g` formatting, or `text` in both when given. */
  | { readonly kind: 'double'; readonly value: number; readonly text?: string }
  /** RESP3 `#t`/`#f`; RESP2 integer 1/0. */
  | { readonly kind: 'boolean'; readonly value: boolean }
  /** RESP3 `=` with a 3-letter format (`txt`); RESP2 bulk string. */
  | { readonly kind: 'verbatim'; readonly format: string; readonly value: Buffer };

export const ok: Reply = Object.freeze({ kind: 'simple', value: 'OK' });
export const nullReply: Reply = Object.freeze({ kind: 'null' });
export const nullArray: Reply = Object.freeze({ kind: 'nullArray' });

export function simple(value: string): Reply {
  return { kind: 'simple', value };
}

export function error(message: string): Reply {
  return { kind: 'error', message };
}

export function integer(value: number | bigint): Reply {
  return { kind: 'integer', value };
}

export function bulk(value: Buffer | string): Reply {
  return { kind: 'bulk', value: typeof value === 'string' ? Buffer.from(value) : value };
}

export function array(items: readonly Reply[]): Reply {
  return { kind: 'array', items };
}

export function isError(r: Reply): r is { kind: 'error'; message: string } {
  return r.kind === 'error';
}

export function map(entries: readonly (readonly [Reply, Reply])[]): Reply {
  return { kind: 'map', entries };
}

export function set(items: readonly Reply[]): Reply {
  return { kind: 'set', items };
}

/** `text`, when given, is what RESP2 sends (and RESP3 too): for commands that format the number themselves. */
export function double(value: number, text?: string): Reply {
  return text === undefined ? { kind: 'double', value } : { kind: 'double', value, text };
}

export function boolean(value: boolean): Reply {
  return { kind: 'boolean', value };
}

/** RESP3 verbatim string (`=N\r\ntxt:...`), a bulk string in RESP2. */
export function verbatim(value: Buffer | string, format = 'txt'): Reply {
  return { kind: 'verbatim', format, value: typeof value === 'string' ? Buffer.from(value) : value };
}
