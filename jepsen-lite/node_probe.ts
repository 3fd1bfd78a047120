/**
 * Probes of a running quorumkv node from the outside, shared by the fault harness and the
 * integration tests' launcher: a free port, waiting for a listener, and a node's INFO raft fields.
 */
import net from 'node:net';
import { Redis } from 'ioredis';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Resolves once something accepts connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not listening after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The `# Raft` fields of the node whose RESP port is `respPort`. */
export async function raftInfo(respPort: number, timeoutMs = 1_000): Promise<Record<string, string>> {
  const c = new Redis({ port: respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, connectTimeout: timeoutMs, commandTimeout: timeoutMs, lazyConnect: true });
  c.on('error', () => {});
  try {
    await c.connect();
    const text = await c.info('raft');
    const fields: Record<string, string> = {};
    for (const line of text.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
    }
    return fields;
  } finally {
    c.disconnect();
  }
}
