/**
 * Every field of every message type that travels survives the wire: first through the batch codec
 * alone (many runs), then through real gRPC streams between two transports. fast-check prints its
 * seed (replay with QKV_SEED=...; QKV_RUNS=... for more runs).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EntryType, MessageType, isLocalMessage, makeMessage } from '../../src/raft/types.js';
import type { Entry, Message, Snapshot } from '../../src/raft/types.js';
import { RejectedMessageError, decodeBatch, encodeBatch, messageFromWire, messageToWire } from '../../src/transport/raft_wire.js';
import { propertyParameters } from '../storage/support.js';
import { Resources, waitFor } from './support.js';

const remoteTypes = Object.values(MessageType).filter((t) => !isLocalMessage(t));
const localTypes = Object.values(MessageType).filter((t) => isLocalMessage(t));

const idArb = fc.string({ maxLength: 12 });
const numberArb = fc.oneof(fc.nat(1_000), fc.maxSafeNat());
const bytesArb = fc.uint8Array({ maxLength: 64 });

/** Plain objects only: a null prototype would fail toStrictEqual for reasons of no interest here. */
const plain = { noNullPrototype: true } as const;

const entryArb: fc.Arbitrary<Entry> = fc.record(
  { term: numberArb, index: numberArb, type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange), data: bytesArb },
  plain,
);

const snapshotArb: fc.Arbitrary<Snapshot> = fc.record(
  {
    metadata: fc.record(
      {
        index: numberArb,
        term: numberArb,
        confState: fc.record({ voters: fc.array(idArb, { maxLength: 5 }), learners: fc.array(idArb, { maxLength: 3 }) }, plain),
      },
      plain,
    ),
    data: bytesArb,
  },
  plain,
);

/** Any message that may travel; `snapshot`, `context` and `quiesce` absent or present (context possibly empty). */
const messageArb = (types: readonly MessageType[]): fc.Arbitrary<Message> =>
  fc.record(
    {
      type: fc.constantFrom(...types),
      to: idArb,
      from: idArb,
      term: numberArb,
      logTerm: numberArb,
      index: numberArb,
      entries: fc.array(entryArb, { maxLength: 6 }),
      commit: numberArb,
      reject: fc.boolean(),
      rejectHint: numberArb,
      snapshot: snapshotArb,
      context: bytesArb,
      // Absent means false, so a false never travels back as a key.
      quiesce: fc.constant(true),
    },
    { ...plain, requiredKeys: ['type', 'to', 'from', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint'] },
  );

const groupIdArb = fc.constantFrom('g0', 'meta', 'shard-17');

/** Byte arrays as plain arrays (a received Buffer and a sent Uint8Array compare equal), keys sorted. */
function normalize(m: Message): unknown {
  return {
    ...m,
    entries: m.entries.map((e) => ({ ...e, data: Array.from(e.data) })),
    ...(m.snapshot ? { snapshot: { ...m.snapshot, data: Array.from(m.snapshot.data) } } : {}),
    ...(m.context ? { context: Array.from(m.context) } : {}),
  };
}

function oneEntryApp(data: Uint8Array): Message {
  const entries = [{ term: 1, index: 2, type: EntryType.Normal, data }];
  return makeMessage({ type: MessageType.MsgApp, to: 'a', from: 'b', term: 1, logTerm: 1, index: 1, commit: 1, entries });
}

function expectSame(received: Message, sent: Message): void {
  expect(normalize(received)).toStrictEqual(normalize(sent));
  expect('snapshot' in received).toBe(sent.snapshot !== undefined);
  expect('context' in received).toBe(sent.context !== undefined);
  expect('quiesce' in received).toBe(sent.quiesce === true);
}

describe('raft wire format', () => {
  it('round-trips every field of every message type through the batch codec', () => {
    const { seed, numRuns } = propertyParameters('raft wire codec round trip', 500);
    fc.assert(
      fc.property(fc.array(fc.tuple(groupIdArb, messageArb(remoteTypes)), { minLength: 1, maxLength: 8 }), (items) => {
        const decoded = decodeBatch(encodeBatch(items.map(([groupId, m]) => ({ groupId, message: messageToWire(m) }))));
        expect(decoded.messages).toHaveLength(items.length);
        decoded.messages.forEach((gm, i) => {
          expect(gm.groupId).toBe(items[i][0]);
          expectSame(messageFromWire(gm.message), items[i][1]);
        });
      }),
      { seed, numRuns },
    );
  });

  it('covers every message type that travels', () => {
    expect(remoteTypes).toHaveLength(14);
    expect(localTypes).toEqual(['MsgHup', 'MsgBeat', 'MsgCheckQuorum', 'MsgSnapStatus', 'MsgUnreachable']);
  });

  it('refuses local-only types, an unset type and unknown entry types', () => {
    const { seed, numRuns } = propertyParameters('raft wire refuses local types', 50);
    fc.assert(
      fc.property(messageArb(localTypes), (m) => {
        const [gm] = decodeBatch(encodeBatch([{ groupId: 'g0', message: messageToWire(m) }])).messages;
        expect(() => messageFromWire(gm.message)).toThrow(RejectedMessageError);
      }),
      { seed, numRuns },
    );
    // An empty RaftMessage decodes with type MessageTypeUnspecified.
    const unset = decodeBatch(Buffer.from([0x0a, 0x02, 0x12, 0x00])).messages[0];
    expect(() => messageFromWire(unset.message)).toThrow(/unknown message type MessageTypeUnspecified/);
    const app = messageToWire(oneEntryApp(new Uint8Array([1])));
    const ok = decodeBatch(encodeBatch([{ groupId: 'g0', message: app }])).messages[0].message;
    ok.entries[0].type = '7'; // a newer sender's entry type
    expect(() => messageFromWire(ok)).toThrow(/unknown entry type/);
  });

  it('hands entry data over as views into the received batch, not copies', () => {
    // Larger than Buffer's pool: the encoded batch owns its ArrayBuffer, so sharing it proves no copy.
    const buffer = encodeBatch([{ groupId: 'g0', message: messageToWire(oneEntryApp(new Uint8Array(10_000).fill(7))) }]);
    const data = messageFromWire(decodeBatch(buffer).messages[0].message).entries[0].data;
    expect(data.buffer).toBe(buffer.buffer);
    expect(data.byteOffset).toBeGreaterThan(buffer.byteOffset);
    expect(data.byteOffset + data.length).toBeLessThanOrEqual(buffer.byteOffset + buffer.length);
  });
});

describe('raft wire format over gRPC', () => {
  const resources = new Resources();
  afterEach(() => resources.closeAll());

  it('delivers generated batches of every message type intact, per group, appends in order and every other message in order', async () => {
    const { seed, numRuns } = propertyParameters('raft messages over gRPC', 60);
    const b = await resources.peer('b');
    const a = await resources.peer('a', { peers: [['b', b.address]] });
    await fc.assert(
      fc.asyncProperty(groupIdArb, fc.array(messageArb(remoteTypes), { minLength: 1, maxLength: 10 }), async (groupId, generated) => {
        const sent = generated.map((m) => ({ ...m, to: 'b' }));
        b.received.length = 0;
        a.transport.send(groupId, sent);
        await waitFor('the batch', () => b.received.length >= sent.length);
        expect(b.received).toHaveLength(sent.length);
        for (const r of b.received) expect(r.groupId).toBe(groupId);
        // Appends travel on a lane of their own (they must not hold up heartbeats): each lane
        // keeps its order, the two may interleave.
        const isApp = (m: { type: string }): boolean => m.type === MessageType.MsgApp;
        const got = b.received.map((r) => r.message);
        const appsGot = got.filter(isApp);
        const appsSent = sent.filter(isApp);
        appsGot.forEach((m, i) => expectSame(m, appsSent[i]!));
        const othersGot = got.filter((m) => !isApp(m));
        const othersSent = sent.filter((m) => !isApp(m));
        othersGot.forEach((m, i) => expectSame(m, othersSent[i]!));
      }),
      { seed, numRuns },
    );
    expect(a.transport.stats()).toMatchObject({ messagesDropped: 0 });
  });
});
