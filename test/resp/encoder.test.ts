import { describe, expect, it } from 'vitest';
import { commonReplies, encodeReply, LARGE_PAYLOAD, ReplyWriter, type Protocol } from '../../src/resp/encoder.js';
import {
  array,
  boolean,
  bulk,
  double,
  error,
  integer,
  map,
  nullArray,
  nullReply,
  ok,
  set,
  simple,
  verbatim,
  type Reply,
} from '../../src/resp/reply.js';

const encode = (reply: Reply, protocol: Protocol) => encodeReply(reply, protocol).toString('latin1');

describe('encodeReply', () => {
  const cases: [name: string, reply: Reply, resp2: string, resp3: string][] = [
    ['ok', ok, '+OK\r\n', '+OK\r\n'],
    ['simple', simple('PONG'), '+PONG\r\n', '+PONG\r\n'],
    ['error', error('ERR syntax error'), '-ERR syntax error\r\n', '-ERR syntax error\r\n'],
    ['error with line breaks', error('ERR a\r\nb'), '-ERR a  b\r\n', '-ERR a  b\r\n'],
    ['error quoting raw bytes', error("ERR got '\xe9'"), "-ERR got '\xe9'\r\n", "-ERR got '\xe9'\r\n"],
    ['integer', integer(-42), ':-42\r\n', ':-42\r\n'],
    ['bigint', integer(-(2n ** 63n)), ':-9223372036854775808\r\n', ':-9223372036854775808\r\n'],
    ['bulk', bulk('a\r\nb'), '$4\r\na\r\nb\r\n', '$4\r\na\r\nb\r\n'],
    ['empty bulk', bulk(''), '$0\r\n\r\n', '$0\r\n\r\n'],
    ['binary bulk', bulk(Buffer.from([0, 255])), '$2\r\n\x00\xff\r\n', '$2\r\n\x00\xff\r\n'],
    ['null (shared)', nullReply, '$-1\r\n', '_\r\n'],
    ['null (built)', { kind: 'null' }, '$-1\r\n', '_\r\n'],
    ['null array (shared)', nullArray, '*-1\r\n', '_\r\n'],
    ['null array (built)', { kind: 'nullArray' }, '*-1\r\n', '_\r\n'],
    ['array', array([integer(1), bulk('x'), array([])]), '*3\r\n:1\r\n$1\r\nx\r\n*0\r\n', '*3\r\n:1\r\n$1\r\nx\r\n*0\r\n'],
    ['map', map([[bulk('a'), integer(1)]]), '*2\r\n$1\r\na\r\n:1\r\n', '%1\r\n$1\r\na\r\n:1\r\n'],
    ['empty map', map([]), '*0\r\n', '%0\r\n'],
    ['set', set([simple('x')]), '*1\r\n+x\r\n', '~1\r\n+x\r\n'],
    ['double', double(0.1), '$19\r\n0.10000000000000001\r\n', ',0.10000000000000001\r\n'],
    ['double inf', double(Infinity), '$3\r\ninf\r\n', ',inf\r\n'],
    ['double -inf', double(-Infinity), '$4\r\n-inf\r\n', ',-inf\r\n'],
    ['double nan', double(NaN), '$3\r\nnan\r\n', ',nan\r\n'],
    ['double with text', double(1.5, '1.50'), '$4\r\n1.50\r\n', ',1.50\r\n'],
    ['true', boolean(true), ':1\r\n', '#t\r\n'],
    ['false', boolean(false), ':0\r\n', '#f\r\n'],
    ['verbatim', verbatim('a\nb'), '$3\r\na\nb\r\n', '=7\r\ntxt:a\nb\r\n'],
    ['verbatim markdown', verbatim('x', 'mkd'), '$1\r\nx\r\n', '=5\r\nmkd:x\r\n'],
    ['nested', map([[bulk('k'), set([nullReply, boolean(true)])]]), '*2\r\n$1\r\nk\r\n*2\r\n$-1\r\n:1\r\n', '%1\r\n$1\r\nk\r\n~2\r\n_\r\n#t\r\n'],
  ];
  for (const [name, reply, resp2, resp3] of cases) {
    it(`${name} in RESP2`, () => expect(encode(reply, 2)).toBe(resp2));
    it(`${name} in RESP3`, () => expect(encode(reply, 3)).toBe(resp3));
  }
});

describe('ReplyWriter', () => {
  it('appends a turn of replies into one buffer, and starts afresh after take', () => {
    const writer = new ReplyWriter(16);
    for (let i = 0; i < 100; i++) writer.write(integer(i), 2);
    expect(writer.length).toBe(10 * 4 + 90 * 5);
    const first = writer.take();
    expect(first.toString()).toBe(Array.from({ length: 100 }, (_, i) => `:${i}\r\n`).join(''));
    writer.write(ok, 3);
    expect(writer.take().toString()).toBe('+OK\r\n');
    // What was taken is never written over.
    expect(first.subarray(0, 4).toString()).toBe(':0\r\n');
    expect(writer.take().length).toBe(0);
  });

  it('hands large payloads out by reference', () => {
    const payload = Buffer.alloc(LARGE_PAYLOAD, 0x61);
    const writer = new ReplyWriter();
    writer.write(simple('before'), 2);
    writer.write(bulk(payload), 2);
    writer.write(simple('after'), 2);
    const chunks = writer.takeChunks();
    expect(chunks.some((chunk) => chunk === payload)).toBe(true);
    expect(Buffer.concat(chunks).toString()).toBe(`+before\r\n$${LARGE_PAYLOAD}\r\n${'a'.repeat(LARGE_PAYLOAD)}\r\n+after\r\n`);
  });

  it('has the common replies precomputed', () => {
    expect(commonReplies.ok.toString()).toBe('+OK\r\n');
    expect(commonReplies.nullBulk.toString()).toBe('$-1\r\n');
    expect(commonReplies.resp3Null.toString()).toBe('_\r\n');
    expect(commonReplies.zero.toString()).toBe(':0\r\n');
    const writer = new ReplyWriter();
    writer.writeBytes(commonReplies.pong);
    expect(writer.take().toString()).toBe('+PONG\r\n');
  });
});
