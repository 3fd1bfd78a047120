/**
 * How a RESP server closes a connection, seen from the client side, the same for quorumkv (a
 * node process or an in-process RespServer) and redis-server.
 */
import net from 'node:net';
import { RedisClient } from '../commands/support/redis_server.js';

/** A server to probe: its RESP port, and the password when it requires AUTH. */
export interface ProbeTarget {
  readonly name: string;
  readonly port: number;
  readonly password?: string;
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
