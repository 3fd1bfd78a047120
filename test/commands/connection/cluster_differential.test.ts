/**
 * The CLUSTER family with cluster mode on, against a real `redis-server --cluster-enabled yes`
 * 7.0 that owns every slot (a one-node Redis Cluster). What can be compared byte for byte is:
 * KEYSLOT, COUNTKEYSINSLOT and GETKEYSINSLOT on the same keys, every error, READONLY and kin,
 * SELECT and HELLO in cluster mode, and CLUSTER INFO of a one-node cluster. SLOTS, SHARDS and
 * NODES name addresses and ids that differ, so they are compared in structure: the same
 * nesting, types, field names and words, with addresses, ids and numbers masked.
 *
 * Our side is the connection layer in process (FakeServer) with a cluster built by the real
 * ClusterTopology from a routing table of one group (every slot) on one node, and a real Keyspace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoutingTable } from '../../../src/cluster/meta_records.js';
import { ClusterTopology } from '../../../src/node/cluster_view.js';
import { encodeReply } from '../../../src/resp/encoder.js';
import { ProtocolError } from '../../../src/resp/errors.js';
import { keyHashSlot } from '../../../src/state/hash_slot.js';
import { Keyspace } from '../../../src/state/keyspace.js';
import { RedisServer } from '../../support/redis_server.js';
import { FakeServer } from './support/harness.js';
import { exchange } from './support/real_redis.js';

let redis: RedisServer;
let version = '';
const keyspace = new Keyspace();

/** Keys written to both: some share a slot by a hash tag, the others fall where they fall. */
const keys = ['{user1000}.following', '{user1000}.followers', '{user1000}.posts', 'foo', 'bar', 'a\xffb', 'x'.repeat(300)];

/** The slot of the three {user1000} keys. */
const userSlot = keyHashSlot(Buffer.from('{user1000}'));

const multibulk = (...args: string[]): string => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg, 'latin1')}\r\n${arg}\r\n`).join('')}`;

beforeAll(async () => {
  redis = await RedisServer.start({ version: '7.0', dirPrefix: 'qkv-cluster-redis-', extraArgs: ['--cluster-enabled', 'yes'] });
  await send('CLUSTER ADDSLOTSRANGE 0 16383\r\n');
  const deadline = Date.now() + 10_000;
  while (!(await send('CLUSTER INFO\r\n')).includes('cluster_state:ok')) {
    if (Date.now() > deadline) throw new Error('the one-node Redis Cluster did not reach cluster_state:ok');
    await new Promise((r) => setTimeout(r, 50));
  }
  await send(keys.map((k) => multibulk('SET', k, 'v')).join(''));
  for (const k of keys) keyspace.set(Buffer.from(k, 'latin1'), { type: 'string', value: Buffer.from('v') });
  const hello = await send('HELLO 3\r\n');
  version = /\$7\r\nversion\r\n\$\d+\r\n([^\r]+)\r\n/.exec(hello)![1]!;
}, 30_000);

afterAll(async () => {
  await redis?.stop();
});

async function send(text: string): Promise<string> {
  return (await exchange(redis.port, Buffer.from(text, 'latin1'), 150)).bytes.toString('latin1');
}

/** A connection to the in-process server: cluster mode on, one node n1 leading one group of every slot. */
function ours(): FakeServer {
  const server = new FakeServer(version);
  const self = { id: 'n1', host: '127.0.0.1', respPort: 6001, grpcPort: 7001 };
  const routing = RoutingTable.of([{ id: 'g1', voters: ['n1'], preferredLeader: 'n1', slots: [[0, 16383]] }], [{ id: 'n1', grpc: '127.0.0.1:7001', resp: '127.0.0.1:6001' }]);
  // Term 0, as the epochs of a Redis Cluster nobody failed over.
  const topology = new ClusterTopology(self, routing, () => ({ hosted: true, leader: 'n1', lastLeader: 'n1', voters: ['n1'], term: 0, appliedIndex: 0 }));
  server.cluster = {
    enabled: true,
    view: () => topology.view(),
    keysInSlot: async (slot, limit) => keyspace.keysInSlot(slot, 0, limit),
  };
  return server;
}

/** The replies to `text`, each command run in turn, those that answer later awaited. */
async function ourReplies(text: string, server = ours()): Promise<string> {
  const connection = server.connect();
  connection.parser.feed(Buffer.from(text, 'latin1'));
  let out = '';
  for (let request = connection.parser.next(); request !== null; request = connection.parser.next()) {
    if (request instanceof ProtocolError) throw new Error(`not a request: ${text}`);
    out += encodeReply(await connection.runAsync(request), connection.client.protocol).toString('latin1');
  }
  return out;
}

const exact: [string, string][] = [
  ['KEYSLOT of plain keys, hash tags, an empty and a nested tag, binary and long keys', keys.concat(['', '{}', 'foo{}{bar}', 'foo{{bar}}', 'foo{bar}{zap}', '{a', 'a}b{c}']).map((k) => multibulk('CLUSTER', 'KEYSLOT', k)).join('')],
  ['COUNTKEYSINSLOT of slots with keys and without', [userSlot, keyHashSlot(Buffer.from('foo')), keyHashSlot(Buffer.from('a\xffb', 'latin1')), 0, 16383].map((s) => `CLUSTER COUNTKEYSINSLOT ${s}\r\n`).join('')],
  ['COUNTKEYSINSLOT refusals', 'CLUSTER COUNTKEYSINSLOT x\r\nCLUSTER COUNTKEYSINSLOT -1\r\nCLUSTER COUNTKEYSINSLOT 16384\r\nCLUSTER COUNTKEYSINSLOT 99999999999999999999\r\nCLUSTER COUNTKEYSINSLOT\r\n'],
  ['GETKEYSINSLOT of one key, none, and a limit of 0', `CLUSTER GETKEYSINSLOT ${keyHashSlot(Buffer.from('foo'))} 10\r\nCLUSTER GETKEYSINSLOT 0 10\r\nCLUSTER GETKEYSINSLOT ${userSlot} 0\r\n`],
  ['GETKEYSINSLOT refusals', 'CLUSTER GETKEYSINSLOT x 1\r\nCLUSTER GETKEYSINSLOT 1 x\r\nCLUSTER GETKEYSINSLOT -1 1\r\nCLUSTER GETKEYSINSLOT 1 -1\r\nCLUSTER GETKEYSINSLOT 16384 1\r\nCLUSTER GETKEYSINSLOT 1\r\n'],
  ['READONLY, READWRITE, ASKING', 'READONLY\r\nREADWRITE\r\nASKING\r\nreadonly\r\n'],
  ['SELECT in cluster mode', 'SELECT 1\r\nSELECT 0\r\nSELECT -1\r\nSELECT x\r\nSELECT 99999999999\r\n'],
  ['CLUSTER INFO of a one-node cluster, in RESP2 and RESP3', 'CLUSTER INFO\r\nHELLO 3\r\nCLUSTER INFO\r\n'],
  ['unknown subcommand and arity', 'CLUSTER foo\r\nCLUSTER\r\nCLUSTER MYID x\r\nCLUSTER SLOTS x\r\n'],
];

describe('CLUSTER in cluster mode against redis-server --cluster-enabled yes', () => {
  /** Client ids differ between the two servers. */
  const mask = (s: string): string => s.replace(/\$2\r\nid\r\n:\d+\r\n/, '$2\r\nid\r\n:<id>\r\n');

  it.each(exact)('%s', async (_name, text) => {
    expect(mask(await ourReplies(text))).toBe(mask(await send(text)));
  });

  it('says mode cluster in HELLO', async () => {
    const ourHello = await ourReplies('HELLO 3\r\n');
    expect(ourHello).toContain('$4\r\nmode\r\n$7\r\ncluster\r\n');
    expect(mask(ourHello)).toBe(mask(await send('HELLO 3\r\n')));
  });

  it('returns the keys of a slot that holds several (in any order)', async () => {
    const sorted = (reply: string): string[] => reply.split('\r\n').slice(1).filter((line, i) => i % 2 === 1).sort();
    const real = await send(`CLUSTER GETKEYSINSLOT ${userSlot} 10\r\n`);
    expect(real.startsWith('*3\r\n')).toBe(true);
    expect(sorted(await ourReplies(`CLUSTER GETKEYSINSLOT ${userSlot} 10\r\n`))).toEqual(sorted(real));
    expect((await ourReplies(`CLUSTER GETKEYSINSLOT ${userSlot} 2\r\n`)).startsWith('*2\r\n')).toBe(true);
  });

  it('names itself by 40 hex characters, as Redis does', async () => {
    expect(await ourReplies('CLUSTER MYID\r\n')).toMatch(/^\$40\r\n[0-9a-f]{40}\r\n$/);
    expect(await send('CLUSTER MYID\r\n')).toMatch(/^\$40\r\n[0-9a-f]{40}\r\n$/);
  });

  it.each([
    ['SLOTS', 'CLUSTER SLOTS\r\n'],
    ['SLOTS in RESP3', 'HELLO 3\r\nCLUSTER SLOTS\r\n'],
    ['SHARDS', 'CLUSTER SHARDS\r\n'],
    ['SHARDS in RESP3', 'HELLO 3\r\nCLUSTER SHARDS\r\n'],
  ])('answers CLUSTER %s in the same structure', async (_name, text) => {
    const real = skeleton(await send(text));
    // Not vacuous: the structure holds the node's fields.
    expect(real.length).toBeGreaterThan(8);
    expect(skeleton(await ourReplies(text))).toEqual(real);
  });

  it('answers CLUSTER NODES with lines of the same fields', async () => {
    const fields = (reply: string): string[] => {
      const text = reply.slice(reply.indexOf('\r\n') + 2).replace(/^txt:/, '');
      return text
        .split('\n')
        .filter((line) => line !== '' && line !== '\r')
        .map((line) =>
          line
            .split(' ')
            .map((field, i) => (i === 0 ? (/^[0-9a-f]{40}$/.test(field) ? '<id>' : field) : i === 1 ? field.replace(/^[^:]*:\d+@\d+$/, '<ip:port@cport>') : /^\d+$/.test(field) && i >= 4 && i <= 6 ? '<n>' : field))
            .join(' '),
        );
    };
    const real = fields(await send('CLUSTER NODES\r\n'));
    expect(real).toEqual(['<id> <ip:port@cport> myself,master - <n> <n> <n> connected 0-16383']);
    expect(fields(await ourReplies('CLUSTER NODES\r\n'))).toEqual(real);
    expect(fields(await ourReplies('HELLO 3\r\nCLUSTER NODES\r\n').then((r) => r.slice(r.indexOf('\r\n=') + 2)))).toEqual(real);
  });
});

/**
 * The shape of a RESP2 or RESP3 reply: each value's type, aggregates with their length, and the
 * text of bulk strings that are plain words (field names, roles, health) while addresses, ids and
 * numbers are masked. HELLO's reply before it, if any, is skipped.
 */
function skeleton(reply: string): string[] {
  const out: string[] = [];
  let at = reply.startsWith('%7\r\n') ? skip(reply, 0) : 0;
  const value = (): void => {
    const type = reply[at]!;
    const end = reply.indexOf('\r\n', at);
    const head = reply.slice(at + 1, end);
    at = end + 2;
    if (type === '*' || type === '%' || type === '~') {
      out.push(`${type}${head}`);
      for (let i = 0; i < Number(head) * (type === '%' ? 2 : 1); i++) value();
    } else if (type === '$' || type === '=') {
      const text = reply.slice(at, at + Number(head));
      at += Number(head) + 2;
      out.push(/^[a-z-]+$/.test(text) ? `$${text}` : `${type}?`);
    } else {
      out.push(`${type}?`);
    }
  };
  value();
  return out;
}

/** The offset after the reply that starts at `at` (to step over a HELLO reply). */
function skip(reply: string, at: number): number {
  const type = reply[at]!;
  const end = reply.indexOf('\r\n', at);
  const head = reply.slice(at + 1, end);
  let next = end + 2;
  if (type === '*' || type === '%' || type === '~') for (let i = 0; i < Number(head) * (type === '%' ? 2 : 1); i++) next = skip(reply, next);
  else if (type === '$' || type === '=') next += Number(head) + 2;
  return next;
}
