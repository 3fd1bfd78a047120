import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Reply } from '../../src/resp/reply.js';
import { MalformedReplyError, decodeReply, encodeReply } from '../../src/resp/reply_codec.js';

const seed = Number(process.env.QKV_SEED ?? Date.now() % 0x7fffffff);

const replyArb: fc.Arbitrary<Reply> = fc.letrec<{ reply: Reply }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string().map((value): Reply => ({ kind: 'simple', value: value.replace(/[\r\n]/g, '') })),
    fc.string().map((message): Reply => ({ kind: 'error', message })),
    fc.oneof(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((b) => !Number.isSafeInteger(Number(b)))).map(
      (value): Reply => ({ kind: 'integer', value }),
    ),
    fc.uint8Array({ maxLength: 64 }).map((b): Reply => ({ kind: 'bulk', value: Buffer.from(b) })),
    fc.constant<Reply>({ kind: 'null' }),
    fc.constant<Reply>({ kind: 'nullArray' }),
    fc.array(tie('reply'), { maxLength: 4 }).map((items): Reply => ({ kind: 'array', items })),
    fc.array(tie('reply'), { maxLength: 4 }).map((items): Reply => ({ kind: 'set', items })),
    fc.array(fc.tuple(tie('reply'), tie('reply')), { maxLength: 3 }).map((entries): Reply => ({ kind: 'map', entries })),
    fc.double({ noNaN: true }).map((value): Reply => ({ kind: 'double', value })),
    fc.boolean().map((value): Reply => ({ kind: 'boolean', value })),
    fc.uint8Array({ maxLength: 32 }).map((b): Reply => ({ kind: 'verbatim', format: 'txt', value: Buffer.from(b) })),
  ),
})).reply;

describe('reply codec (Forward)', () => {
  it('round-trips every reply kind losslessly', () => {
    console.log(`reply codec seed ${seed}`);
    fc.assert(
      fc.property(replyArb, (reply) => {
        expect(decodeReply(encodeReply(reply))).toEqual(reply);
      }),
      { seed, numRuns: 500 },
    );
  });

  it('refuses truncated or garbage input with a clear error', () => {
    const good = encodeReply({ kind: 'array', items: [{ kind: 'bulk', value: Buffer.from('hello') }] });
    for (let cut = 0; cut < good.length; cut++) {
      expect(() => decodeReply(good.subarray(0, cut))).toThrow(MalformedReplyError);
    }
    expect(() => decodeReply(Buffer.from([99]))).toThrow(/unknown reply tag/);
  });
});
