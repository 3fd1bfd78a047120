/**
 * Shard groups, through real processes: a 3-node cluster made with --groups 3 runs a meta group
 * and three data groups on Redis's hash slots (0-5460, 5461-10922, 10923-16383), each node
 * leading one of them once the preferred leaders have their groups; a key goes to the group of
 * its slot whichever node the client talks to; keys of different groups in one command get
 * -CROSSSLOT; commands over the keyspace cover every group; INFO raft describes the meta group and
 * then each data group with its id as a prefix; with cluster mode off a plain client on any node
 * is served every key and the CLUSTER family is refused; restarted, the nodes reopen every group.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { parseInfo } from '../../jepsen-lite/node_probe.js';
import { TestCluster, admin } from './cluster_harness.js';

const run = promisify(execFile);
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--groups', '3'] });
}, 90_000);
afterAll(async () => {
  await cluster?.stop();
});

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args]);
  return stdout.trim();
}

async function raft(port: number): Promise<Record<string, string>> {
  return parseInfo((await redisCli(port, 'INFO', 'raft')).replace(/\r/g, '').replace(/\n/g, '\r\n'));
}

/** A key whose slot is in group g1, g2 or g3 (slots divided as redis-cli --cluster create divides them). */
function keyIn(group: 1 | 2 | 3, stem: string): string {
  for (let i = 0; ; i++) {
    const key = `${stem}:${i}`;
    const slot = keyHashSlot(Buffer.from(key));
    const g = slot <= 5460 ? 1 : slot <= 10922 ? 2 : 3;
    if (g === group) return key;
  }
}

describe('a cluster of three data groups', () => {
  it('runs the meta group and g1..g3 on every node, and INFO raft names them all', async () => {
    for (const n of cluster.nodes) {
      const info = await raft(n.respPort);
      expect(info.raft_group_id).toBe('meta');
      expect(info.raft_voters).toBe('n1,n2,n3');
      for (const g of ['g1', 'g2', 'g3']) {
        expect(info[`${g}_raft_group_id`]).toBe(g);
        expect(info[`${g}_raft_node_id`]).toBe(n.id);
        expect(info[`${g}_raft_voters`]).toBe('n1,n2,n3');
      }
    }
  });

  it('spreads the leaders: each node comes to lead one data group', async () => {
    const deadline = Date.now() + 45_000;
    let leaders: string[] = [];
    for (;;) {
      const info = await raft(cluster.nodes[0]!.respPort);
      leaders = ['g1', 'g2', 'g3'].map((g) => info[`${g}_raft_leader_id`] ?? '');
      if (leaders.join(',') === 'n1,n2,n3') break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(leaders).toEqual(['n1', 'n2', 'n3']);
  }, 60_000);

  it('serves every key from every node, each in the group of its slot', async () => {
    const [a, b, c] = cluster.nodes.map((n) => n.respPort) as [number, number, number];
    const keys = [keyIn(1, 'k'), keyIn(2, 'k'), keyIn(3, 'k')];
    for (const [i, key] of keys.entries()) expect(await redisCli([a, b, c][i]!, 'SET', key, `v${i}`)).toBe('OK');
    for (const port of [a, b, c]) {
      for (const [i, key] of keys.entries()) expect(await redisCli(port, 'GET', key)).toBe(`v${i}`);
    }
    // Each group holds exactly its key: the other groups' keyspaces never saw it.
    const info = await raft(a);
    const applied = ['g1', 'g2', 'g3'].map((g) => Number(info[`${g}_raft_applied_index`]));
    expect(applied.every((x) => x > 0)).toBe(true);
    expect(await redisCli(b, 'INCR', keyIn(2, 'counter'))).toBe('1');
    expect(await redisCli(c, 'INCR', keyIn(2, 'counter'))).toBe('2');
  });

  it('answers -CROSSSLOT for keys of different groups, and runs multi-key commands within one', async () => {
    const a = cluster.nodes[0]!.respPort;
    const x = keyIn(1, 'x');
    const y = keyIn(3, 'y');
    expect(await redisCli(a, 'MSET', x, '1', y, '2')).toBe("CROSSSLOT Keys in request don't hash to the same slot");
    expect(await redisCli(a, 'GET', x)).toBe('');
    expect(await redisCli(a, 'MSET', '{user1}:a', '1', '{user1}:b', '2')).toBe('OK');
    expect(await redisCli(a, 'MGET', '{user1}:a', '{user1}:b')).toBe('1\n2');
    expect(await redisCli(a, 'DEL', x, y)).toBe("CROSSSLOT Keys in request don't hash to the same slot");
  });

  it('covers every group with DBSIZE, KEYS, SCAN, RANDOMKEY and FLUSHALL', async () => {
    const [a, b] = cluster.nodes.map((n) => n.respPort) as [number, number];
    expect(await redisCli(a, 'FLUSHALL')).toBe('OK');
    const written: string[] = [];
    for (let i = 0; i < 60; i++) {
      const key = `scan:${i}`;
      written.push(key);
      expect(await redisCli(i % 2 === 0 ? a : b, 'SET', key, String(i))).toBe('OK');
    }
    const groups = new Set(written.map((k) => { const s = keyHashSlot(Buffer.from(k)); return s <= 5460 ? 1 : s <= 10922 ? 2 : 3; }));
    expect(groups.size).toBe(3);
    expect(await redisCli(b, 'DBSIZE')).toBe('60');
    expect((await redisCli(a, 'KEYS', 'scan:*')).split('\n').sort()).toEqual([...written].sort());
    const seen = new Set<string>();
    let cursor = '0';
    let calls = 0;
    do {
      const [next, ...keys] = (await redisCli(b, 'SCAN', cursor, 'COUNT', '7')).split('\n');
      for (const k of keys) if (k !== '') seen.add(k);
      cursor = next!;
      calls++;
    } while (cursor !== '0' && calls < 1000);
    expect([...seen].sort()).toEqual([...written].sort());
    expect(written).toContain(await redisCli(a, 'RANDOMKEY'));
    expect(await redisCli(a, 'INFO', 'keyspace')).toMatch(/^db0:keys=60,expires=0,avg_ttl=0/m);
    expect(await redisCli(b, 'FLUSHALL')).toBe('OK');
    expect(await redisCli(a, 'DBSIZE')).toBe('0');
    expect(await redisCli(a, 'RANDOMKEY')).toBe('');
  });

  it('serves a plain client on any node with cluster mode off: no redirects, CLUSTER refused as without cluster support', async () => {
    const keys = [keyIn(1, 'plain'), keyIn(2, 'plain'), keyIn(3, 'plain')];
    for (const [i, n] of cluster.nodes.entries()) {
      const client = cluster.client(n);
      for (const key of keys) expect(await client.set(key, `${n.id}-${key}`)).toBe('OK');
      for (const key of keys) expect(await client.get(key)).toBe(`${n.id}-${key}`);
      expect(await client.mget(`{plain${i}}a`, `{plain${i}}b`)).toEqual([null, null]);
      await expect(client.call('CLUSTER', 'SLOTS')).rejects.toThrow('ERR This instance has cluster support disabled');
      await expect(client.call('READONLY')).rejects.toThrow('ERR This instance has cluster support disabled');
    }
    expect(await redisCli(cluster.nodes[0]!.respPort, 'INFO', 'cluster')).toMatch(/^cluster_enabled:0\r?$/m);
  });

  it('keeps a leader an operator moved a group to: the transfer makes it the preferred leader', async () => {
    const moved = await admin(cluster.nodes[0]!, 'transfer-leader', '--group', 'g2', '--to', 'n3');
    expect(moved.code, moved.stderr).toBe(0);
    // The balancing looks every 2 s: after 5 s the leader would long be back with n2.
    await new Promise((r) => setTimeout(r, 5_000));
    const info = await raft(cluster.nodes[0]!.respPort);
    expect(info.g2_raft_leader_id).toBe('n3');
    const back = await admin(cluster.nodes[0]!, 'transfer-leader', '--group', 'g2', '--to', 'n2');
    expect(back.code, back.stderr).toBe(0);
  }, 60_000);

  it('reports every group in admin status', async () => {
    const status = await admin(cluster.nodes[1]!, 'status');
    expect(status.code).toBe(0);
    const groups = (JSON.parse(status.stdout) as { groups: { groupId: string }[] }).groups.map((g) => g.groupId);
    expect(groups).toEqual(['meta', 'g1', 'g2', 'g3']);
  });

  it('reopens every group after every node restarts, with its keys', async () => {
    const a = cluster.nodes[0]!.respPort;
    const keys = [keyIn(1, 'r'), keyIn(2, 'r'), keyIn(3, 'r')];
    for (const key of keys) expect(await redisCli(a, 'SET', key, key)).toBe('OK');
    for (const n of cluster.nodes) await cluster.kill(n);
    for (const n of cluster.nodes) await cluster.restart(n);
    await cluster.waitForLeader();
    for (const n of cluster.nodes) {
      for (const key of keys) {
        const deadline = Date.now() + 20_000;
        let got = '';
        while (Date.now() < deadline) {
          got = await redisCli(n.respPort, 'GET', key).catch(() => '');
          if (got === key) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(got).toBe(key);
      }
    }
  }, 90_000);
});
