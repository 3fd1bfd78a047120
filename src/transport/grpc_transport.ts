import * as grpc from '@grpc/grpc-js';
import { silentLogger } from '../raft/config.js';
import type { RaftLogger } from '../raft/config.js';
import { MessageType, type Message } from '../raft/types.js';
import type { GroupTransport } from './group_transport.js';
import { PeerStream, identityHeaders } from './peer_stream.js';
import type { PeerStreamLimits, PeerStreamStats } from './peer_stream.js';
import { encodeBatch, encodeBeat, estimateWireSize, messageFromWire, messageToWire, raftPeerService } from './raft_wire.js';
import type { GroupMessageWire, MessageBatchWire, NodeBeatWire, RaftMessageWireIn, RaftMessageWireOut, SnapshotAckWire, StreamAckWire } from './raft_wire.js';
import { InboundSnapshot, SnapshotTransferError, SnapshotTransferErrorCode, sendSnapshotCall } from './snapshot_transfer.js';
import type { IncomingSnapshot, OutgoingSnapshot, SnapshotSendOptions, SnapshotServerCall } from './snapshot_transfer.js';


/**
 * Largest message a peer server built with peerServerOptions accepts: 1 GiB, above a log entry
 * carrying Redis's largest value (512 MB, proto-max-bulk-len), which must replicate like any
 * other (a lower limit would wedge replication at that entry forever). Batches are split far below
 * it (maxBatchBytes, 1 MiB: the core's MsgApp size), so that even a server left at grpc's 4 MiB
 * default takes them; only a single message above this limit is refused at the sender, since it
 * would make the receiver fail the whole stream.
 */
export const peerMaxReceiveBytes = 1 << 30;

/**
 * Channel options for peer links on a LAN:
 * - keepalive: a ping every 5 s, a connection without a pong in 3 s is dead. That is how a paused
 *   (SIGSTOP) or silently partitioned peer is noticed: TCP alone would keep the stream "open" for
 *   minutes while writes pile up in the kernel;
 * - reconnect backoff 50 ms to 250 ms, like the stream's own: a restarted peer hears from the
 *   leader within ~250 ms of listening, and its first linearizable read waits for exactly that;
 * - no grpc retries: its retry buffer acknowledges writes before they reach the socket, which
 *   would hide back-pressure; Raft does its own retrying;
 * - a private subchannel pool: closing a transport really closes its connections.
 */
export const peerChannelOptions: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 5_000,
  'grpc.keepalive_timeout_ms': 3_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 250,
  'grpc.enable_retries': 0,
  'grpc.use_local_subchannel_pool': 1,
};

/** Options for the node's grpc.Server (peer traffic and admin share it). */
export const peerServerOptions: grpc.ServerOptions = {
  'grpc.max_receive_message_length': peerMaxReceiveBytes,
  'grpc.keepalive_time_ms': 5_000,
  'grpc.keepalive_timeout_ms': 3_000,
};

export const defaultPeerStreamLimits: PeerStreamLimits = {
  maxQueuedBytes: 8 << 20,
  maxQueuedBatches: 1024,
  backoffInitialMs: 50,
  backoffMaxMs: 250,
  connectTimeoutMs: 1_000,
  closeGraceMs: 500,
};

export interface GrpcPeerTransportOptions {
  /** This node's id (for logs). */
  readonly nodeId: string;
  /** The address book at start: peer id → host:port. */
  readonly peers?: Iterable<readonly [string, string]>;
  /** Every message received, with its group id. Must not block; a throw is counted and logged. */
  readonly onMessage: (groupId: string, message: Message) => void;
  /** A peer's node liveness beat (see sendBeats). Must not block. */
  readonly onBeat?: (nodeId: string, incarnation: string) => void;
  /**
   * A peer looks unreachable (its stream failed or could not be opened, or messages to it were
   * dropped). Called on a later turn, never inside send(), at most once per
   * unreachableIntervalMs per peer; the node passes it to RawNode.reportUnreachable.
   */
  readonly onUnreachable?: (peerId: string) => void;
  /**
   * A snapshot arriving from a peer (InstallSnapshot; see snapshot_transfer.ts). Resolving answers
   * the sender that the snapshot was taken in; rejecting answers it with the error's message.
   * Without it, InstallSnapshot calls are answered UNIMPLEMENTED.
   */
  readonly onSnapshot?: (incoming: IncomingSnapshot) => Promise<void>;
  /**
   * This node's gRPC address as peers should dial it. Sent when a stream opens; a receiver that
   * has no address for the sender learns it (how a node started with --join, knowing nobody,
   * answers the leader that added it).
   */
  readonly advertiseAddress?: string;
  readonly unreachableIntervalMs?: number;
  readonly limits?: Partial<PeerStreamLimits>;
  /** Messages of one send() to one peer are split into batches of about this many bytes. */
  readonly maxBatchBytes?: number;
  readonly channelOptions?: grpc.ChannelOptions;
  readonly logger?: RaftLogger;
}

export interface TransportStats {
  messagesSent: number;
  batchesSent: number;
  bytesSent: number;
  messagesReceived: number;
  batchesReceived: number;
  bytesReceived: number;
  /** Dropped on the sending side: queue bounds, unknown peer, too large, encoding failure. */
  messagesDropped: number;
  batchesDropped: number;
  /** Received but refused: unknown or local-only type, or the handler threw. */
  messagesRejected: number;
  /** Node liveness beats (batches of their own, counted in batchesSent but not in messagesSent). */
  beatsSent: number;
  beatsReceived: number;
  reconnects: number;
  peers: Record<string, PeerStreamStats>;
}

interface InboundStream {
  readonly call: grpc.ServerReadableStream<MessageBatchWire<RaftMessageWireOut>, StreamAckWire>;
  readonly callback: grpc.sendUnaryData<StreamAckWire>;
  batches: number;
  messages: number;
}

type Outbound = GroupMessageWire<RaftMessageWireIn>;

/** What one lane of one peer has been sent in this turn, in send order, with estimated sizes. */
interface Outbox {
  readonly messages: Outbound[];
  readonly sizes: number[];
}

/** A snapshot being sent: cancelled when its peer is moved or removed, or the transport closes. */
interface OutboundSnapshot {
  readonly peerId: string;
  readonly abort: AbortController;
}

/**
 * Raft peer traffic over gRPC.
 *
 * Receiving: `register(server)` adds the RaftPeer service to the node's grpc.Server; every message
 * of every inbound stream goes to `onMessage(groupId, message)`.
 *
 * Sending: `sendFor(groupId)` is a group's GroupTransport. `send(messages)` gathers them by
 * destination; at the end of the turn every peer gets one batch (per lane, split only past
 * maxBatchBytes) holding what every group sent it in that turn: the heartbeats of a tick of many
 * groups, or their answers, are one stream write per peer, not one per group. Each goes to that
 * peer's PeerStream: one channel and one long-lived client stream per peer, opened on first use,
 * with a bounded queue and reconnect backoff (see peer_stream.ts). send() never throws and never
 * waits.
 *
 * Snapshots: `sendSnapshot(peerId, transfer)` streams one on an InstallSnapshot call of its own on
 * the peer's channel; a receiver hands each to `onSnapshot` (snapshot_transfer.ts).
 */
export class GrpcPeerTransport {
  readonly nodeId: string;
  private readonly options: GrpcPeerTransportOptions;
  private readonly limits: PeerStreamLimits;
  private readonly maxBatchBytes: number;
  private readonly logger: RaftLogger;
  private readonly addresses = new Map<string, string>();
  private readonly streams = new Map<string, PeerStream>();
  /** Counters of streams closed by address book changes, kept so that totals never go down. */
  private readonly retired = { messagesSent: 0, batchesSent: 0, bytesSent: 0, messagesDropped: 0, batchesDropped: 0, reconnects: 0 };
  private readonly counters = {
    messagesReceived: 0,
    batchesReceived: 0,
    bytesReceived: 0,
    messagesRejected: 0,
    beatsSent: 0,
    beatsReceived: 0,
    /** Sending-side drops that never reached a PeerStream. */
    messagesDropped: 0,
    batchesDropped: 0,
  };
  private readonly inbound = new Set<InboundStream>();
  private readonly outboundSnapshots = new Set<OutboundSnapshot>();
  private readonly inboundSnapshots = new Set<InboundSnapshot>();
  private readonly lastUnreachable = new Map<string, number>();
  private readonly pendingCloses = new Set<Promise<void>>();
  /**
   * Streams retired (peer moved or removed) whose close has not completed: their counters are in
   * neither `streams` nor `retired` until it does, and stats() must still count them (it read
   * low for a while after every setPeer/removePeer: seen as messagesSent 1 instead of 2 in
   * grpc_transport.test under load, where the close took longer than the test's 50 ms).
   */
  private readonly retiring = new Set<PeerStream>();
  /** This turn's messages by stream, written by flush(); insertion order is first-send order. */
  private outboxes = new Map<PeerStream, Outbox>();
  private closed = false;

  constructor(options: GrpcPeerTransportOptions) {
    this.options = options;
    this.nodeId = options.nodeId;
    this.limits = { ...defaultPeerStreamLimits, ...options.limits };
    this.maxBatchBytes = options.maxBatchBytes ?? 1 << 20;
    this.logger = options.logger ?? silentLogger;
    for (const [id, address] of options.peers ?? []) this.addresses.set(id, address);
  }

  // ------------------------------------------------------------------ address book

  /** Adds or moves a peer; a moved peer's stream is closed and reopened at the new address. */
  setPeer(peerId: string, address: string): void {
    if (this.addresses.get(peerId) === address) return;
    this.addresses.set(peerId, address);
    this.retireStream(peerId);
  }

  removePeer(peerId: string): void {
    this.addresses.delete(peerId);
    this.retireStream(peerId);
    this.lastUnreachable.delete(peerId);
  }

  peers(): ReadonlyMap<string, string> {
    return new Map(this.addresses);
  }

  // ------------------------------------------------------------------ sending

  sendFor(groupId: string): GroupTransport {
    return { send: (messages) => this.send(groupId, messages) };
  }

  /**
   * Gathers `messages` of `groupId` for their destinations; they leave with everything else sent
   * to the same peer (and lane) in this turn, as one batch, when the turn's microtasks run (or at
   * an explicit flush()). Never throws, never waits.
   *
   * A microtask, not setImmediate: the Ready loops of a host's groups run in one round
   * (src/node/ready_round.ts), so their messages are all gathered before the round returns; a
   * later turn would hold a lone write's MsgApp back by one pass of the event loop, while its
   * followers wait for it. Messages of one group to one peer keep their order: each lane's batch
   * lists them as they were sent.
   */
  send(groupId: string, messages: readonly Message[]): void {
    if (messages.length === 0) return;
    try {
      for (const m of messages) this.gather(groupId, m);
    } catch (err) {
      // A bug, not a network condition; the Ready loop must go on regardless.
      this.logger.warn('raft transport: send failed', { group: groupId, error: (err as Error).message });
    }
  }

  /**
   * Writes what was gathered: one batch per peer and lane (split only past maxBatchBytes). The
   * transport calls it itself at the end of the turn; a caller may flush sooner.
   */
  flush(): void {
    if (this.outboxes.size === 0) return;
    const outboxes = this.outboxes;
    this.outboxes = new Map();
    for (const [stream, outbox] of outboxes) this.writeOutbox(stream, outbox);
  }

  /**
   * Puts `m` in this turn's outbox of its peer's lane.
   *
   * Two lanes to each peer, each its own stream on its own channel (connection), as etcd's
   * rafthttp keeps a stream for MsgApp apart from the one for every other message: appends
   * (which may carry megabytes of entries) never hold up heartbeats, votes and their answers
   * behind them. A value of tens of megabytes took seconds to cross a loaded link, during which
   * the followers heard no heartbeat and deposed a healthy leader. Raft is safe under the
   * reordering between lanes: a heartbeat never commits past what the follower is known to hold.
   */
  private gather(groupId: string, m: Message): void {
    const stream = this.streamFor(m.to, m.type === MessageType.MsgApp ? 'append' : 'message');
    if (!stream) {
      this.dropUnsent(1, 0);
      this.reportUnreachable(m.to);
      return;
    }
    const size = estimateWireSize(m);
    if (size > peerMaxReceiveBytes) {
      // It would make the peer fail the whole stream; Raft will send it again, smaller or by snapshot.
      this.logger.warn('raft transport: message too large to send', { peer: m.to, group: groupId, type: m.type, bytes: size });
      this.dropUnsent(1, 0);
      return;
    }
    let outbox = this.outboxes.get(stream);
    if (!outbox) {
      // The turn's first message schedules its flush (one already pending flushes this one too).
      if (this.outboxes.size === 0) {
        queueMicrotask(() => {
          try {
            this.flush();
          } catch (err) {
            this.logger.warn('raft transport: flush failed', { error: (err as Error).message });
          }
        });
      }
      outbox = { messages: [], sizes: [] };
      this.outboxes.set(stream, outbox);
    }
    outbox.messages.push({ groupId, message: messageToWire(m) });
    outbox.sizes.push(size);
  }

  private writeOutbox(stream: PeerStream, outbox: Outbox): void {
    const { messages, sizes } = outbox;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      if (i > start && bytes + sizes[i] > this.maxBatchBytes) {
        this.writeBatch(stream, messages.slice(start, i));
        start = i;
        bytes = 0;
      }
      bytes += sizes[i];
    }
    this.writeBatch(stream, start === 0 ? messages : messages.slice(start));
  }

  private writeBatch(stream: PeerStream, batch: Outbound[]): void {
    let buffer: Buffer;
    try {
      buffer = encodeBatch(batch);
    } catch (err) {
      this.logger.warn('raft transport: cannot encode batch', { peer: stream.peerId, error: (err as Error).message });
      this.dropUnsent(batch.length, 1);
      return;
    }
    stream.enqueue({ buffer, messages: batch.length });
  }

  private beat: { readonly incarnation: string; readonly buffer: Buffer } | null = null;

  /**
   * Sends every peer in the address book this node's liveness beat (one small batch each, on the
   * message lane, behind whatever heartbeats and votes are queued there; it is not gathered: the
   * ticker sends it before its groups' Ready round, whose messages go out a turn later). The node
   * calls this once per tick; the encoded beat is the same every time and is made once.
   */
  sendBeats(incarnation: string): void {
    if (this.closed) return;
    if (this.beat?.incarnation !== incarnation) {
      const wire: NodeBeatWire = { nodeId: this.nodeId, incarnation };
      this.beat = { incarnation, buffer: encodeBeat(wire) };
    }
    for (const peerId of this.addresses.keys()) {
      const stream = this.streamFor(peerId, 'message');
      if (!stream) continue;
      stream.enqueue({ buffer: this.beat.buffer, messages: 0 });
      this.counters.beatsSent++;
    }
  }

  /**
   * Streams a snapshot to `peerId` on an InstallSnapshot call of its own (its Raft stream goes on
   * meanwhile) and resolves once the peer answers that it took it in. Rejects with a
   * SnapshotTransferError (or the error the iteration of `transfer.chunks` threw): unknown peer,
   * refused, failed, idle for idleTimeoutMs, or aborted because the peer was moved or removed or
   * the transport closed. The node reports the result to Raft as MsgSnapStatus.
   */
  sendSnapshot(peerId: string, transfer: OutgoingSnapshot, options: SnapshotSendOptions = {}): Promise<void> {
    if (this.closed) {
      return Promise.reject(new SnapshotTransferError(SnapshotTransferErrorCode.Closed, `snapshot to ${peerId}: the transport of ${this.nodeId} is closed`));
    }
    // The append lane's channel: a snapshot is the bulkiest traffic there is.
    const stream = this.streamFor(peerId, 'append');
    const client = stream?.channel();
    if (!stream || !client) {
      return Promise.reject(new SnapshotTransferError(SnapshotTransferErrorCode.UnknownPeer, `snapshot to ${peerId}: no address for peer ${peerId}`));
    }
    const outbound: OutboundSnapshot = { peerId, abort: new AbortController() };
    const signal = options.signal ? AbortSignal.any([outbound.abort.signal, options.signal]) : outbound.abort.signal;
    this.outboundSnapshots.add(outbound);
    return sendSnapshotCall(client, stream.callMetadata(), peerId, transfer, { ...options, signal }).finally(() => this.outboundSnapshots.delete(outbound));
  }

  private abortSnapshotsTo(peerId: string | null, why: string): void {
    for (const outbound of this.outboundSnapshots) {
      if (peerId !== null && outbound.peerId !== peerId) continue;
      this.outboundSnapshots.delete(outbound);
      outbound.abort.abort(new SnapshotTransferError(SnapshotTransferErrorCode.Closed, `snapshot to ${outbound.peerId}: ${why}`));
    }
  }

  private streamFor(peerId: string, lane: Lane): PeerStream | null {
    if (this.closed) return null;
    const key = laneKey(peerId, lane);
    const existing = this.streams.get(key);
    if (existing) return existing;
    const address = this.addresses.get(peerId);
    if (address === undefined) return null;
    const stream = new PeerStream({
      ...this.limits,
      peerId,
      address,
      channelOptions: { ...peerChannelOptions, ...this.options.channelOptions },
      onUnreachable: () => this.reportUnreachable(peerId),
      logger: this.logger,
      ...(this.options.advertiseAddress ? { identity: { nodeId: this.nodeId, address: this.options.advertiseAddress } } : {}),
    });
    this.streams.set(key, stream);
    return stream;
  }

  private retireStream(peerId: string): void {
    this.abortSnapshotsTo(peerId, `peer ${peerId} was moved or removed`);
    for (const lane of lanes) this.retireLane(peerId, lane);
  }

  private retireLane(peerId: string, lane: Lane): void {
    const key = laneKey(peerId, lane);
    const stream = this.streams.get(key);
    if (!stream) return;
    this.streams.delete(key);
    // What this turn sent it goes into it before it closes, as it would have without gathering.
    const outbox = this.outboxes.get(stream);
    if (outbox) {
      this.outboxes.delete(stream);
      this.writeOutbox(stream, outbox);
    }
    this.retiring.add(stream);
    const closing = stream.close().then(() => {
      this.pendingCloses.delete(closing);
      this.retiring.delete(stream);
      const s = stream.stats;
      this.retired.messagesSent += s.messagesSent;
      this.retired.batchesSent += s.batchesSent;
      this.retired.bytesSent += s.bytesSent;
      this.retired.messagesDropped += s.messagesDropped;
      this.retired.batchesDropped += s.batchesDropped;
      this.retired.reconnects += s.reconnects;
    });
    this.pendingCloses.add(closing);
  }

  private dropUnsent(messages: number, batches: number): void {
    this.counters.messagesDropped += messages;
    this.counters.batchesDropped += batches;
  }

  private reportUnreachable(peerId: string): void {
    const callback = this.options.onUnreachable;
    if (!callback || this.closed) return;
    const now = Date.now();
    const last = this.lastUnreachable.get(peerId);
    if (last !== undefined && now - last < (this.options.unreachableIntervalMs ?? 100)) return;
    this.lastUnreachable.set(peerId, now);
    // Never inside send(): that runs in a group's Ready loop, which must not be re-entered.
    setImmediate(() => {
      if (this.closed) return;
      try {
        callback(peerId);
      } catch (err) {
        this.logger.warn('raft transport: onUnreachable threw', { peer: peerId, error: (err as Error).message });
      }
    });
  }

  // ------------------------------------------------------------------ receiving

  /** Adds the RaftPeer service to `server` (which the node owns, binds and shuts down). */
  register(server: grpc.Server): void {
    const service = raftPeerService();
    const stream = service.Stream;
    const counted = {
      ...stream,
      requestDeserialize: (buffer: Buffer) => {
        this.counters.bytesReceived += buffer.length;
        return stream.requestDeserialize(buffer);
      },
    };
    server.addService({ ...service, Stream: counted } as unknown as grpc.ServiceDefinition, {
      Stream: (
        call: grpc.ServerReadableStream<MessageBatchWire<RaftMessageWireOut>, StreamAckWire>,
        callback: grpc.sendUnaryData<StreamAckWire>,
      ) => this.acceptStream(call, callback),
      InstallSnapshot: (call: SnapshotServerCall, callback: grpc.sendUnaryData<SnapshotAckWire>) => this.acceptSnapshot(call, callback),
    });
  }

  private acceptSnapshot(call: SnapshotServerCall, callback: grpc.sendUnaryData<SnapshotAckWire>): void {
    const onSnapshot = this.options.onSnapshot;
    if (!onSnapshot) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: `node ${this.nodeId} takes no snapshots (no onSnapshot handler)` });
      return;
    }
    if (this.closed) {
      callback({ code: grpc.status.UNAVAILABLE, details: `node ${this.nodeId} is shutting down` });
      return;
    }
    this.learnSender(call.metadata);
    const inbound = new InboundSnapshot(call, callback, {
      nodeId: this.nodeId,
      onSnapshot,
      onRefused: () => this.counters.messagesRejected++,
      logger: this.logger,
    });
    this.inboundSnapshots.add(inbound);
    void inbound.done.finally(() => this.inboundSnapshots.delete(inbound));
  }

  private acceptStream(
    call: grpc.ServerReadableStream<MessageBatchWire<RaftMessageWireOut>, StreamAckWire>,
    callback: grpc.sendUnaryData<StreamAckWire>,
  ): void {
    if (this.closed) {
      callback({ code: grpc.status.UNAVAILABLE, details: `node ${this.nodeId} is shutting down` });
      return;
    }
    this.learnSender(call.metadata);
    const inbound: InboundStream = { call, callback, batches: 0, messages: 0 };
    this.inbound.add(inbound);
    call.on('data', (batch: MessageBatchWire<RaftMessageWireOut>) => this.receive(batch, inbound));
    call.on('end', () => this.answer(inbound));
    call.on('error', () => this.inbound.delete(inbound));
    call.on('cancelled', () => this.inbound.delete(inbound));
  }

  /** An unknown sender that says where it listens is added to the address book (never moved). */
  private learnSender(metadata: grpc.Metadata): void {
    const [id] = metadata.get(identityHeaders.nodeId);
    const [address] = metadata.get(identityHeaders.address);
    if (typeof id !== 'string' || typeof address !== 'string') return;
    if (!/^[a-z0-9-]{1,64}$/.test(id) || !/^[^\s]+:\d{1,5}$/.test(address) || id === this.nodeId) return;
    if (this.addresses.has(id)) return;
    this.logger.info('raft transport: learned a peer address from its stream', { peer: id, address });
    this.addresses.set(id, address);
  }

  private receive(batch: MessageBatchWire<RaftMessageWireOut>, inbound: InboundStream): void {
    inbound.batches++;
    inbound.messages += batch.messages.length;
    this.counters.batchesReceived++;
    if (batch.beat) {
      this.counters.beatsReceived++;
      try {
        this.options.onBeat?.(batch.beat.nodeId, batch.beat.incarnation);
      } catch (err) {
        this.logger.warn('raft transport: beat handler threw', { peer: batch.beat.nodeId, error: (err as Error).message });
      }
    }
    for (const gm of batch.messages) {
      let message: Message;
      try {
        message = messageFromWire(gm.message);
      } catch (err) {
        this.counters.messagesRejected++;
        this.logger.debug('raft transport: message refused', { group: gm.groupId, error: (err as Error).message });
        continue;
      }
      this.counters.messagesReceived++;
      try {
        this.options.onMessage(gm.groupId, message);
      } catch (err) {
        this.counters.messagesRejected++;
        this.logger.warn('raft transport: message handler threw', { group: gm.groupId, type: message.type, error: (err as Error).message });
      }
    }
  }

  /** Completes an inbound stream with what it carried (the sender ended it, or we are closing). */
  private answer(inbound: InboundStream): void {
    if (!this.inbound.delete(inbound)) return;
    inbound.callback(null, { batches: inbound.batches, messages: inbound.messages });
  }

  // ------------------------------------------------------------------ stats and shutdown

  stats(): TransportStats {
    const totals: TransportStats = {
      messagesSent: this.retired.messagesSent,
      batchesSent: this.retired.batchesSent,
      bytesSent: this.retired.bytesSent,
      messagesReceived: this.counters.messagesReceived,
      batchesReceived: this.counters.batchesReceived,
      bytesReceived: this.counters.bytesReceived,
      messagesDropped: this.retired.messagesDropped + this.counters.messagesDropped,
      batchesDropped: this.retired.batchesDropped + this.counters.batchesDropped,
      messagesRejected: this.counters.messagesRejected,
      beatsSent: this.counters.beatsSent,
      beatsReceived: this.counters.beatsReceived,
      reconnects: this.retired.reconnects,
      peers: {},
    };
    const add = (s: PeerStream['stats']): void => {
      totals.messagesSent += s.messagesSent;
      totals.batchesSent += s.batchesSent;
      totals.bytesSent += s.bytesSent;
      totals.messagesDropped += s.messagesDropped;
      totals.batchesDropped += s.batchesDropped;
      totals.reconnects += s.reconnects;
    };
    for (const [key, stream] of this.streams) {
      add(stream.stats);
      const peerId = peerOfLaneKey(key);
      totals.peers[peerId] = sumStreamStats(totals.peers[peerId], stream.stats);
      // The state shown is the message lane's (heartbeats and votes: whether the peer is reachable).
      if (key.endsWith('\u0000message')) totals.peers[peerId]!.state = stream.stats.state;
    }
    for (const stream of this.retiring) add(stream.stats);
    return totals;
  }

  /**
   * Closes every outbound stream and channel and answers every inbound stream, so that the node's
   * server.tryShutdown() is not held up by peers' long-lived streams. Sends after close are dropped.
   * Snapshot transfers both ways are broken off: outgoing ones reject, incoming ones' chunk
   * iterations throw and their senders are answered UNAVAILABLE.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const outbox of this.outboxes.values()) this.dropUnsent(outbox.messages.length, 1);
    this.outboxes.clear();
    for (const inbound of [...this.inbound]) this.answer(inbound);
    this.abortSnapshotsTo(null, `the transport of ${this.nodeId} closed`);
    for (const inbound of this.inboundSnapshots) {
      inbound.abort(new SnapshotTransferError(SnapshotTransferErrorCode.Closed, `node ${this.nodeId} is shutting down`));
    }
    const peers = new Set([...this.streams.keys()].map(peerOfLaneKey));
    for (const peerId of peers) this.retireStream(peerId);
    await Promise.all(this.pendingCloses);
  }
}

/** A peer's two streams: appends, and every other message (see gather). */
type Lane = 'append' | 'message';
const lanes: readonly Lane[] = ['append', 'message'];

function laneKey(peerId: string, lane: Lane): string {
  return `${peerId}\u0000${lane}`;
}

function peerOfLaneKey(key: string): string {
  return key.slice(0, key.indexOf('\u0000'));
}

/** A peer's stats: both lanes' figures added up. */
function sumStreamStats(a: PeerStreamStats | undefined, b: PeerStreamStats): PeerStreamStats {
  if (a === undefined) return { ...b };
  const out = { ...a } as Record<string, unknown>;
  for (const [k, v] of Object.entries(b)) if (typeof v === 'number' && typeof out[k] === 'number') out[k] = (out[k] as number) + v;
  return out as unknown as PeerStreamStats;
}
