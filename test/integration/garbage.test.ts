/**
 * Garbage on the RESP port: bad type bytes, negative and huge lengths, deep nesting, random
 * bytes. The node stays up, the offending connection gets an error and is closed, and other
 * clients are unaffected.
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './cluster_harness.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Sends bytes on a fresh connection; resolves with everything received until the server closes (or a timeout). */
function sendRaw(port: number, bytes: Buffer, waitMs = 1_000): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed: false });
    }, waitMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed: true });
    });
  });
}

describe('garbage on the RESP port', () => {
  const cases: [string, string, RegExp][] = [
    ['bad type byte in a multibulk', '*1\r\n?3\r\nfoo\r\n', /^-ERR Protocol error: expected '\$', got '\?'\r\n$/],
    ['negative bulk length', '*1\r\n$-5\r\n', /^-ERR Protocol error: invalid bulk length\r\n$/],
    ['huge bulk length', '*1\r\n$99999999999\r\n', /^-ERR Protocol error: invalid bulk length\r\n$/],
    ['huge multibulk length', '*99999999999\r\n', /^-ERR Protocol error: invalid multibulk length\r\n$/],
    ['nested arrays', `${'*1\r\n'.repeat(1000)}`, /^-ERR Protocol error: expected '\$', got '\*'\r\n$/],
    ['unbalanced quotes inline', 'SET "a b\r\n', /^-ERR Protocol error: unbalanced quotes in request\r\n$/],
  ];
  for (const [name, bytes, expected] of cases) {
    it(`answers ${name} with a protocol error and closes that connection`, async () => {
      const port = cluster.nodes[0].respPort;
      const { reply, closed } = await sendRaw(port, Buffer.from(bytes, 'latin1'));
      expect(reply).toMatch(expected);
      expect(closed).toBe(true);
    });
  }

  it('stays up and serves other clients while random bytes arrive', async () => {
    const seed = Number(process.env.QKV_SEED ?? Date.now() % 0x7fffffff);
    console.log(`garbage fuzz seed ${seed}`);
    const node = cluster.nodes[1];
    const good = cluster.client(node);
    await good.set('steady', 'yes');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), async (bytes) => {
        await sendRaw(node.respPort, Buffer.from(bytes), 200);
        expect(await good.get('steady')).toBe('yes');
      }),
      { seed, numRuns: 40 },
    );
    for (const n of cluster.nodes) expect(n.child, `${n.id} still running`).not.toBeNull();
    expect(await good.ping()).toBe('PONG');
  }, 60_000);
});
