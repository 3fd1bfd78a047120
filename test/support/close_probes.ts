/**
 * How a RESP server closes a connection, seen from the client side, the same for quorumkv (a
 * node process or an in-process RespServer) and redis-server: whether a client that keeps
 * writing is released, and whether the connection leaves CLIENT LIST and connected_clients.
 */
import net from 'node:net';
import type { ProtocolErrorCode } from '../../src/resp/errors.js';
import { RedisClient } from '../commands/support/use_redis.js';

/** A request that breaks the protocol one way, and Redis 7.0's whole answer to it. */
export interface ProtocolErrorCase {
  readonly request: Buffer;
  /** Empty: Redis closes without a word. */
  readonly reply: string;
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const protocolError = (text: string): string => `-ERR Protocol error: ${text}\r\n`;
/** PROTO_INLINE_MAX_SIZE: one byte more makes a line too long, however the stream is split. */
const inlineMax = 64 * 1024;

/**
 * One request per way the parser can refuse a stream (ProtocolErrorCode: the Record type makes a
 * new code fail to compile until it has a case). Each is exactly as long as it needs to be, so
 * that the server has read all of it when it closes and the client reads the reply intact.
 * The pre-AUTH bounds need a server that requires a password, and the query buffer case one
 * whose limit is 1 MiB (Redis's smallest `client-query-buffer-limit`).
 */
export const protocolErrorCases: Record<ProtocolErrorCode, ProtocolErrorCase> = {
  INVALID_MULTIBULK_LENGTH: { request: bytes('*99999999999\r\n'), reply: protocolError('invalid multibulk length') },
  INVALID_BULK_LENGTH: { request: bytes('*1\r\n$-5\r\n'), reply: protocolError('invalid bulk length') },
  EXPECTED_DOLLAR: { request: bytes('*1\r\n?3\r\n'), reply: protocolError("expected '$', got '?'") },
  UNBALANCED_QUOTES: { request: bytes('SET "a b\r\n'), reply: protocolError('unbalanced quotes in request') },
  TOO_BIG_INLINE_REQUEST: { request: bytes('p'.repeat(inlineMax + 1)), reply: protocolError('too big inline request') },
  TOO_BIG_MBULK_COUNT: { request: bytes(`*${'1'.repeat(inlineMax)}`), reply: protocolError('too big mbulk count string') },
  TOO_BIG_BULK_COUNT: { request: bytes(`*1\r\n$${'1'.repeat(inlineMax)}`), reply: protocolError('too big bulk count string') },
  UNAUTHENTICATED_MULTIBULK_LENGTH: { request: bytes('*11\r\n'), reply: protocolError('unauthenticated multibulk length') },
  UNAUTHENTICATED_BULK_LENGTH: { request: bytes('*1\r\n$16385\r\n'), reply: protocolError('unauthenticated bulk length') },
  QUERY_BUFFER_LIMIT: {
    request: Buffer.concat([bytes('*1\r\n$2000000\r\n'), Buffer.alloc(1024 * 1024 + 1, 'p')]),
    reply: '',
  },
};

/**
 * The cases a quorumkv node meets with its own limits: it has no AUTH, and its query buffer
 * limit (1 GiB) is above anything one request can make it hold (a bulk is at most 512 MB).
 */
export const nodeProtocolErrorCodes = (Object.keys(protocolErrorCases) as ProtocolErrorCode[]).filter(
  (code) => !code.startsWith('UNAUTHENTICATED_') && code !== 'QUERY_BUFFER_LIMIT',
);

/** A server to probe: its RESP port, and the password when it requires AUTH. */
export interface ProbeTarget {
  readonly name: string;
  readonly port: number;
  readonly password?: string;
}

export interface WriterOutcome {
  /**
   * How the connection ended for the writer: a reset (EPIPE / ECONNRESET while writing), a close
   * without an error, or null when it was still open at the deadline (the writer was stuck).
   */
  readonly ended: 'reset' | 'closed' | null;
  readonly errorCode: string | null;
  /** From connect to the end, or to the deadline. */
  readonly ms: number;
  /** What the server wrote (Redis's reset often discards it before the client reads it). */
  readonly reply: string;
  /** The writer's own port: its `addr=127.0.0.1:<port>` in CLIENT LIST. */
  readonly localPort: number;
}

const filler = Buffer.alloc(64 * 1024, 'p');

/**
 * Connects, writes `first` (made from the client's own port, when a function), then writes filler without pause and without reading replies, until
 * the connection ends or `deadlineMs` passes. A server that stops reading but keeps the socket
 * open leaves the writer blocked once the kernel buffers are full: `ended` is then null.
 */
export function writeUntilClosed(
  port: number,
  first: Buffer | ((localPort: number) => Buffer),
  deadlineMs: number,
): Promise<WriterOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let errorCode: string | null = null;
    let localPort = 0;
    let finished = false;
    const finish = (ended: WriterOutcome['ended']): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve({ ended, errorCode, ms: Date.now() - started, reply: Buffer.concat(chunks).toString('latin1'), localPort });
    };
    const deadline = setTimeout(() => finish(null), deadlineMs);
    const pump = (): void => {
      while (!finished && !socket.destroyed) {
        if (!socket.write(filler)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      socket.write(typeof first === 'function' ? first(localPort) : first);
      pump();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      errorCode = err.code ?? err.message;
    });
    socket.on('close', () => finish(errorCode === null ? 'closed' : 'reset'));
  });
}

/**
 * Sends `bytes` on a new connection and resolves with what came back once the server closes it
 * (rejects if it has not within `deadlineMs`). The client closes its end too, as a client does
 * after a protocol error. Bytes after a malformed request stay unread by the server: a server
 * that stops reading but never closes does not see the client go.
 */
export function sendUntilClosed(port: number, bytes: Buffer, deadlineMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`port ${port} kept the connection open for ${deadlineMs} ms after ${JSON.stringify(bytes.subarray(0, 40).toString('latin1'))}`));
    }, deadlineMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** What a client that does not wait for the reply may have sent after a malformed request. */
export const trailingBytes = Buffer.alloc(256 * 1024, 'p');

/**
 * A command connection, authenticated when the target requires it. Throws when the server does
 * not serve it (`max number of clients reached`).
 */
export async function observer(target: ProbeTarget): Promise<RedisClient> {
  const client = await RedisClient.connect(target.port);
  try {
    if (target.password !== undefined) expectReply(target, await client.send(words('AUTH', target.password)), '+OK\r\n');
    expectReply(target, await client.send(words('PING')), '+PONG\r\n');
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

function expectReply(target: ProbeTarget, reply: Buffer, expected: string): void {
  const text = reply.toString('latin1');
  if (text !== expected) throw new Error(`${target.name} answered ${JSON.stringify(text)} instead of ${JSON.stringify(expected)}`);
}

/** The `addr=` of every client in CLIENT LIST. */
export async function clientAddrs(client: RedisClient): Promise<string[]> {
  const text = bulkText(await client.send(words('CLIENT', 'LIST')));
  return [...text.matchAll(/^id=\d+ addr=(\S+) /gm)].map((m) => m[1]!);
}

/** INFO clients' connected_clients. */
export async function connectedClients(client: RedisClient): Promise<number> {
  const text = bulkText(await client.send(words('INFO', 'clients')));
  const match = /^connected_clients:(\d+)\r$/m.exec(text);
  if (match === null) throw new Error(`no connected_clients in ${JSON.stringify(text)}`);
  return Number(match[1]);
}

export function words(...args: string[]): Buffer[] {
  return args.map((arg) => Buffer.from(arg, 'latin1'));
}

function bulkText(reply: Buffer): string {
  const text = reply.toString('latin1');
  if (!text.startsWith('$')) throw new Error(`expected a bulk string, got ${JSON.stringify(text.slice(0, 200))}`);
  return text.slice(text.indexOf('\r\n') + 2, -2);
}
