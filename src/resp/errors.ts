import { QuorumError } from '../util/errors.js';
import { error, type Reply } from './reply.js';

/** Stable codes of the ways a request stream can be malformed. */
export const ProtocolErrorCode = {
  INVALID_MULTIBULK_LENGTH: 'INVALID_MULTIBULK_LENGTH',
  INVALID_BULK_LENGTH: 'INVALID_BULK_LENGTH',
  EXPECTED_DOLLAR: 'EXPECTED_DOLLAR',
  UNBALANCED_QUOTES: 'UNBALANCED_QUOTES',
  TOO_BIG_INLINE_REQUEST: 'TOO_BIG_INLINE_REQUEST',
  TOO_BIG_MBULK_COUNT: 'TOO_BIG_MBULK_COUNT',
  TOO_BIG_BULK_COUNT: 'TOO_BIG_BULK_COUNT',
  UNAUTHENTICATED_MULTIBULK_LENGTH: 'UNAUTHENTICATED_MULTIBULK_LENGTH',
  UNAUTHENTICATED_BULK_LENGTH: 'UNAUTHENTICATED_BULK_LENGTH',
  QUERY_BUFFER_LIMIT: 'QUERY_BUFFER_LIMIT',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/**
 * A malformed request stream. The parser returns it (it never throws); the connection writes
 * `reply` after the replies of the commands that came before, then closes, as Redis does; with
 * no reply (the query buffer limit) it closes at once, sending nothing more, as Redis frees such
 * a client. `message` is Redis's text after `ERR `, as a byte string (one char per byte:
 * `expected '$', got '<byte>'` quotes a raw client byte).
 */
export class ProtocolError extends QuorumError {
  override readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(code, message, 'fail');
    this.name = 'ProtocolError';
    this.code = code;
  }

  /** What Redis writes before closing; null when it closes without a word (query buffer limit). */
  get reply(): Reply | null {
    return this.code === ProtocolErrorCode.QUERY_BUFFER_LIMIT ? null : error(`ERR ${this.message}`);
  }
}

export function protocolError(code: ProtocolErrorCode, detail?: string): ProtocolError {
  return new ProtocolError(code, detail ?? PROTOCOL_ERROR_TEXT[code]);
}

const PROTOCOL_ERROR_TEXT: Record<ProtocolErrorCode, string> = {
  INVALID_MULTIBULK_LENGTH: 'Protocol error: invalid multibulk length',
  INVALID_BULK_LENGTH: 'Protocol error: invalid bulk length',
  EXPECTED_DOLLAR: "Protocol error: expected '$'",
  UNBALANCED_QUOTES: 'Protocol error: unbalanced quotes in request',
  TOO_BIG_INLINE_REQUEST: 'Protocol error: too big inline request',
  TOO_BIG_MBULK_COUNT: 'Protocol error: too big mbulk count string',
  TOO_BIG_BULK_COUNT: 'Protocol error: too big bulk count string',
  UNAUTHENTICATED_MULTIBULK_LENGTH: 'Protocol error: unauthenticated multibulk length',
  UNAUTHENTICATED_BULK_LENGTH: 'Protocol error: unauthenticated bulk length',
  QUERY_BUFFER_LIMIT: 'closing client that reached max query buffer length',
};
