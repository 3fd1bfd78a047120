import { error, integer, type Reply } from '../resp/reply.js';

/**
 * Replies shared by many commands, with Redis 7.0's exact texts. The constant ones are frozen
 * and reused, so the hot paths allocate no reply objects.
 */
export const syntaxError: Reply = Object.freeze(error('ERR syntax error'));
export const notAnInteger: Reply = Object.freeze(error('ERR value is not an integer or out of range'));
export const notAFloat: Reply = Object.freeze(error('ERR value is not a valid float'));
export const wrongType: Reply = Object.freeze(
  error('WRONGTYPE Operation against a key holding the wrong kind of value'),
);
export const noSuchKey: Reply = Object.freeze(error('ERR no such key'));
export const stringTooLong: Reply = Object.freeze(
  error('ERR string exceeds maximum allowed size (proto-max-bulk-len)'),
);

export const zero: Reply = Object.freeze(integer(0));
export const one: Reply = Object.freeze(integer(1));
export const minusOne: Reply = Object.freeze(integer(-1));
export const minusTwo: Reply = Object.freeze(integer(-2));
export const emptyBulk: Reply = Object.freeze({ kind: 'bulk', value: Buffer.alloc(0) });

/** Redis's addReplyErrorArity: the command's lower-case full name, whatever case was sent. */
export function wrongArity(name: string): Reply {
  return error(`ERR wrong number of arguments for '${name}' command`);
}

/** Redis's addReplyErrorExpireTime. */
export function invalidExpireTime(name: string): Reply {
  return error(`ERR invalid expire time in '${name}' command`);
}

/**
 * An error whose text includes client bytes, as Redis's addReplyErrorFormat builds it: CR and LF
 * are trimmed from both ends, and any left inside become spaces, so the reply stays one line.
 */
export function formattedError(message: string): Reply {
  let start = 0;
  let end = message.length;
  while (start < end && isCrOrLf(message.charCodeAt(start))) start++;
  while (end > start && isCrOrLf(message.charCodeAt(end - 1))) end--;
  return error(message.slice(start, end).replace(/[\r\n]/g, ' '));
}

function isCrOrLf(code: number): boolean {
  return code === 13 || code === 10;
}
