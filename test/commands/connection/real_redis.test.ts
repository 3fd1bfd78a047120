/**
 * RawRedis.send against a process that is not scheduled for a while (a loaded machine): the
 * reply must not be cut short because the idle timer expired while the reply waited unread. The
 * stalls are forced with a busy wait at the two moments that matter.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawRedis } from './support/real_redis.js';

let redis: RawRedis;
beforeAll(async () => {
  redis = await RawRedis.start();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
});

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // this process is "not scheduled"
  }
}

type Write = (this: net.Socket, data: unknown, cb?: (err?: Error | null) => void) => boolean;

/** Makes every socket write stall the process `ms` after the write call, or after its callback. */
function stallOnWrite(when: 'after-call' | 'after-callback', ms: number): void {
  const original = net.Socket.prototype.write as unknown as Write;
  vi.spyOn(net.Socket.prototype, 'write').mockImplementation(function (this: net.Socket, data: unknown, cb?: unknown) {
    const callback = typeof cb === 'function' ? (cb as (err?: Error | null) => void) : undefined;
    const wrapped = when === 'after-callback' ? (err?: Error | null) => (callback?.(err), busyWait(ms)) : callback;
    const result = original.call(this, data, wrapped);
    if (when === 'after-call') busyWait(ms);
    return result;
  } as never);
}

describe('RawRedis.send', () => {
  it('waits for the reply when the process stalls longer than the idle time right after writing', async () => {
    stallOnWrite('after-call', 600);
    expect((await redis.send(Buffer.from('PING\r\n'))).bytes.toString()).toBe('+PONG\r\n');
  });

  it('reads a reply that arrived during a stall before believing the silence', async () => {
    stallOnWrite('after-callback', 600);
    expect((await redis.send(Buffer.from('ECHO hello\r\n'))).bytes.toString()).toBe('$5\r\nhello\r\n');
  });

  it('with a reply count, returns every reply whole, also across a stall', async () => {
    stallOnWrite('after-callback', 600);
    const { bytes, closed } = await redis.send(Buffer.from('HELLO 3\r\nCOMMAND INFO get\r\n'), undefined, 2);
    expect(closed).toBe(false);
    const text = bytes.toString('latin1');
    expect(text).toMatch(/^%7\r\n/);
    expect(text).toMatch(/\*1\r\n\*10\r\n\$3\r\nget\r\n/);
    expect(text.endsWith('\r\n')).toBe(true);
  });
});
