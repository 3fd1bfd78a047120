/**
 * GrpcPeerTransport over real gRPC on 127.0.0.1: batching per destination, several groups on one
 * stream, peers that are down, stalled or unknown, address book changes, what a receiver refuses.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { EntryType, MessageType, makeMessage } from '../../src/raft/types.js';
import type { Message } from '../../src/raft/types.js';
import { raftPeerService } from '../../src/transport/raft_wire.js';
import { Resources, freePort, waitFor } from './support.js';

const resources = new Resources();
afterEach(() => resources.closeAll());

function app(from: string, to: string, index: number, payloadBytes = 8): Message {
  return makeMessage({
    type: MessageType.MsgApp,
    from,
    to,
    term: 3,
    logTerm: 3,
    index,
    commit: index,
    entries: [{ term: 3, index: index + 1, type: EntryType.Normal, data: new Uint8Array(payloadBytes).fill(index % 251) }],
  });
}

function heartbeat(from: string, to: string, commit: number): Message {
  return makeMessage({ type: MessageType.MsgHeartbeat, from, to, term: 3, commit });
}

function heartbeatResp(from: string, to: string, commit: number): Message {
  return makeMessage({ type: MessageType.MsgHeartbeatResp, from, to, term: 3, commit });
}

const indices = (received: readonly { message: Message }[]): number[] => received.map((r) => r.message.index);

describe('GrpcPeerTransport', () => {
  it('carries the messages every group sends to a peer in one turn in one stream write, each group in order', async () => {
    const [n1, n2, n3] = [await resources.peer('n1'), await resources.peer('n2'), await resources.peer('n3')];
    for (const p of [n2, n3]) n1.transport.setPeer(p.id, p.address);
    n2.transport.setPeer('n1', n1.address);

    // One turn: a tick of 64 groups, each heartbeating both peers (one send per group, as each
    // group's Ready loop does), and two of them replicating besides.
    const groups = Array.from({ length: 64 }, (_, i) => `g${i}`);
    for (const [i, g] of groups.entries()) n1.transport.sendFor(g).send([heartbeat('n1', 'n2', i), heartbeat('n1', 'n3', i)]);
    n1.transport.sendFor('g1').send([app('n1', 'n2', 1), app('n1', 'n3', 1), app('n1', 'n2', 2)]);
    n1.transport.sendFor('g2').send([app('n1', 'n3', 10), app('n1', 'n2', 10)]);
    n1.transport.sendFor('g1').send([app('n1', 'n2', 3)]);
    // And back the other way, on n2's own stream to n1: the answers of the same turn, one write too.
    for (const [i, g] of groups.entries()) n2.transport.send(g, [heartbeatResp('n2', 'n1', i)]);
    expect(n1.transport.stats().batchesSent).toBe(0); // gathered until the turn ends

    await waitFor('all messages', () => n2.received.length === 68 && n3.received.length === 66 && n1.received.length === 64);
    // The appends lane: each group's messages in the order it sent them (g1's 1, 2 and 3 around g2's 10).
    const appends = (received: typeof n2.received): [string, number][] =>
      received.filter((r) => r.message.type === MessageType.MsgApp).map((r) => [r.groupId, r.message.index]);
    expect(appends(n2.received)).toEqual([
      ['g1', 1],
      ['g1', 2],
      ['g2', 10],
      ['g1', 3],
    ]);
    expect(appends(n3.received)).toEqual([
      ['g1', 1],
      ['g2', 10],
    ]);
    const heartbeats = (received: typeof n2.received): string[] => received.filter((r) => r.message.type !== MessageType.MsgApp).map((r) => r.groupId);
    expect(heartbeats(n2.received)).toEqual(groups);
    expect(heartbeats(n3.received)).toEqual(groups);
    expect(heartbeats(n1.received)).toEqual(groups);

    // One stream write per peer and lane: 64 heartbeats in one, the turn's appends in the other.
    const sent = n1.transport.stats();
    expect(sent).toMatchObject({ messagesSent: 134, batchesSent: 4, messagesDropped: 0 });
    expect(sent.peers.n2).toMatchObject({ state: 'streaming', batchesSent: 2, messagesSent: 68 });
    expect(sent.peers.n3).toMatchObject({ batchesSent: 2, messagesSent: 66 });
    expect(n2.transport.stats()).toMatchObject({ messagesSent: 64, batchesSent: 1 });
    const got = n2.transport.stats();
    expect(got).toMatchObject({ messagesReceived: 68, batchesReceived: 2 });
    expect(got.bytesReceived).toBe(sent.peers.n2.bytesSent);

    // The next turn's sends are the next write.
    n1.transport.sendFor('g0').send([heartbeat('n1', 'n2', 0)]);
    n1.transport.sendFor('g1').send([heartbeat('n1', 'n2', 1)]);
    await waitFor('the next turn', () => n2.received.length === 70);
    expect(n1.transport.stats().peers.n2).toMatchObject({ batchesSent: 3, messagesSent: 70 });
  });

  it('writes what was gathered at once on flush()', async () => {
    const n2 = await resources.peer('n2');
    const n1 = await resources.peer('n1', { peers: [['n2', n2.address]] });
    n1.transport.send('g1', [heartbeat('n1', 'n2', 1)]);
    n1.transport.send('g2', [heartbeat('n1', 'n2', 2)]);
    n1.transport.flush();
    n1.transport.send('g3', [heartbeat('n1', 'n2', 3)]);
    n1.transport.flush();
    // Queued while the stream opens, written one batch each once it is.
    await waitFor('3 messages', () => n2.received.length === 3);
    expect(n1.transport.stats()).toMatchObject({ batchesSent: 2, messagesSent: 3 });
  });

  it("splits a turn's batch into several only past maxBatchBytes", async () => {
    const n2 = await resources.peer('n2');
    const n1 = await resources.peer('n1', { peers: [['n2', n2.address]], maxBatchBytes: 10_000 });
    n1.transport.send('g1', [1, 2, 3, 4, 5].map((i) => app('n1', 'n2', i, 4_000)));
    await waitFor('5 messages', () => n2.received.length === 5);
    expect(indices(n2.received)).toEqual([1, 2, 3, 4, 5]);
    expect(n1.transport.stats().batchesSent).toBe(3); // 2 + 2 + 1 messages of ~4 kB
  });

  it('drops beyond the bound for a peer that is down, keeps the newest, and delivers them once it is up', async () => {
    const downPort = await freePort();
    const n2 = await resources.peer('n2');
    const n1 = await resources.peer('n1', {
      peers: [
        ['n2', n2.address],
        ['n3', `127.0.0.1:${downPort}`],
      ],
      limits: { maxQueuedBatches: 4 },
    });

    // Ten turns' sends (flush() ends each), to a peer whose stream never opens.
    for (let i = 1; i <= 10; i++) {
      n1.transport.send('g1', [app('n1', 'n3', i)]);
      n1.transport.flush();
    }
    const stats = n1.transport.stats();
    expect(stats.peers.n3).toMatchObject({ queuedBatches: 4, batchesDropped: 6, messagesDropped: 6, batchesSent: 0 });
    expect(stats.messagesDropped).toBe(6);

    // The dead peer costs the live one nothing: it is delivered at once, on the same transport.
    n1.transport.send('g1', [app('n1', 'n2', 1)]);
    const tookMs = await waitFor('delivery to the live peer', () => n2.received.length === 1);
    expect(tookMs).toBeLessThan(1_000);
    await waitFor('onUnreachable(n3)', () => n1.unreachable.includes('n3'));
    expect(n1.unreachable).not.toContain('n2');

    // n3 comes up on its port: the stream reconnects (backoff ≤ 1 s) and the queue is delivered:
    // the newest four, in order.
    const n3 = await resources.peer('n3', {}, downPort);
    await waitFor('the queued batches', () => n3.received.length === 4, 5_000);
    expect(indices(n3.received)).toEqual([7, 8, 9, 10]);
    n1.transport.send('g1', [app('n1', 'n3', 11)]);
    await waitFor('a new send after reconnecting', () => n3.received.length === 5);
    const after = n1.transport.stats().peers.n3;
    expect(after.state).toBe('streaming');
    expect(after.reconnects).toBeGreaterThan(0);
    expect(after.queuedBatches).toBe(0);
  });

  it('reconnects when a peer restarts, and reports it unreachable while it is gone', async () => {
    const port = await freePort();
    const first = await resources.peer('n2', {}, port);
    const n1 = await resources.peer('n1', { peers: [['n2', first.address]] });
    n1.transport.send('g1', [app('n1', 'n2', 1)]);
    await waitFor('first delivery', () => first.received.length === 1);

    first.server.forceShutdown();
    await waitFor('the stream to notice', () => n1.transport.stats().peers.n2.state !== 'streaming');
    await waitFor('onUnreachable(n2)', () => n1.unreachable.includes('n2'));

    const second = await resources.peer('n2', {}, port);
    // Sends while it restarts may be lost (written into the dying stream); keep sending, as Raft would.
    let index = 2;
    await waitFor(
      'delivery to the restarted peer',
      () => {
        n1.transport.send('g1', [app('n1', 'n2', index++)]);
        return second.received.length > 0;
      },
      5_000,
    );
  });

  it('bounds the queue of a stalled peer (flow control) without slowing the others', async () => {
    // A peer that accepts the stream and never reads it: HTTP/2 windows fill, write() says no.
    const stalled = new grpc.Server();
    stalled.addService(raftPeerService() as unknown as grpc.ServiceDefinition, {
      Stream: (call: grpc.ServerReadableStream<unknown, unknown>) => call.pause(),
      InstallSnapshot: () => {},
    });
    const stalledAddress = await resources.bind(stalled);
    const n2 = await resources.peer('n2');
    const n1 = await resources.peer('n1', {
      peers: [
        ['n2', n2.address],
        ['n3', stalledAddress],
      ],
      limits: { maxQueuedBytes: 1 << 20, closeGraceMs: 50 },
    });

    n1.transport.send('g1', [app('n1', 'n3', 0)]); // opens the stream
    await waitFor('the stream to the stalled peer', () => n1.transport.stats().peers.n3.state === 'streaming');
    for (let i = 1; i <= 100; i++) {
      n1.transport.send('g1', [app('n1', 'n3', i, 100_000)]);
      n1.transport.send('g1', [app('n1', 'n2', i)]);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor('every message to the live peer', () => n2.received.length === 100);
    const s = n1.transport.stats().peers.n3;
    expect(s.messagesDropped).toBeGreaterThan(0);
    expect(s.queuedBytes).toBeLessThanOrEqual(1 << 20);
    expect(s.messagesSent + s.messagesDropped + s.queuedBatches).toBe(101);
    await waitFor('onUnreachable(n3)', () => n1.unreachable.includes('n3'));
  });

  it('follows address book changes: unknown peer, added, moved, removed', async () => {
    const n2 = await resources.peer('n2');
    const n2moved = await resources.peer('n2');
    const n1 = await resources.peer('n1');

    n1.transport.send('g1', [app('n1', 'n2', 1)]);
    expect(n1.transport.stats().messagesDropped).toBe(1);
    await waitFor('onUnreachable(n2)', () => n1.unreachable.includes('n2'));

    n1.transport.setPeer('n2', n2.address);
    n1.transport.send('g1', [app('n1', 'n2', 2)]);
    await waitFor('delivery at the first address', () => n2.received.length === 1);

    n1.transport.setPeer('n2', n2moved.address);
    // At once, while the retired stream to the first address is still closing: its count holds.
    expect(n1.transport.stats().messagesSent).toBe(1);
    expect(n1.transport.peers().get('n2')).toBe(n2moved.address);
    n1.transport.send('g1', [app('n1', 'n2', 3)]);
    await waitFor('delivery at the new address', () => n2moved.received.length === 1);
    expect(indices(n2moved.received)).toEqual([3]);
    expect(indices(n2.received)).toEqual([2]);

    n1.transport.removePeer('n2');
    n1.transport.send('g1', [app('n1', 'n2', 4)]);
    expect(n1.transport.stats()).toMatchObject({ messagesSent: 2, messagesDropped: 2 });
    await new Promise((r) => setTimeout(r, 50));
    expect(n2moved.received).toHaveLength(1);
    const stats = n1.transport.stats();
    expect(stats).toMatchObject({ messagesSent: 2, messagesDropped: 2 }); // counters survive retired streams
    expect(stats.peers.n2).toBeUndefined();
  });

  it('refuses local-only messages from the network and survives a handler that throws', async () => {
    let calls = 0;
    const n2 = await resources.peer('n2', {
      onMessage: (_group, m) => {
        calls++;
        if (m.index === 2) throw new Error('handler bug');
        received.push(m.index);
      },
    });
    const received: number[] = [];
    const n1 = await resources.peer('n1', { peers: [['n2', n2.address]] });
    n1.transport.send('g1', [
      makeMessage({ type: MessageType.MsgHup, from: 'n1', to: 'n2' }),
      app('n1', 'n2', 1),
      app('n1', 'n2', 2),
      makeMessage({ type: MessageType.MsgUnreachable, from: 'n1', to: 'n2' }),
      app('n1', 'n2', 3),
    ]);
    // Appends and the other messages travel on separate lanes, so the rejections of the
    // local-only types may arrive after both appends: wait for every message to be counted.
    await waitFor('every message counted', () => received.length === 2 && n2.transport.stats().messagesRejected === 3);
    expect(received).toEqual([1, 3]);
    expect(calls).toBe(3);
    expect(n2.transport.stats()).toMatchObject({ messagesReceived: 3, messagesRejected: 3 });
  });

  it('answers InstallSnapshot with UNIMPLEMENTED and a reason without an onSnapshot handler', async () => {
    const n2 = await resources.peer('n2');
    const client = new grpc.Client(n2.address, grpc.credentials.createInsecure());
    resources.track(async () => client.close());
    const method = raftPeerService().InstallSnapshot;
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.makeClientStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, (e) => resolve(e));
      call.end();
    });
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err?.details).toMatch(/node n2 takes no snapshots/);
  });

  it('close() answers inbound streams, so the server shuts down gracefully at once', async () => {
    const n2 = await resources.peer('n2');
    const n1 = await resources.peer('n1', { peers: [['n2', n2.address]] });
    n1.transport.send('g1', [app('n1', 'n2', 1)]);
    await waitFor('delivery', () => n2.received.length === 1);

    await n2.transport.close();
    const start = Date.now();
    await new Promise<void>((resolve, reject) => n2.server.tryShutdown((err) => (err ? reject(err) : resolve())));
    expect(Date.now() - start).toBeLessThan(1_000);
    // n1 sees its stream end; sends are queued while it retries, never thrown.
    n1.transport.send('g1', [app('n1', 'n2', 2)]);
    await waitFor('onUnreachable(n2)', () => n1.unreachable.includes('n2'));
  });

  it('drops, never throws, after close()', async () => {
    const n2 = await resources.peer('n2');
    const n1 = await resources.peer('n1', { peers: [['n2', n2.address]] });
    await n1.transport.close();
    expect(() => n1.transport.send('g1', [app('n1', 'n2', 1)])).not.toThrow();
    expect(n1.transport.stats().messagesDropped).toBe(1);
  });
});
