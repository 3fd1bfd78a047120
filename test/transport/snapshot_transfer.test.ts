/**
 * InstallSnapshot between two GrpcPeerTransports over real gRPC on 127.0.0.1: a multi-MB snapshot
 * arrives intact, memory stays bounded both ways (flow control), every way a transfer can break
 * off is seen by both ends (never as a complete transfer by the receiver), heads the receiver must
 * refuse, and Raft traffic that keeps flowing beside a stalled transfer.
 *
 * Nothing asserts a speed: slow consumers are made slow by gates the test opens, and every wait is
 * for a condition (waitFor), bounded only so that a failure does not hang.
 */
import { randomFillSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, makeMessage } from '../../src/raft/types.js';
import type { Message } from '../../src/raft/types.js';
import { ChunkPacker, openChunk, TotalsAccumulator, totalsMismatch } from '../../src/storage/snapshot_format.js';
import type { SnapshotInfo } from '../../src/storage/snapshot_format.js';
import { raftPeerService } from '../../src/transport/raft_wire.js';
import type { RaftMessageWireIn, SnapshotAckWire } from '../../src/transport/raft_wire.js';
import { SnapshotTransferError, encodeSnapshotInfo } from '../../src/transport/snapshot_transfer.js';
import type { IncomingSnapshot, OutgoingSnapshot } from '../../src/transport/snapshot_transfer.js';
import { Resources, waitFor } from './support.js';

const resources = new Resources();
/** Gates left shut by a failing test would keep a handler waiting forever: open them all. */
const openGates: (() => void)[] = [];
afterEach(async () => {
  for (const open of openGates.splice(0)) open();
  await resources.closeAll();
});

// ------------------------------------------------------------------ helpers

interface Snapshot {
  readonly info: SnapshotInfo;
  readonly chunks: readonly Buffer[];
}

/** A real snapshot image: random records packed by the store's ChunkPacker, with its true totals. */
function makeSnapshot(groupId: string, approxBytes: number, chunkBytes = 256 * 1024): Snapshot {
  const packer = new ChunkPacker(chunkBytes);
  const recordBytes = 100_000;
  for (let written = 0; written < approxBytes; written += recordBytes) packer.add(randomFillSync(Buffer.allocUnsafe(recordBytes)));
  packer.finish();
  const chunks = packer.take();
  const descriptor = { groupId, index: 1_000, term: 4, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } };
  return { info: { ...descriptor, ...packer.totals.totals() }, chunks };
}

function msgSnap(from: string, to: string, info: SnapshotInfo): Message {
  return makeMessage({
    type: MessageType.MsgSnap,
    from,
    to,
    term: 5,
    snapshot: { metadata: { index: info.index, term: info.term, confState: info.confState }, data: new Uint8Array(0) },
  });
}

/** A chunk source that counts what the sender pulled, and can fail or wait on a gate. */
class Source implements AsyncIterable<Buffer> {
  pulled = 0;
  released = false;
  constructor(
    private readonly chunks: readonly Buffer[],
    private readonly options: { throwAfter?: number; beforeChunk?: (index: number) => Promise<void> | void } = {},
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (let i = 0; i < this.chunks.length; i++) {
        if (this.options.throwAfter === i) throw new Error(`source broke before chunk ${i}`);
        await this.options.beforeChunk?.(i);
        this.pulled++;
        yield this.chunks[i]!;
      }
    } finally {
      this.released = true;
    }
  }
}

function transferOf(snapshot: Snapshot, from: string, to: string, source: AsyncIterable<Buffer>): OutgoingSnapshot {
  return { groupId: snapshot.info.groupId, message: msgSnap(from, to, snapshot.info), info: snapshot.info, chunks: source };
}

/** A promise the test resolves by hand; opened in afterEach whatever happens. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  openGates.push(open);
  return { promise, open };
}

/** What a receiver's onSnapshot saw, and how its iteration ended. */
interface Seen {
  incoming: IncomingSnapshot | null;
  chunks: Buffer[];
  ended: 'normally' | 'threw' | 'running';
  error: unknown;
  /** Settles when onSnapshot has returned or thrown. */
  done: Promise<void>;
}

/**
 * An onSnapshot that consumes every chunk (calling `each` before taking the next) and then
 * resolves, or rejects with what its iteration threw or with `rejectWith`.
 */
function receiver(options: { each?: (seen: Seen) => Promise<void> | void; rejectWith?: (seen: Seen) => Error | null } = {}) {
  let finished!: () => void;
  const seen: Seen = { incoming: null, chunks: [], ended: 'running', error: null, done: new Promise((r) => (finished = r)) };
  const onSnapshot = async (incoming: IncomingSnapshot): Promise<void> => {
    seen.incoming = incoming;
    try {
      for await (const chunk of incoming.chunks) {
        seen.chunks.push(Buffer.from(chunk));
        const reason = options.rejectWith?.(seen);
        if (reason) throw reason;
        await options.each?.(seen);
      }
      seen.ended = 'normally';
    } catch (err) {
      seen.ended = 'threw';
      seen.error = err;
      throw err;
    } finally {
      finished();
    }
  };
  return { seen, onSnapshot };
}

async function pair(receiverOptions: Parameters<typeof resources.peer>[1] = {}) {
  const n2 = await resources.peer('n2', receiverOptions);
  const n1 = await resources.peer('n1', { peers: [['n2', n2.address]], advertiseAddress: '127.0.0.1:1' });
  n2.transport.setPeer('n1', n1.address);
  return { n1, n2 };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

// ------------------------------------------------------------------ tests

describe('InstallSnapshot over GrpcPeerTransport', () => {
  it('carries a multi-MB snapshot byte for byte, with its message and info', async () => {
    const snapshot = makeSnapshot('g1', 10 << 20); // 40 chunks of 256 KiB
    expect(snapshot.chunks.length).toBeGreaterThanOrEqual(40);
    const { seen, onSnapshot } = receiver();
    const { n1 } = await pair({ onSnapshot });

    const transfer = transferOf(snapshot, 'n1', 'n2', new Source(snapshot.chunks));
    await n1.transport.sendSnapshot('n2', transfer);

    expect(seen.ended).toBe('normally');
    expect(seen.incoming).toMatchObject({ groupId: 'g1', from: 'n1', info: snapshot.info });
    expect(seen.incoming!.message).toEqual({ ...transfer.message, snapshot: { ...transfer.message.snapshot!, data: Buffer.alloc(0) } });
    expect(seen.chunks.length).toBe(snapshot.chunks.length);
    for (let i = 0; i < snapshot.chunks.length; i++) expect(seen.chunks[i]!.equals(snapshot.chunks[i]!), `chunk ${i}`).toBe(true);
    // And the store would take it: every chunk checks, and the totals match the declared info.
    const totals = new TotalsAccumulator();
    seen.chunks.forEach((chunk, seq) => {
      openChunk(chunk, seq);
      totals.addChunk(chunk);
    });
    expect(totalsMismatch(snapshot.info, { ...totals.totals(), recordCount: snapshot.info.recordCount })).toBeNull();
  });

  it('pulls chunks only as fast as a slow receiver consumes them (bounded memory both ways)', async () => {
    const snapshot = makeSnapshot('g1', 30 << 20); // 120 chunks
    let consumed = 0;
    let maxAhead = 0;
    const source: Source = new Source(snapshot.chunks, {
      beforeChunk: () => {
        maxAhead = Math.max(maxAhead, source.pulled + 1 - consumed);
      },
    });
    const { seen, onSnapshot } = receiver({
      each: async () => {
        consumed++;
        await new Promise((r) => setTimeout(r, 2));
      },
    });
    const { n1 } = await pair({ onSnapshot });

    await n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source));
    expect(seen.chunks.length).toBe(snapshot.chunks.length);
    // An eager sender would have pulled all 120 while the receiver had taken a few. What may be in
    // flight: grpc-js's writable (16 messages) and the one it is writing, the HTTP/2 windows, the
    // server's readable (16) and its read queue: about 40 chunks, whatever the speeds.
    expect(maxAhead).toBeLessThanOrEqual(48);
    expect(maxAhead).toBeLessThan(snapshot.chunks.length / 2);
  });

  it('keeps Raft messages flowing on the peer stream while a transfer is stalled', async () => {
    const snapshot = makeSnapshot('g1', 20 << 20);
    const resume = gate();
    const { seen, onSnapshot } = receiver({
      each: (s) => (s.chunks.length === 1 ? resume.promise : undefined),
    });
    const { n1, n2 } = await pair({ onSnapshot });
    const source = new Source(snapshot.chunks);
    let transferDone = false;
    const sending = n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source)).finally(() => (transferDone = true));

    // The transfer is stuck: the receiver holds its first chunk and the windows are full.
    await waitFor('the sender to block on the window', () => seen.chunks.length === 1 && source.pulled > 10);
    for (let i = 1; i <= 20; i++) n1.transport.send('g1', [makeMessage({ type: MessageType.MsgHeartbeat, from: 'n1', to: 'n2', term: 5, commit: i })]);
    await waitFor('the heartbeats', () => n2.received.length === 20);
    expect(n2.received.map((r) => r.message.commit)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(transferDone).toBe(false);
    expect(source.pulled).toBeLessThan(snapshot.chunks.length);

    resume.open();
    await sending;
    expect(seen.chunks.length).toBe(snapshot.chunks.length);
  });

  it('sends to two peers at once', async () => {
    const a = makeSnapshot('g1', 4 << 20);
    const b = makeSnapshot('g2', 3 << 20);
    const r2 = receiver();
    const r3 = receiver();
    const n2 = await resources.peer('n2', { onSnapshot: r2.onSnapshot });
    const n3 = await resources.peer('n3', { onSnapshot: r3.onSnapshot });
    const n1 = await resources.peer('n1', {
      peers: [
        ['n2', n2.address],
        ['n3', n3.address],
      ],
    });
    await Promise.all([
      n1.transport.sendSnapshot('n2', transferOf(a, 'n1', 'n2', new Source(a.chunks))),
      n1.transport.sendSnapshot('n3', transferOf(b, 'n1', 'n3', new Source(b.chunks))),
    ]);
    expect(Buffer.concat(r2.seen.chunks).equals(Buffer.concat(a.chunks))).toBe(true);
    expect(Buffer.concat(r3.seen.chunks).equals(Buffer.concat(b.chunks))).toBe(true);
    expect(r3.seen.incoming).toMatchObject({ groupId: 'g2', info: b.info });
  });

  it('rejects with the receiver\'s reason when its handler rejects, and releases the source', async () => {
    const snapshot = makeSnapshot('g1', 4 << 20);
    const diskFull = Object.assign(new Error('no space left on device'), { code: 'SNAPSHOT_IO' });
    const { seen, onSnapshot } = receiver({ rejectWith: (s) => (s.chunks.length === 3 ? diskFull : null) });
    const { n1 } = await pair({ onSnapshot });
    const source = new Source(snapshot.chunks);

    const err = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source)));
    expect(err).toBeInstanceOf(SnapshotTransferError);
    expect(err).toMatchObject({ code: 'SNAPSHOT_REFUSED', outcome: 'fail', status: grpc.status.ABORTED, remoteCode: 'SNAPSHOT_IO' });
    expect((err as Error).message).toMatch(/no space left on device/);
    expect(seen.ended).toBe('threw');
    await waitFor('the source to be released', () => source.released);
  });

  it('cancels the call when the source throws: the sender rejects with that error, the receiver\'s iteration throws', async () => {
    const snapshot = makeSnapshot('g1', 4 << 20);
    const { seen, onSnapshot } = receiver();
    const { n1 } = await pair({ onSnapshot });

    // The source breaks once the receiver is mid-transfer (a cancel that overtakes the head would
    // never reach onSnapshot at all: there would be nothing to abort).
    const source = new Source(snapshot.chunks, { throwAfter: 5, beforeChunk: (i) => (i === 4 ? waitFor('a chunk received', () => seen.chunks.length > 0).then(() => {}) : undefined) });
    const err = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source)));
    expect((err as Error).message).toBe('source broke before chunk 5');
    await seen.done;
    expect(seen.ended).toBe('threw');
    expect(seen.error).toBeInstanceOf(SnapshotTransferError);
    expect(seen.chunks.length).toBeLessThanOrEqual(5);
  });

  it('a transfer cancelled at any point never reads as complete to the receiver (10 rounds)', async () => {
    // Regression: a cancelled call can arrive as a half-close before its reset; without the end
    // marker, about one round in three ended the receiver's iteration normally.
    const snapshot = makeSnapshot('g1', 2 << 20);
    let current = receiver();
    const { n1 } = await pair({ onSnapshot: (incoming) => current.onSnapshot(incoming) });
    for (let round = 0; round < 10; round++) {
      current = receiver();
      const { seen } = current;
      const cutAt = 1 + (round % (snapshot.chunks.length - 1)); // before chunk 1 … the last
      const abort = new AbortController();
      const source = new Source(snapshot.chunks, {
        beforeChunk: async (i) => {
          if (i !== cutAt) return;
          await waitFor('a chunk received', () => seen.chunks.length > 0);
          abort.abort(new Error(`cut at ${cutAt}`));
        },
      });
      const err = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source), { signal: abort.signal }));
      expect((err as Error).message).toBe(`cut at ${cutAt}`);
      await seen.done;
      expect(seen.ended, `round ${round}`).toBe('threw');
    }
  });

  it('breaks off both ends when the sender aborts through its signal', async () => {
    const snapshot = makeSnapshot('g1', 8 << 20);
    const { seen, onSnapshot } = receiver();
    const { n1 } = await pair({ onSnapshot });
    const abort = new AbortController();
    const source = new Source(snapshot.chunks, {
      beforeChunk: async (i) => {
        if (i !== 6) return;
        await waitFor('a chunk received', () => seen.chunks.length > 0);
        abort.abort(new Error('leader stepped down'));
      },
    });

    const err = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source), { signal: abort.signal }));
    expect((err as Error).message).toBe('leader stepped down');
    await seen.done;
    expect(seen.ended).toBe('threw');
    await waitFor('the source to be released', () => source.released);
  });

  it('rejects when the receiving node stops mid-transfer, whose iteration throws too', async () => {
    const snapshot = makeSnapshot('g1', 30 << 20); // more than flow control lets into flight: the sender cannot have ended
    let stop: () => void = () => {};
    const { seen, onSnapshot } = receiver({ each: (s) => (s.chunks.length === 5 ? stop() : undefined) });
    const { n1, n2 } = await pair({ onSnapshot });
    stop = () => n2.server.forceShutdown();

    const err = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', new Source(snapshot.chunks))));
    expect(err).toBeInstanceOf(SnapshotTransferError);
    expect(err).toMatchObject({ code: 'SNAPSHOT_TRANSFER_FAILED', outcome: 'fail' });
    await seen.done;
    expect(seen.ended).toBe('threw');
  });

  it('closing either transport breaks off a transfer in progress', async () => {
    const snapshot = makeSnapshot('g1', 8 << 20);
    const stalled = gate();
    // Receiver closes: its consumer's iteration throws, the sender is answered UNAVAILABLE.
    {
      const { seen, onSnapshot } = receiver({ each: (s) => (s.chunks.length === 2 ? stalled.promise : undefined) });
      const { n1, n2 } = await pair({ onSnapshot });
      const sending = rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', new Source(snapshot.chunks))));
      await waitFor('two chunks', () => seen.chunks.length === 2);
      await n2.transport.close();
      stalled.open();
      await seen.done;
      expect(seen.ended).toBe('threw');
      expect(seen.error).toMatchObject({ code: 'SNAPSHOT_TRANSPORT_CLOSED' });
      expect(await sending).toMatchObject({ code: 'SNAPSHOT_TRANSFER_FAILED', status: grpc.status.UNAVAILABLE });
    }
    // Sender closes: its promise rejects at once, the receiver's iteration throws.
    {
      const held = gate();
      const { seen, onSnapshot } = receiver({ each: (s) => (s.chunks.length === 2 ? held.promise : undefined) });
      const { n1 } = await pair({ onSnapshot });
      const source = new Source(snapshot.chunks);
      const sending = rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source)));
      await waitFor('two chunks', () => seen.chunks.length === 2);
      await n1.transport.close();
      expect(await sending).toMatchObject({ code: 'SNAPSHOT_TRANSPORT_CLOSED' });
      held.open();
      await seen.done;
      expect(seen.ended).toBe('threw');
      await waitFor('the source to be released', () => source.released);
    }
  });

  it('gives up after idleTimeoutMs when the receiver stops taking chunks', async () => {
    const snapshot = makeSnapshot('g1', 30 << 20);
    const never = gate();
    const { seen, onSnapshot } = receiver({ each: () => never.promise });
    const { n1 } = await pair({ onSnapshot });
    const source = new Source(snapshot.chunks);

    const err = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n1', 'n2', source), { idleTimeoutMs: 200 }));
    expect(err).toMatchObject({ code: 'SNAPSHOT_IDLE_TIMEOUT', outcome: 'fail' });
    expect((err as Error).message).toMatch(/no progress for 200 ms waiting for the peer to take a chunk/);
    expect(source.pulled).toBeLessThan(snapshot.chunks.length);
    await waitFor('the source to be released', () => source.released);
    // The receiver learns of it as soon as it reads on.
    never.open();
    await seen.done;
    expect(seen.ended).toBe('threw');
  });

  it('rejects at once for an unknown peer or a transfer that does not describe its snapshot', async () => {
    const snapshot = makeSnapshot('g1', 300_000);
    const { n1 } = await pair({ onSnapshot: receiver().onSnapshot });
    const source = new Source(snapshot.chunks);
    await expect(n1.transport.sendSnapshot('n9', transferOf(snapshot, 'n1', 'n9', source))).rejects.toMatchObject({ code: 'SNAPSHOT_UNKNOWN_PEER' });
    const good = transferOf(snapshot, 'n1', 'n2', source);
    const wrong: [string, OutgoingSnapshot][] = [
      ['to another node', { ...good, message: { ...good.message, to: 'n3' } }],
      ['not a MsgSnap', { ...good, message: { ...good.message, type: MessageType.MsgApp } }],
      ['another index', { ...good, info: { ...good.info, index: 999 } }],
      ['another group', { ...good, groupId: 'g2' }],
      ['image inline', { ...good, message: { ...good.message, snapshot: { ...good.message.snapshot!, data: new Uint8Array(3) } } }],
    ];
    for (const [what, transfer] of wrong) {
      await expect(n1.transport.sendSnapshot('n2', transfer), what).rejects.toMatchObject({ code: 'SNAPSHOT_INVALID' });
    }
    expect(source.pulled).toBe(0);
  });

  it('refuses a head from another sender than the call\'s, or to another node', async () => {
    const snapshot = makeSnapshot('g1', 300_000);
    const { seen, onSnapshot } = receiver();
    const { n1, n2 } = await pair({ onSnapshot });

    // n1 says (in its call metadata) that it is n1, but the message claims to come from n7.
    const spoofed = await rejection(n1.transport.sendSnapshot('n2', transferOf(snapshot, 'n7', 'n2', new Source(snapshot.chunks))));
    expect(spoofed).toMatchObject({ code: 'SNAPSHOT_REFUSED', status: grpc.status.INVALID_ARGUMENT });
    expect((spoofed as Error).message).toMatch(/a message from n7 on a call from n1/);

    // A stale address book: n1 thinks n3 listens where n2 does.
    n1.transport.setPeer('n3', n2.address);
    const misrouted = await rejection(n1.transport.sendSnapshot('n3', transferOf(snapshot, 'n1', 'n3', new Source(snapshot.chunks))));
    expect((misrouted as Error).message).toMatch(/a message to n3 sent to node n2/);
    expect(seen.incoming).toBeNull();
    expect(n2.transport.stats().messagesRejected).toBe(2);
  });

  it('refuses what a raw client gets wrong: a local-only type, no head, a second head, no end marker', async () => {
    const snapshot = makeSnapshot('g1', 1 << 20);
    const { seen, onSnapshot } = receiver();
    const { n2 } = await pair({ onSnapshot });
    const client = new grpc.Client(n2.address, grpc.credentials.createInsecure());
    resources.track(async () => client.close());
    const method = raftPeerService().InstallSnapshot;
    const call = (writes: Parameters<typeof method.requestSerialize>[0][]) =>
      new Promise<grpc.ServiceError | SnapshotAckWire>((resolve) => {
        const c = client.makeClientStreamRequest<Parameters<typeof method.requestSerialize>[0], SnapshotAckWire>(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          (err, ack) => resolve(err ?? ack!),
        );
        for (const w of writes) c.write(w);
        c.end();
      });
    const info = encodeSnapshotInfo(snapshot.info);
    const head = (message: RaftMessageWireIn) => ({ groupId: 'g1', message, info });

    const hup = await call([head(makeMessage({ type: MessageType.MsgHup, from: 'n1', to: 'n2' }))]);
    expect(hup).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/MsgHup is local/) });
    const headless = await call([{ data: snapshot.chunks[0] }]);
    expect(headless).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/first chunk .* must carry/) });
    const noInfo = await call([{ groupId: 'g1', message: msgSnap('n1', 'n2', snapshot.info) }]);
    expect(noInfo).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(seen.incoming).toBeNull();

    const twoHeads = await call([head(msgSnap('n1', 'n2', snapshot.info)), { data: snapshot.chunks[0] }, head(msgSnap('n1', 'n2', snapshot.info))]);
    expect(twoHeads).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/chunk 2 of the transfer carries a head/) });
    await seen.done;
    expect(seen.ended).toBe('threw');
    expect(seen.chunks.length).toBe(1);

    // The end of the stream without the end marker is a transfer cut short, not a complete one
    // (it is also how a cancelled call can look: a half-close, then the reset).
    const cut = receiver();
    const n4 = await resources.peer('n4', { onSnapshot: cut.onSnapshot });
    const client4 = new grpc.Client(n4.address, grpc.credentials.createInsecure());
    resources.track(async () => client4.close());
    const unended = await new Promise<unknown>((resolve) => {
      const c = client4.makeClientStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, (err, a) => resolve(err ?? a));
      c.write(head(msgSnap('n1', 'n4', snapshot.info)));
      for (const chunk of snapshot.chunks) c.write({ data: chunk });
      c.end();
    });
    expect(unended).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/without the end marker/) });
    await cut.seen.done;
    expect(cut.seen.ended).toBe('threw');
    expect(cut.seen.chunks.length).toBe(snapshot.chunks.length);

    // And a well-formed raw transfer is acknowledged with what it carried.
    const fine = receiver();
    const n3 = await resources.peer('n3', { onSnapshot: fine.onSnapshot });
    const client3 = new grpc.Client(n3.address, grpc.credentials.createInsecure());
    resources.track(async () => client3.close());
    const ack = await new Promise<unknown>((resolve) => {
      const c = client3.makeClientStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, (err, a) => resolve(err ?? a));
      c.write(head(msgSnap('n1', 'n3', snapshot.info)));
      for (const chunk of snapshot.chunks) c.write({ data: chunk });
      c.write({ end: true });
      c.end();
    });
    const bytes = snapshot.chunks.reduce((sum, c) => sum + c.length, 0);
    expect(ack).toEqual({ chunksReceived: snapshot.chunks.length, bytesReceived: bytes });
  });
});
