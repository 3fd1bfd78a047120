/**
 * The request parser's limits, named and defaulted as Redis 7.0 names and defaults them
 * (server.h, config.c). Every one is a bound on what one client can make the server hold.
 */
export interface RespLimits {
  /** `proto-max-bulk-len`: the largest bulk argument; above it `invalid bulk length`. */
  readonly maxBulkLength: number;
  /** A multibulk count above INT_MAX is `invalid multibulk length` (counts <= 0 are skipped). */
  readonly maxMultibulkLength: number;
  /**
   * PROTO_INLINE_MAX_SIZE: the longest inline request line, and the longest `*N` / `$N` header
   * line; beyond it `too big inline request` / `too big mbulk count string` / `too big bulk count
   * string`.
   */
  readonly maxInlineSize: number;
  /** Before AUTH (when a password is required): `*N` above this is `unauthenticated multibulk length`. */
  readonly maxUnauthenticatedMultibulkLength: number;
  /** Before AUTH: `$N` above this is `unauthenticated bulk length`. */
  readonly maxUnauthenticatedBulkLength: number;
  /**
   * `client-query-buffer-limit`: unparsed bytes held for one client. Above it Redis closes the
   * connection without a reply.
   */
  readonly maxQueryBuffer: number;
}

export const defaultRespLimits: RespLimits = Object.freeze({
  maxBulkLength: 512 * 1024 * 1024,
  maxMultibulkLength: 2 ** 31 - 1,
  maxInlineSize: 64 * 1024,
  maxUnauthenticatedMultibulkLength: 10,
  maxUnauthenticatedBulkLength: 16 * 1024,
  maxQueryBuffer: 1024 * 1024 * 1024,
});
