/**
 * Operating a node as the contract describes: redis-cli sessions, INFO, admin status, clean
 * SIGTERM and restart, bad flags and unusable data dirs (exit 2 with one line), maxclients,
 * pipelining, and slow clients that must not hold up others.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis_server.js';
import { TestCluster, freePort, quorumkvWithin } from './cluster_harness.js';

const run = promisify(execFile);
let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ extraArgs: ['--maxclients', '20'] });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args]);
  return stdout.trim();
}

describe('redis-cli against the cluster', () => {
  it('runs a session through every node', async () => {
    const [a, b, c] = cluster.nodes.map((n) => n.respPort);
    expect(await redisCli(a, 'SET', 'user:123', 'John Doe')).toBe('OK');
    expect(await redisCli(b, 'GET', 'user:123')).toBe('John Doe');
    expect(await redisCli(c, 'INCRBY', 'visits', '5')).toBe('5');
    expect(await redisCli(a, 'INCR', 'visits')).toBe('6');
    expect(await redisCli(b, 'EXPIRE', 'user:123', '100')).toBe('1');
    expect(Number(await redisCli(c, 'TTL', 'user:123'))).toBeGreaterThan(90);
    expect(await redisCli(a, 'TYPE', 'user:123')).toBe('string');
    expect(await redisCli(b, 'DEL', 'user:123')).toBe('1');
    expect(await redisCli(c, 'EXISTS', 'user:123')).toBe('0');
    expect(await redisCli(a, 'FOO')).toMatch(/^ERR unknown command 'FOO'/);
    expect(await redisCli(a, 'GET')).toBe("ERR wrong number of arguments for 'get' command");
  });

  it('runs the bitmap, HyperLogLog and LCS commands through every node as a real Redis answers them', async () => {
    // The same script on the cluster (each command through the next node) and on a redis-server
    // 7.0, through ioredis: replies compared as the client decodes them, values as bytes.
    const script: (string | Buffer)[][] = [
      ['SETBIT', '{f}bits', '7', '1'],
      ['SETBIT', '{f}bits', '100', '1'],
      ['GETBIT', '{f}bits', '100'],
      ['BITCOUNT', '{f}bits'],
      ['BITCOUNT', '{f}bits', '0', '50', 'BIT'],
      ['BITPOS', '{f}bits', '1', '1'],
      ['SET', '{f}other', Buffer.from([0xf0, 0x0f])],
      ['BITOP', 'XOR', '{f}dest', '{f}bits', '{f}other'],
      ['GET', '{f}dest'],
      ['BITFIELD', '{f}field', 'SET', 'i8', '0', '-100', 'OVERFLOW', 'FAIL', 'INCRBY', 'i8', '0', '-100', 'GET', 'u4', '#1'],
      ['BITFIELD_RO', '{f}field', 'GET', 'i8', '0'],
      ['PFADD', '{f}hll', ...Array.from({ length: 300 }, (_, i) => `user:${i}`)],
      // Stale cache: PFCOUNT stores the count, on every replica.
      ['PFCOUNT', '{f}hll'],
      ['PFADD', '{f}hll2', 'user:1', 'user:1000'],
      ['PFCOUNT', '{f}hll', '{f}hll2'],
      ['PFMERGE', '{f}merged', '{f}hll', '{f}hll2'],
      ['PFCOUNT', '{f}merged'],
      ['MSET', '{f}s1', 'ohmytext', '{f}s2', 'mynewtext'],
      ['LCS', '{f}s1', '{f}s2'],
      ['LCS', '{f}s1', '{f}s2', 'IDX', 'MINMATCHLEN', '4', 'WITHMATCHLEN'],
      ['SUBSTR', '{f}s1', '2', '-1'],
      ['SETBIT', '{f}bits', '4294967296', '1'],
      ['PFADD', '{f}s1', 'x'],
    ];
    const server = await RedisServer.start({ version: '7.0', dirPrefix: 'qkv-ops-redis-' });
    const redis = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    const nodes = cluster.nodes.map((n) => cluster.client(n));
    const call = (client: Redis, [name, ...args]: (string | Buffer)[]) =>
      client.callBuffer(name as string, ...args).catch((err: Error) => `error: ${err.message}`);
    try {
      for (const [i, words] of script.entries()) {
        expect(await call(nodes[i % nodes.length]!, words), words.join(' ')).toEqual(await call(redis, words));
      }
      // The HLL strings, read through every node: Redis's bytes, the cached count included.
      for (const key of ['{f}hll', '{f}hll2', '{f}merged']) {
        const expected = await redis.getBuffer(key);
        for (const node of nodes) expect(await node.getBuffer(key)).toEqual(expected);
      }
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });

  it('reports the contract INFO raft fields on every node', async () => {
    for (const n of cluster.nodes) {
      const info = await redisCli(n.respPort, 'INFO', 'raft');
      for (const field of ['raft_node_id', 'raft_role', 'raft_leader_id', 'raft_term', 'raft_commit_index', 'raft_applied_index', 'raft_voters']) {
        expect(info).toMatch(new RegExp(`^${field}:`, 'm'));
      }
      expect(info).toMatch(new RegExp(`^raft_node_id:${n.id}$`, 'm'));
      expect(info).toMatch(/^raft_voters:n1,n2,n3$/m);
    }
    const all = await redisCli(cluster.nodes[0].respPort, 'INFO');
    for (const section of ['# Server', '# Clients', '# Memory', '# Stats', '# Raft', '# Keyspace']) expect(all).toContain(section);
    expect(all).toMatch(/^total_commands_processed:\d+$/m);
    expect(all).toMatch(/^instantaneous_ops_per_sec:\d+$/m);
  });

  it('answers admin status with JSON naming the leader and members', async () => {
    const { code, stdout } = await quorumkvWithin(10_000, ['admin', '--addr', `127.0.0.1:${cluster.nodes[0].grpcPort}`, 'status']);
    expect(code).toBe(0);
    const status = JSON.parse(stdout);
    expect(status.nodeId).toBe('n1');
    expect(status.groups[0].members.map((m: { nodeId: string }) => m.nodeId).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(['n1', 'n2', 'n3']).toContain(status.groups[0].leaderId);
  });
});

describe('the RESP gateway', () => {
  it('answers 10,000 pipelined commands sent in one write, in order', async () => {
    const port = cluster.nodes[1].respPort;
    const n = 10_000;
    let payload = '';
    for (let i = 1; i <= n; i++) payload += `*2\r\n$4\r\nINCR\r\n$8\r\npipeline\r\n`;
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(payload));
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (got.split('\r\n').length > n) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
    });
    const lines = reply.split('\r\n').slice(0, n);
    const first = Number(lines[0].slice(1));
    lines.forEach((line, i) => expect(line).toBe(`:${first + i}`));
  });

  it('refuses clients beyond maxclients with Redis\'s error, and serves the rest', async () => {
    const port = cluster.nodes[2].respPort;
    const sockets: net.Socket[] = [];
    try {
      const replies: string[] = [];
      for (let i = 0; i < 25; i++) {
        const s = net.connect(port, '127.0.0.1');
        sockets.push(s);
        s.on('data', (d) => replies.push(d.toString()));
        s.on('error', () => {});
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(replies.filter((r) => r === '-ERR max number of clients reached\r\n').length).toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(await redisCli(port, 'PING')).toBe('PONG');
  });

  it('keeps serving others while a client sends without reading its replies', async () => {
    const port = cluster.nodes[0].respPort;
    const hog = net.connect(port, '127.0.0.1');
    hog.on('error', () => {});
    hog.pause(); // never reads: its replies pile up in its own socket buffer only
    const big = `*3\r\n$3\r\nSET\r\n$3\r\nhog\r\n$${1 << 20}\r\n${'x'.repeat(1 << 20)}\r\n`;
    const get = '*2\r\n$3\r\nGET\r\n$3\r\nhog\r\n';
    await new Promise<void>((r) => hog.write(big, () => r()));
    for (let i = 0; i < 200; i++) hog.write(get);
    const start = Date.now();
    expect(await redisCli(port, 'SET', 'other', 'fine')).toBe('OK');
    expect(await redisCli(port, 'GET', 'other')).toBe('fine');
    expect(Date.now() - start).toBeLessThan(5_000);
    hog.destroy();
  });
});

describe('large values', () => {
  it('replicates a value larger than gRPC\'s default message limit (24 MB) written through a follower', async () => {
    const leader = await cluster.waitForLeader();
    const [writer, reader] = cluster.nodes.filter((n) => n !== leader);
    const big = Buffer.alloc(24 << 20, 'q');
    big.write('head', 0);
    big.write('tail', big.length - 4);
    const w = cluster.client(writer, { commandTimeout: 60_000 });
    expect(await w.set('big', big)).toBe('OK');
    const r = cluster.client(reader, { commandTimeout: 60_000 });
    const back = await r.getBuffer('big');
    expect(back?.length).toBe(big.length);
    expect(back?.equals(big)).toBe(true);
    expect(await r.strlen('big')).toBe(big.length);
    await w.del('big');
  }, 120_000);
});

describe('the server process', () => {
  it('exits 2 with one line for bad flags', async () => {
    for (const args of [['server'], ['server', '--id', 'Bad_Id'], ['server', '--id', 'a', '--resp-port', 'x'], ['server', '--id', 'a', '--nope']]) {
      const { code, stderr } = await quorumkvWithin(10_000, args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('exits 2 with one line for an unusable data dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qkv-bad-'));
    try {
      const file = join(dir, 'not-a-dir');
      await writeFile(file, 'x');
      const { code, stderr } = await quorumkvWithin(10_000, ['server', '--id', 'a', '--data-dir', join(file, 'sub'), '--resp-port', String(await freePort()), '--grpc-port', String(await freePort())]);
      expect(code).toBe(2);
      expect(stderr).toMatch(/data dir .* is unusable/);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      const ro = join(dir, 'ro');
      await writeFile(join(dir, 'placeholder'), '');
      await run('mkdir', [ro]);
      await chmod(ro, 0o500);
      if (process.getuid?.() !== 0) {
        const r = await quorumkvWithin(10_000, ['server', '--id', 'a', '--data-dir', ro, '--resp-port', String(await freePort()), '--grpc-port', String(await freePort())]);
        expect(r.code).toBe(2);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops cleanly on SIGTERM (exit 0) and recovers its data on restart', async () => {
    const node = cluster.nodes[2];
    await redisCli(node.respPort, 'SET', 'durable', 'across-restart');
    const child = node.child!;
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    node.child = null;
    await cluster.restart(node);
    await cluster.waitForLeader();
    let value = '';
    for (let i = 0; i < 50 && value !== 'across-restart'; i++) {
      value = await redisCli(node.respPort, 'GET', 'durable');
      if (value !== 'across-restart') await new Promise((r) => setTimeout(r, 100));
    }
    expect(value).toBe('across-restart');
  });
});
