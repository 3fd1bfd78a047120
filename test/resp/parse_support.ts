import fc from 'fast-check';
import { ProtocolError } from '../../src/resp/errors.js';
import type { RespLimits } from '../../src/resp/limits.js';
import { RespParser } from '../../src/resp/parser.js';

/** What a parser made of a stream: commands as latin1 strings, then maybe an error's code and text. */
export type Outcome = string[] | { error: string; message: string };

/** Feeds `chunks` one by one, draining next() after each, as a connection does. */
export function parseChunks(chunks: readonly Buffer[], limits?: Partial<RespLimits>, authenticated = true): Outcome[] {
  const parser = new RespParser(limits);
  parser.authenticated = authenticated;
  const outcomes: Outcome[] = [];
  for (const chunk of chunks) {
    parser.feed(Buffer.from(chunk));
    for (;;) {
      const result = parser.next();
      if (result === null) break;
      if (result instanceof ProtocolError) {
        outcomes.push({ error: result.code, message: result.message });
        return outcomes;
      }
      outcomes.push(result.map((arg) => arg.toString('latin1')));
    }
  }
  return outcomes;
}

export function splitAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    if (point > start) chunks.push(input.subarray(start, point));
    start = Math.max(start, point);
  }
  if (start < input.length) chunks.push(input.subarray(start));
  return chunks;
}

export function byteByByte(input: Buffer): Buffer[] {
  return Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}

/** The seed of this run's fast-check properties: QKV_SEED to replay one, printed either way. */
export const seed = Number(process.env.QKV_SEED ?? Date.now() % 2 ** 31);
console.log(`fast-check seed: ${seed} (replay with QKV_SEED=${seed})`);

/**
 * Checks that `input` gives `expected` as one chunk, byte by byte, and at split points that
 * fast-check picks.
 */
export function expectSameEverySplit(
  input: Buffer,
  expected: Outcome[],
  check: (actual: Outcome[], expected: Outcome[]) => void,
  limits?: Partial<RespLimits>,
  authenticated = true,
): void {
  check(parseChunks([input], limits, authenticated), expected);
  check(parseChunks(byteByByte(input), limits, authenticated), expected);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
      check(parseChunks(splitAt(input, cuts), limits, authenticated), expected);
    }),
    { seed, numRuns: 60 },
  );
}
