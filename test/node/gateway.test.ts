/**
 * The gateway over three in-process RaftGroups with the real command table: forwarding from a
 * follower, at-most-once application of a forwarded write retried after a timeout (the RedisRaft
 * follower-proxy bug: infinite re-application), and replies never mixed up between clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionContext } from '../../src/commands/connection_context.js';
import { commandCatalog } from '../../src/node/catalog.js';
import { classifyCommand, type ClassifiedCommand } from '../../src/node/command_classifier.js';
import { Gateway } from '../../src/node/gateway.js';
import type { ForwardResult, ForwardedWrite, Forwarder } from '../../src/transport/forward.js';
import { KvStateMachine } from '../../src/state/kv_state_machine.js';
import { RaftGroup } from '../../src/node/raft_group.js';
import type { Reply } from '../../src/resp/reply.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import { SeededRandom } from '../../src/util/random.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Node {
  id: string;
  group: RaftGroup;
  gateway: Gateway;
  sm: KvStateMachine;
}

/** A forwarder that calls the leader's gateway directly; `loseReplies` simulates timeouts. */
class DirectForwarder implements Forwarder {
  loseReplies = 0;
  calls = 0;
  constructor(private readonly nodes: Map<string, Node>) {}
  async forward(leaderId: string, writes: readonly ForwardedWrite[], deadlineMs: number): Promise<ForwardResult[]> {
    this.calls++;
    const leader = this.nodes.get(leaderId)!;
    const results = await leader.gateway.handleForwarded(writes, (n) => commandCatalog.resolveWrite(n), deadlineMs);
    if (this.loseReplies > 0) {
      // The leader did the work, but the answer never arrives: the follower must retry.
      this.loseReplies--;
      throw new Error('deadline exceeded (simulated)');
    }
    return results;
  }
}

const classify = (c: ConnectionContext, args: readonly Buffer[]): ClassifiedCommand => classifyCommand((a) => commandCatalog.resolve(a), c, args);

let stop: (() => Promise<void>) | null = null;
afterEach(async () => {
  await stop?.();
  stop = null;
});

async function startCluster(): Promise<{ nodes: Map<string, Node>; forwarder: DirectForwarder }> {
  const ids = ['n1', 'n2', 'n3'];
  const network = new LocalNetwork();
  const nodes = new Map<string, Node>();
  const forwarder = new DirectForwarder(nodes);
  let clock = 1_000_000;
  for (const [i, id] of ids.entries()) {
    const sm = new KvStateMachine({ newKeyspace: () => commandCatalog.newKeyspace(), resolveWrite: (n) => commandCatalog.resolveWrite(n) });
    const keyspace = sm.keyspace;
    const group = await RaftGroup.open({
      groupId: 'g0',
      nodeId: id,
      log: new MemoryLog('g0'),
      stateMachine: sm,
      transport: network.transportFor(id),
      bootstrapVoters: ids,
      random: new SeededRandom(101 + i),
    });
    network.register(id, group);
    const gateway = new Gateway({
      group,
      keyspace,
      forwarder,
      clock: () => clock,
      random: () => 0.5,
      leaderWaitMs: 5_000,
      requestIdPrefix: `${id}.test.`,
    });
    nodes.set(id, { id, group, gateway, sm });
  }
  // Drive Raft time by hand until there is a leader.
  for (let t = 0; t < 300 && ![...nodes.values()].some((n) => n.group.isLeader()); t++) {
    for (const n of nodes.values()) n.group.tick();
    clock += 100;
    for (let k = 0; k < 5; k++) await turn();
  }
  const ticker = setInterval(() => {
    for (const n of nodes.values()) n.group.tick();
  }, 20);
  stop = async () => {
    clearInterval(ticker);
    for (const n of nodes.values()) await n.group.stop();
  };
  return { nodes, forwarder };
}

const ctx = (): ConnectionContext =>
  ({ client: { id: 1, addr: '', laddr: '', createdAtMs: 0, lastInteractionMs: 0, name: '', protocol: 2, db: 0, lastCommand: '', closeAfterReply: false }, server: {} }) as unknown as ConnectionContext;

function cmd(...words: string[]): Buffer[] {
  return words.map((w) => Buffer.from(w));
}

/** Classifies every command as `kind` (a test's own mistake otherwise). */
function classified<K extends 'write' | 'read'>(node: Node, kind: K, commands: Buffer[][]): Extract<ClassifiedCommand, { kind: K }>[] {
  return commands.map((args) => {
    const c = classify(ctx(), args);
    if (c.kind !== kind) throw new Error(`${args[0]} is not a ${kind}`);
    return c as Extract<ClassifiedCommand, { kind: K }>;
  });
}

function writeVia(node: Node, ...commands: Buffer[][]): Promise<Reply[]> {
  return node.gateway.writeRun(classified(node, 'write', commands));
}

function readVia(node: Node, ...commands: Buffer[][]): Promise<Reply[]> {
  return node.gateway.readRun(classified(node, 'read', commands));
}

describe('gateway forwarding', () => {
  it('applies a forwarded write once even when the follower retries after losing the reply', async () => {
    const { nodes, forwarder } = await startCluster();
    const follower = [...nodes.values()].find((n) => !n.group.isLeader() && n.group.leaderId() !== '')!;
    forwarder.loseReplies = 2;
    const [reply] = await writeVia(follower, cmd('INCR', 'retried'));
    expect(forwarder.calls).toBe(3);
    // Three deliveries, one application: the dedup table answered the retries with the first reply.
    expect(reply).toEqual({ kind: 'integer', value: 1 });
    const leader = [...nodes.values()].find((n) => n.group.isLeader())!;
    const [again] = await writeVia(leader, cmd('INCR', 'retried'));
    expect(again).toEqual({ kind: 'integer', value: 2 });
  });

  it('never mixes up replies between clients writing through a follower at once', async () => {
    const { nodes } = await startCluster();
    const follower = [...nodes.values()].find((n) => !n.group.isLeader() && n.group.leaderId() !== '')!;
    const clients = 20;
    const perClient = 30;
    const results = await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const seen: Reply[] = [];
        for (let i = 0; i < perClient; i += 5) {
          // Runs of 5 pipelined INCRs per client, all clients concurrently.
          seen.push(...(await writeVia(follower, ...Array.from({ length: 5 }, () => cmd('INCR', `counter:${c}`)))));
        }
        return seen;
      }),
    );
    results.forEach((replies) => {
      expect(replies).toEqual(Array.from({ length: perClient }, (_, i) => ({ kind: 'integer', value: i + 1 })));
    });
  });
});

describe('gateway turn batch', () => {
  it("gathers every client's writes of one turn into one log entry and answers each client its own", async () => {
    const { nodes } = await startCluster();
    const leader = [...nodes.values()].find((n) => n.group.isLeader())!;
    await writeVia(leader, cmd('SET', 'warm', 'up'));
    const before = leader.group.raw.basicStatus().lastIndex;
    // 12 clients, each with a run of 1-3 writes, all handed over in the same turn.
    const runs = Array.from({ length: 12 }, (_, c) =>
      writeVia(leader, ...Array.from({ length: 1 + (c % 3) }, (_, i) => (i === 0 ? cmd('SET', `k${c}`, `v${c}`) : cmd('INCR', `n${c}`)))),
    );
    const replies = await Promise.all(runs);
    replies.forEach((r, c) => {
      expect(r).toEqual(Array.from({ length: 1 + (c % 3) }, (_, i) => (i === 0 ? { kind: 'simple', value: 'OK' } : { kind: 'integer', value: i })));
    });
    expect(leader.group.raw.basicStatus().lastIndex - before).toBe(1);
    for (const n of nodes.values()) {
      const [value] = await readVia(n, cmd('GET', 'k11'));
      expect(value).toEqual({ kind: 'bulk', value: Buffer.from('v11') });
    }
  });
});

describe('gateway outcomes', () => {
  it('answers a write whose outcome stays unknown with an error that says so, never OK', async () => {
    const { nodes, forwarder } = await startCluster();
    const follower = [...nodes.values()].find((n) => !n.group.isLeader() && n.group.leaderId() !== '')!;
    forwarder.loseReplies = Number.POSITIVE_INFINITY;
    const fast = new Gateway({
      group: follower.group,
      keyspace: follower.sm.keyspace,
      forwarder,
      clock: Date.now,
      random: () => 0.5,
      leaderWaitMs: 300,
      commitWaitMs: 300,
      requestIdPrefix: 'unknown.test.',
    });
    const c = classify(ctx(), cmd('SET', 'maybe', 'written'));
    if (c.kind !== 'write') throw new Error('SET is a write');
    const [reply] = await fast.writeRun([c]);
    expect(reply.kind).toBe('error');
    expect((reply as { message: string }).message).toMatch(/^UNKNOWN write outcome unknown/);
  });

  it('answers CLUSTERDOWN when no leader appears within the wait', async () => {
    const { nodes } = await startCluster();
    const lonely = [...nodes.values()][0];
    // Stop the other two: no quorum, so no leader can be elected.
    for (const n of nodes.values()) if (n !== lonely) await n.group.stop();
    const gw = new Gateway({
      group: lonely.group,
      keyspace: lonely.sm.keyspace,
      forwarder: { forward: () => Promise.reject(new Error('nobody to forward to')) },
      clock: Date.now,
      random: () => 0.5,
      leaderWaitMs: 2_500,
      requestIdPrefix: 'down.test.',
    });
    const c = classify(ctx(), cmd('GET', 'anything'));
    if (c.kind !== 'read') throw new Error('GET is a read');
    const [reply] = await gw.readRun([c]);
    expect(reply).toEqual({ kind: 'error', message: 'CLUSTERDOWN The cluster is down: no leader elected within 2500 ms' });
  });
});
