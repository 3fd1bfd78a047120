import type { MethodDefinition } from '@grpc/proto-loader';
import { EntryType, MessageType, isLocalMessage, noEntries } from '../raft/types.js';
import type { Entry, Message, Snapshot } from '../raft/types.js';
import { QuorumError } from '../util/errors.js';
import { loadProto, serviceDefinition } from './proto_files.js';

/**
 * Raft messages on the wire (proto/raft.proto) and back.
 *
 * Sending costs no conversion: `Message` already has the wire shape (camelCase fields, MessageType
 * strings that are the proto enum names, EntryType numbers that are the proto enum values, byte
 * arrays the serializer takes as they are). A field added to `Message` and not to the decoded
 * shape below fails `tsc`; one added there and not to the proto fails the round-trip property
 * test (test/transport/raft_wire.test.ts). Either way it cannot vanish silently on the wire.
 *
 * Receiving builds one `Message` and one `Entry` per decoded object; entry data stays the Buffer
 * view into the received batch that protobufjs made (no copy of the payload bytes). An entry can
 * therefore keep its whole batch's buffer alive; the batch is mostly entry data anyway.
 */

/** A decoded RaftMessage (proto-loader options in proto_files.ts: defaults, enums as String). */
export interface RaftMessageWireOut {
  type: string;
  to: string;
  from: string;
  term: number;
  logTerm: number;
  index: number;
  entries: { term: number; index: number; type: string; data: Buffer }[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  snapshot: {
    metadata: { index: number; term: number; confState: { voters: string[]; learners: string[] } | null } | null;
    data: Buffer;
  } | null;
  context?: Buffer;
  quiesce: boolean;
}

export interface GroupMessageWire<M> {
  readonly groupId: string;
  readonly message: M;
}

export interface MessageBatchWire<M> {
  readonly messages: readonly GroupMessageWire<M>[];
  /** A node liveness beat (a batch carrying one has no messages); absent or null otherwise. */
  readonly beat?: NodeBeatWire | null;
}

export interface NodeBeatWire {
  readonly nodeId: string;
  readonly incarnation: string;
}

export interface StreamAckWire {
  readonly batches: number;
  readonly messages: number;
}

/**
 * What the serializer accepts for a RaftMessage: the TS Message itself. The field names are
 * checked here against the decoded shape (the proto's), both ways; the values (enum names, byte
 * arrays) by the round-trip property test.
 */
export type RaftMessageWireIn = Message;
type Assert<T extends true> = T;
export type EveryMessageFieldOnTheWire = Assert<Exclude<keyof Message, keyof RaftMessageWireOut> extends never ? true : false>;
export type EveryWireFieldInMessage = Assert<Exclude<keyof RaftMessageWireOut, keyof Message> extends never ? true : false>;

/** The message as the serializer takes it: itself, no copy (see the module comment). */
export function messageToWire(m: Message): RaftMessageWireIn {
  return m;
}

const messageTypeByName: ReadonlyMap<string, MessageType> = new Map(Object.values(MessageType).map((t) => [t, t]));
const entryTypeByName: Readonly<Record<string, EntryType>> = {
  EntryNormal: EntryType.Normal,
  EntryConfChange: EntryType.ConfChange,
};

/** Why a received message was not handed to a group. */
export class RejectedMessageError extends QuorumError {
  constructor(message: string) {
    super('MESSAGE_REJECTED', message, 'fail');
    this.name = 'RejectedMessageError';
  }
}

/**
 * The Message a decoded RaftMessage stands for. Throws RejectedMessageError for what must not come
 * from the network: an unknown (newer, or unset) type, a local-only type such as MsgHup (a remote
 * MsgHup would start an election here), an unknown entry type.
 */
export function messageFromWire(w: RaftMessageWireOut): Message {
  const type = messageTypeByName.get(w.type);
  if (type === undefined) throw new RejectedMessageError(`unknown message type ${String(w.type)}`);
  if (isLocalMessage(type)) throw new RejectedMessageError(`${type} is local to a node and never travels`);
  const m: { -readonly [K in keyof Message]: Message[K] } = {
    type,
    to: w.to,
    from: w.from,
    term: w.term,
    logTerm: w.logTerm,
    index: w.index,
    entries: w.entries.length === 0 ? noEntries : entriesFromWire(w.entries),
    commit: w.commit,
    reject: w.reject,
    rejectHint: w.rejectHint,
  };
  if (w.snapshot) m.snapshot = snapshotFromWire(w.snapshot);
  if (w.context) m.context = w.context;
  if (w.quiesce) m.quiesce = true;
  return m;
}

function entriesFromWire(wire: RaftMessageWireOut['entries']): Entry[] {
  const entries = new Array<Entry>(wire.length);
  for (let i = 0; i < wire.length; i++) {
    const e = wire[i];
    const type = entryTypeByName[e.type];
    if (type === undefined) throw new RejectedMessageError(`unknown entry type ${String(e.type)}`);
    entries[i] = { term: e.term, index: e.index, type, data: e.data };
  }
  return entries;
}

function snapshotFromWire(w: NonNullable<RaftMessageWireOut['snapshot']>): Snapshot {
  const metadata = w.metadata;
  const confState = metadata?.confState;
  return {
    metadata: {
      index: metadata?.index ?? 0,
      term: metadata?.term ?? 0,
      confState: { voters: confState?.voters ?? [], learners: confState?.learners ?? [] },
    },
    data: w.data,
  };
}

/**
 * Estimated encoded size of a message: exact enough to split batches and to account queues before
 * encoding. Fixed fields are at most ~60 bytes of varints and tags.
 */
export function estimateWireSize(m: Message): number {
  let size = 64 + m.to.length + m.from.length;
  for (const e of m.entries) size += e.data.length + 24;
  if (m.context) size += m.context.length;
  if (m.snapshot) {
    size += m.snapshot.data.length + 32;
    for (const id of m.snapshot.metadata.confState.voters) size += id.length + 2;
    for (const id of m.snapshot.metadata.confState.learners) size += id.length + 2;
  }
  return size;
}

/**
 * A SnapshotChunk as the sender writes it: the head's fields (groupId, message, info), only data,
 * or only the end marker (see proto/raft.proto and snapshot_transfer.ts).
 */
export interface SnapshotChunkWireIn {
  readonly groupId?: string;
  readonly message?: RaftMessageWireIn;
  readonly info?: Uint8Array;
  readonly data?: Uint8Array;
  readonly end?: boolean;
}

/** A decoded SnapshotChunk: with defaults, absent fields are '', null, an empty Buffer or false. */
export interface SnapshotChunkWireOut {
  readonly groupId: string;
  readonly message: RaftMessageWireOut | null;
  readonly info: Buffer;
  readonly data: Buffer;
  readonly end: boolean;
}

export interface SnapshotAckWire {
  readonly chunksReceived: number;
  readonly bytesReceived: number;
}

type StreamMethod = MethodDefinition<MessageBatchWire<RaftMessageWireIn>, StreamAckWire, MessageBatchWire<RaftMessageWireOut>, StreamAckWire>;
type InstallSnapshotMethod = MethodDefinition<SnapshotChunkWireIn, SnapshotAckWire, SnapshotChunkWireOut, SnapshotAckWire>;

/** The RaftPeer service as proto-loader builds it from proto/raft.proto. */
export interface RaftPeerServiceDefinition {
  readonly Stream: StreamMethod;
  readonly InstallSnapshot: InstallSnapshotMethod;
}

let raftPeerServiceCache: RaftPeerServiceDefinition | null = null;

export function raftPeerService(): RaftPeerServiceDefinition {
  raftPeerServiceCache ??= serviceDefinition(loadProto('raft.proto'), 'quorumkv.raft.v1.RaftPeer') as unknown as RaftPeerServiceDefinition;
  return raftPeerServiceCache;
}

/** Encodes a batch with the service's own serializer (proto-loader: fromObject, then encode). */
export function encodeBatch(messages: readonly GroupMessageWire<RaftMessageWireIn>[]): Buffer {
  return raftPeerService().Stream.requestSerialize({ messages });
}

/** Encodes a batch that carries only a node liveness beat. */
export function encodeBeat(beat: NodeBeatWire): Buffer {
  return raftPeerService().Stream.requestSerialize({ messages: [], beat });
}

/** Decodes a batch as the server receives it. */
export function decodeBatch(buffer: Buffer): MessageBatchWire<RaftMessageWireOut> {
  return raftPeerService().Stream.requestDeserialize(buffer);
}
