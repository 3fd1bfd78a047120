import * as grpc from '@grpc/grpc-js';
import type { RaftLogger } from '../raft/config.js';
import { MessageType } from '../raft/types.js';
import type { Message } from '../raft/types.js';
import { FieldReader, FieldWriter, SnapshotFormatError, readDescriptor, readTotals, writeDescriptor, writeTotals } from '../storage/snapshot_format.js';
import type { SnapshotInfo } from '../storage/snapshot_format.js';
import { QuorumError } from '../util/errors.js';
import type { Outcome } from '../util/errors.js';
import { identityHeaders } from './peer_stream.js';
import { RejectedMessageError, messageFromWire, messageToWire, raftPeerService } from './raft_wire.js';
import type { SnapshotAckWire, SnapshotChunkWireOut } from './raft_wire.js';

/**
 * InstallSnapshot over gRPC: one client-streaming call per transfer, beside the peer's Raft stream
 * (same channel, its own HTTP/2 stream, so heartbeats never wait behind snapshot chunks).
 *
 *   sender                                              receiver
 *   head {groupId, MsgSnap, info} ───────────────────▶  checks it (else INVALID_ARGUMENT),
 *                                                       calls onSnapshot({..., chunks})
 *   chunk ───▶ chunk ───▶ ... (as the window allows) ─▶ chunks yields them as the consumer asks
 *   {end: true}, then the end of the stream ──────────▶ chunks ends; onSnapshot resolves
 *   resolves  ◀─────────────────────────────────────── SnapshotAck  (or an error status: rejects)
 *
 * Memory stays bounded at both ends by HTTP/2 flow control, never by buffering the snapshot:
 * - the sender pulls the next chunk from its source only when `call.write()` returned true, or
 *   after 'drain' (grpc-js's writable takes up to 16 messages before it says no: at most ~4 MiB
 *   of 256 KiB chunks waiting on the sending side);
 * - the receiver reads the call only as fast as its consumer iterates `chunks`: grpc-js pauses
 *   the HTTP/2 stream while its readable holds 16 messages nobody has asked for, the stream's
 *   window fills, and the sender's writes stop completing.
 *
 * A broken transfer never looks like a complete one: when the sender cancels, the connection
 * drops or the receiving transport closes, the receiver's `chunks` iteration throws; only the
 * sender's end marker ends it normally. Not the end of the client stream: a cancelled call can
 * arrive as a half-close followed by a reset (Node's Http2Stream.close() ends the writable side
 * first), which would otherwise read as a snapshot cut short but complete. The receiver's store
 * then still checks the totals of what arrived against `info` before it publishes anything.
 */

/** A snapshot to stream to a peer. */
export interface OutgoingSnapshot {
  readonly groupId: string;
  /** A MsgSnap to the peer; its snapshot.data is empty: the image travels as `chunks`. */
  readonly message: Message;
  readonly info: SnapshotInfo;
  /** The store's chunks (SnapshotReader.chunks()), each ≤ chunkBytes + 8 bytes, sent as they are. */
  readonly chunks: AsyncIterable<Buffer>;
}

/** A snapshot arriving from a peer; `chunks` can be iterated once. */
export interface IncomingSnapshot {
  readonly groupId: string;
  readonly from: string;
  readonly message: Message;
  readonly info: SnapshotInfo;
  /**
   * The store chunks, as they arrive and no faster than they are consumed. Ends normally only
   * once the sender has sent every chunk; throws a SnapshotTransferError if the transfer breaks
   * off (the consumer must then abort its write). Stopping early (break) cancels the reading.
   */
  readonly chunks: AsyncIterable<Buffer>;
}

export interface SnapshotSendOptions {
  /**
   * How long the transfer may wait on the peer without progress: while a written chunk has not
   * been taken by the call (the peer's window stays shut), and after the last chunk until the
   * answer. Every chunk taken restarts it; time spent reading the source does not count.
   * Default 30 s. The receiver must therefore answer within this after the last chunk.
   */
  readonly idleTimeoutMs?: number;
  /** Aborts the transfer: the call is cancelled and the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export const defaultSnapshotIdleTimeoutMs = 30_000;

export const SnapshotTransferErrorCode = {
  /** The transport has no address for the peer. */
  UnknownPeer: 'SNAPSHOT_UNKNOWN_PEER',
  /** The transfer does not describe one snapshot (wrong message type, destination, index or term). */
  Invalid: 'SNAPSHOT_INVALID',
  /** The receiver answered with an error: its handler rejected, it refused the head, or it takes no snapshots. */
  Refused: 'SNAPSHOT_REFUSED',
  /** The call failed or broke off: peer unreachable or gone, stream cancelled or reset. */
  Failed: 'SNAPSHOT_TRANSFER_FAILED',
  /** No progress for idleTimeoutMs. */
  IdleTimeout: 'SNAPSHOT_IDLE_TIMEOUT',
  /** The transport was closed, or the peer removed or moved, during the transfer. */
  Closed: 'SNAPSHOT_TRANSPORT_CLOSED',
} as const;
export type SnapshotTransferErrorCode = (typeof SnapshotTransferErrorCode)[keyof typeof SnapshotTransferErrorCode];

/**
 * Why a transfer did not complete. `outcome` is `unknown` when the sender had already sent every
 * chunk: the receiver may have installed the snapshot without the answer getting back. `status`
 * is the gRPC status the call ended with, and `remoteCode` the receiver's error code, when known.
 */
export class SnapshotTransferError extends QuorumError {
  override readonly name = 'SnapshotTransferError';
  declare readonly code: SnapshotTransferErrorCode;
  readonly status: grpc.status | undefined;
  readonly remoteCode: string | undefined;

  constructor(
    code: SnapshotTransferErrorCode,
    message: string,
    options: { cause?: unknown; outcome?: Outcome; status?: grpc.status; remoteCode?: string } = {},
  ) {
    super(code, message, options.outcome ?? 'fail', options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.remoteCode = options.remoteCode;
  }
}

/** Trailing metadata naming the receiver's error code, when its handler rejected with a coded error. */
export const remoteErrorCodeHeader = 'qkv-error-code';

// -------------------------------------------------------------------------------------------------
// The head's info field

/** descriptor | totals, as snapshot_format.ts encodes them. */
export function encodeSnapshotInfo(info: SnapshotInfo): Buffer {
  const writer = new FieldWriter();
  writeDescriptor(writer, info);
  writeTotals(writer, info);
  return writer.toBuffer();
}

/** Throws SnapshotFormatError if `bytes` is not exactly one descriptor and its totals. */
export function decodeSnapshotInfo(bytes: Buffer): SnapshotInfo {
  const reader = new FieldReader(bytes);
  const descriptor = readDescriptor(reader);
  const totals = readTotals(reader);
  reader.expectEnd('snapshot info');
  return { ...descriptor, ...totals };
}

/**
 * Why `message` cannot carry the snapshot `info` of `groupId`, or null. Both ends ask: the sender
 * before it opens the call, the receiver before it hands the transfer on.
 */
export function snapshotHeadProblem(groupId: string, message: Message, info: SnapshotInfo): string | null {
  if (message.type !== MessageType.MsgSnap) return `a ${message.type} cannot carry a snapshot, only a MsgSnap`;
  if (groupId !== info.groupId) return `the transfer is for group ${groupId} but the snapshot is of group ${info.groupId}`;
  const snapshot = message.snapshot;
  if (!snapshot) return 'the MsgSnap has no snapshot metadata';
  if (snapshot.data.length > 0) return `the MsgSnap carries ${snapshot.data.length} bytes of image; the image travels as chunks`;
  const { index, term } = snapshot.metadata;
  if (index !== info.index || term !== info.term) {
    return `the MsgSnap is for index ${index} term ${term} but the snapshot is at index ${info.index} term ${info.term}`;
  }
  return null;
}

// -------------------------------------------------------------------------------------------------
// Sending

/**
 * Streams `transfer` to `peerId` on `client` (the peer's channel) and resolves when the peer has
 * answered that it took the snapshot in. Rejects with a SnapshotTransferError, or with the error
 * the iteration of `transfer.chunks` threw; either way the call is cancelled and the source's
 * iterator returned (so a store reader is released).
 */
export function sendSnapshotCall(
  client: grpc.Client,
  metadata: grpc.Metadata,
  peerId: string,
  transfer: OutgoingSnapshot,
  options: SnapshotSendOptions = {},
): Promise<void> {
  const method = raftPeerService().InstallSnapshot;
  const problem =
    transfer.message.to === peerId
      ? snapshotHeadProblem(transfer.groupId, transfer.message, transfer.info)
      : `the MsgSnap is addressed to ${transfer.message.to}, not to ${peerId}`;
  let head: Buffer;
  try {
    if (problem !== null) throw new Error(problem);
    head = method.requestSerialize({ groupId: transfer.groupId, message: messageToWire(transfer.message), info: encodeSnapshotInfo(transfer.info) });
  } catch (err) {
    const reason = (err as Error).message;
    return Promise.reject(new SnapshotTransferError(SnapshotTransferErrorCode.Invalid, `snapshot to ${peerId}: ${reason}`, problem === null ? { cause: err } : {}));
  }
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  const endMarker = method.requestSerialize({ end: true });
  const idleTimeoutMs = options.idleTimeoutMs ?? defaultSnapshotIdleTimeoutMs;
  const what = `snapshot ${transfer.info.index} of group ${transfer.groupId} to ${peerId}`;

  return new Promise<void>((resolve, reject) => {
    let settled = false;
    /** The end marker is written: a failure from here on has an unknown outcome. */
    let ended = false;
    /** Writes whose callback has not come yet (the call has not passed them on to HTTP/2). */
    let outstanding = 0;
    let idleTimer: NodeJS.Timeout | null = null;
    let wakePump: (() => void) | null = null;

    const call = client.makeClientStreamRequest<Buffer, SnapshotAckWire>(
      method.path,
      passEncoded,
      method.responseDeserialize,
      metadata,
      (err) => (err ? fail(callError(what, err, ended)) : succeed()),
    );
    // Failures arrive through the callback above; an 'error' event must not crash the process.
    call.on('error', () => {});
    call.on('drain', wake);
    const onAbort = (): void => fail(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });

    function wake(): void {
      const pump = wakePump;
      wakePump = null;
      pump?.();
    }

    function settle(): void {
      settled = true;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
      signal?.removeEventListener('abort', onAbort);
      wake();
    }

    function fail(err: unknown): void {
      if (settled) return;
      settle();
      call.cancel();
      reject(err);
    }

    function succeed(): void {
      if (settled) return;
      settle();
      resolve();
    }

    /** Runs the idle timer while we wait on the peer (see SnapshotSendOptions.idleTimeoutMs). */
    function restartIdleTimer(): void {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
      if (settled || (outstanding === 0 && !ended)) return;
      idleTimer = setTimeout(() => {
        const waitingFor = outstanding > 0 ? 'to take a chunk' : 'to answer after the last chunk';
        fail(
          new SnapshotTransferError(SnapshotTransferErrorCode.IdleTimeout, `${what}: no progress for ${idleTimeoutMs} ms waiting for the peer ${waitingFor}`, {
            outcome: ended ? 'unknown' : 'fail',
          }),
        );
      }, idleTimeoutMs);
    }

    function write(buffer: Buffer): boolean {
      outstanding++;
      const writable = call.write(buffer, () => {
        outstanding--;
        restartIdleTimer();
      });
      if (outstanding === 1) restartIdleTimer();
      return writable;
    }

    async function pump(): Promise<void> {
      let iterator: AsyncIterator<Buffer>;
      let exhausted = false;
      try {
        iterator = transfer.chunks[Symbol.asyncIterator]();
        let writable = write(head);
        while (!settled) {
          if (!writable) {
            await new Promise<void>((r) => (wakePump = r));
            writable = true;
            continue;
          }
          const next = await iterator.next();
          if (next.done) exhausted = true;
          if (settled || exhausted) break;
          writable = write(method.requestSerialize({ data: next.value }));
        }
      } catch (err) {
        // The source failed (or a chunk could not be encoded): that error is the answer.
        exhausted = true;
        fail(err);
        return;
      }
      if (settled) {
        // The call ended first (failed, aborted, or the peer answered early): release the source.
        if (!exhausted) void Promise.resolve(iterator.return?.()).catch(() => {});
        return;
      }
      ended = true;
      write(endMarker);
      call.end();
      restartIdleTimer();
    }

    void pump();
  });
}

function callError(what: string, err: grpc.ServiceError, ended: boolean): SnapshotTransferError {
  const details = err.details || err.message;
  const [remoteCode] = err.metadata?.get(remoteErrorCodeHeader) ?? [];
  const options = { status: err.code, outcome: ended ? ('unknown' as const) : ('fail' as const), cause: err, ...(typeof remoteCode === 'string' ? { remoteCode } : {}) };
  switch (err.code) {
    case grpc.status.UNIMPLEMENTED:
      return new SnapshotTransferError(SnapshotTransferErrorCode.Refused, `${what}: the peer takes no snapshots: ${details}`, { ...options, outcome: 'fail' });
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.ABORTED:
      return new SnapshotTransferError(SnapshotTransferErrorCode.Refused, `${what}: the peer refused it: ${details}`, { ...options, outcome: 'fail' });
    default:
      return new SnapshotTransferError(SnapshotTransferErrorCode.Failed, `${what}: ${grpc.status[err.code] ?? err.code}: ${details}`, options);
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new SnapshotTransferError(SnapshotTransferErrorCode.Failed, 'the snapshot transfer was aborted');
}

/** Chunks are encoded when they are written (so that the head's problems show before the call); grpc passes them on. */
function passEncoded(buffer: Buffer): Buffer {
  return buffer;
}

// -------------------------------------------------------------------------------------------------
// Receiving

export type SnapshotServerCall = grpc.ServerReadableStream<SnapshotChunkWireOut, SnapshotAckWire>;

export interface SnapshotReceiverOptions {
  /** This node's id: a head addressed to another node is refused. */
  readonly nodeId: string;
  readonly onSnapshot: (incoming: IncomingSnapshot) => Promise<void>;
  /** A head was refused (counted as a rejected message by the transport). */
  readonly onRefused: () => void;
  readonly logger: RaftLogger;
}

function cancelledError(): SnapshotTransferError {
  return new SnapshotTransferError(SnapshotTransferErrorCode.Failed, 'the sender cancelled the snapshot transfer (or its connection broke)', {
    status: grpc.status.CANCELLED,
  });
}

/** A head that must not be handed on; answered INVALID_ARGUMENT. */
class RefusedHeadError extends QuorumError {
  constructor(message: string) {
    super('SNAPSHOT_HEAD_REFUSED', message, 'fail');
    this.name = 'RefusedHeadError';
  }
}

/**
 * One InstallSnapshot call being received (see the module comment). `abort()` is for a closing
 * transport: the consumer's iteration throws and the sender is answered UNAVAILABLE.
 */
export class InboundSnapshot {
  chunksReceived = 0;
  bytesReceived = 0;
  /** Settles when the call has been answered (or the handler gave up on a call already cancelled). */
  readonly done: Promise<void>;

  private readonly call: SnapshotServerCall;
  private readonly callback: grpc.sendUnaryData<SnapshotAckWire>;
  private readonly options: SnapshotReceiverOptions;
  private answered = false;
  /** Why the chunk stream broke off, once it has. */
  private broken: Error | null = null;
  /** A protocol error found in the chunk stream: the answer whatever the handler says. */
  private violation: string | null = null;

  constructor(call: SnapshotServerCall, callback: grpc.sendUnaryData<SnapshotAckWire>, options: SnapshotReceiverOptions) {
    this.call = call;
    this.callback = callback;
    this.options = options;
    // destroy(err) in abort() emits 'error'; the iterator sees it, but nobody may be iterating.
    call.on('error', () => {});
    call.on('cancelled', () => {
      this.broken ??= cancelledError();
      this.answered = true; // nobody to answer
    });
    this.done = this.run();
  }

  abort(reason: SnapshotTransferError): void {
    this.broken ??= reason;
    this.call.destroy(reason);
    this.answer({ code: grpc.status.UNAVAILABLE, details: reason.message });
  }

  private async run(): Promise<void> {
    const iterator = this.call[Symbol.asyncIterator]() as AsyncIterator<SnapshotChunkWireOut>;
    let incoming: IncomingSnapshot;
    try {
      const first = await iterator.next();
      if (first.done) throw new RefusedHeadError('the transfer ended before its head');
      incoming = { ...this.parseHead(first.value), chunks: this.chunks(iterator) };
    } catch (err) {
      if (err instanceof RefusedHeadError) {
        this.options.onRefused();
        this.options.logger.warn('raft transport: snapshot refused', { error: err.message });
        this.answer({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
      } else {
        this.answer({ code: grpc.status.CANCELLED, details: `the transfer broke off before its head: ${(err as Error).message}` });
      }
      void Promise.resolve(iterator.return?.()).catch(() => {});
      return;
    }
    try {
      await this.options.onSnapshot(incoming);
    } catch (err) {
      if (this.violation !== null) return this.answer({ code: grpc.status.INVALID_ARGUMENT, details: this.violation });
      const code = (err as { code?: unknown }).code;
      const metadata = new grpc.Metadata();
      if (typeof code === 'string') metadata.set(remoteErrorCodeHeader, code);
      this.answer({ code: grpc.status.ABORTED, details: err instanceof Error ? err.message : String(err), metadata });
      return;
    }
    this.answer(null);
  }

  private parseHead(head: SnapshotChunkWireOut): Omit<IncomingSnapshot, 'chunks'> {
    if (head.message === null || head.info.length === 0) throw new RefusedHeadError('the first chunk of a transfer must carry the message and the snapshot info');
    if (head.data.length > 0 || head.end) throw new RefusedHeadError('the first chunk of a transfer carries no data and no end marker');
    let message: Message;
    let info: SnapshotInfo;
    try {
      message = messageFromWire(head.message);
      info = decodeSnapshotInfo(head.info);
    } catch (err) {
      if (err instanceof RejectedMessageError || err instanceof SnapshotFormatError) throw new RefusedHeadError(err.message);
      throw err;
    }
    const [sender] = this.call.metadata.get(identityHeaders.nodeId);
    if (typeof sender === 'string' && sender !== message.from) throw new RefusedHeadError(`a message from ${message.from} on a call from ${sender}`);
    if (message.to !== this.options.nodeId) throw new RefusedHeadError(`a message to ${message.to} sent to node ${this.options.nodeId}`);
    const problem = snapshotHeadProblem(head.groupId, message, info);
    if (problem !== null) throw new RefusedHeadError(problem);
    return { groupId: head.groupId, from: message.from, message, info };
  }

  /** The data chunks after the head: ends normally only at the sender's end marker. */
  private async *chunks(iterator: AsyncIterator<SnapshotChunkWireOut>): AsyncGenerator<Buffer, void, undefined> {
    let finished = false;
    try {
      for (;;) {
        let next: IteratorResult<SnapshotChunkWireOut>;
        try {
          next = await iterator.next();
        } catch (err) {
          finished = true;
          throw this.broken ?? new SnapshotTransferError(SnapshotTransferErrorCode.Failed, `the snapshot transfer broke off: ${(err as Error).message}`, { cause: err });
        }
        if (next.done) {
          finished = true;
          // A half-close without the end marker: a cancelled call (see the module comment), or a
          // sender that stopped short. Either way not a complete transfer.
          if (this.broken || this.call.cancelled) throw this.broken ?? cancelledError();
          this.violation = `the stream ended after ${this.chunksReceived} chunks without the end marker`;
          throw new SnapshotTransferError(SnapshotTransferErrorCode.Failed, `the snapshot transfer broke off: ${this.violation}`);
        }
        const chunk = next.value;
        if (chunk.message !== null || chunk.info.length > 0) {
          this.violation = `chunk ${this.chunksReceived + 1} of the transfer carries a head; only the first may`;
          throw new SnapshotTransferError(SnapshotTransferErrorCode.Invalid, this.violation);
        }
        if (chunk.end) {
          if (chunk.data.length > 0) {
            this.violation = 'the end marker carries data';
            throw new SnapshotTransferError(SnapshotTransferErrorCode.Invalid, this.violation);
          }
          // Whatever follows (the half-close) is of no interest; the call stays open for the answer.
          finished = true;
          return;
        }
        this.chunksReceived++;
        this.bytesReceived += chunk.data.length;
        yield chunk.data;
      }
    } finally {
      // Stopped early (break, or a violation): stop reading the call.
      if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {});
    }
  }

  private answer(status: Partial<grpc.StatusObject> | null): void {
    if (this.answered) return;
    this.answered = true;
    if (status === null) this.callback(null, { chunksReceived: this.chunksReceived, bytesReceived: this.bytesReceived });
    else this.callback(status);
  }
}
