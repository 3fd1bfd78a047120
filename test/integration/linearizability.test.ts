/**
 * A first end-to-end linearizability check (the jepsen-lite checker on a real cluster, ahead of
 * the full harness): clients GET and SET unique values on a few keys through all three nodes
 * while the leader is killed with -9 and restarted; every operation is recorded as ok, fail or
 * info (timeouts, dropped connections, outcome-unknown errors), and the history must be
 * linearizable per key.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HistoryBuilder } from '../../jepsen-lite/history.js';
import { checkHistory } from '../../jepsen-lite/checker/index.js';
import { TestCluster } from './cluster_harness.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('linearizability under kill -9 of the leader', () => {
  it('records a register history that the checker finds linearizable', async () => {
    cluster = await TestCluster.start();
    const c = cluster;
    const history = new HistoryBuilder('ms');
    const t0 = performance.now();
    const now = (): number => performance.now() - t0;
    const keys = ['r0', 'r1', 'r2'];
    let running = true;
    let nextValue = 1;
    const clients = Array.from({ length: 6 }, async (_, p) => {
      let node = c.nodes[p % c.nodes.length];
      let client = c.client(node, { commandTimeout: 3_000 });
      for (let i = 0; running; i++) {
        if (!node.child) {
          node = c.nodes.find((n) => n.child) ?? node;
          client = c.client(node, { commandTimeout: 3_000 });
        }
        const key = keys[(p + i) % keys.length];
        const write = i % 2 === 0;
        if (write) {
          const value = `v${nextValue++}`;
          const op = history.invoke(p, 'write', key, value, now());
          try {
            const reply = await client.set(key, value);
            if (reply === 'OK') history.ok(op, null, now());
            else history.info(op, now(), `unexpected reply ${reply}`);
          } catch (err) {
            // A connection error or UNKNOWN: the write may or may not have happened.
            history.info(op, now(), (err as Error).message);
          }
        } else {
          const op = history.invoke(p, 'read', key, null, now());
          try {
            const value = await client.get(key);
            history.ok(op, value, now());
          } catch (err) {
            // A read that failed changed nothing.
            history.fail(op, now(), (err as Error).message);
          }
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const leader = await c.waitForLeader();
    await c.kill(leader);
    await new Promise((r) => setTimeout(r, 2_500));
    await c.restart(leader);
    await new Promise((r) => setTimeout(r, 1_500));
    running = false;
    await Promise.all(clients);

    const result = checkHistory('register', history.build());
    console.log(result.verdict);
    expect(result.valid, result.verdict).toBe(true);
  }, 90_000);
});
