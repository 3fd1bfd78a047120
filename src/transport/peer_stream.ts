import * as grpc from '@grpc/grpc-js';
import type { RaftLogger } from '../raft/config.js';
import { raftPeerService } from './raft_wire.js';
import type { StreamAckWire } from './raft_wire.js';

/** One encoded MessageBatch waiting for (or on its way to) a peer. */
export interface OutgoingBatch {
  readonly buffer: Buffer;
  readonly messages: number;
}

/** Counters of one peer stream; plain numbers, read by GrpcPeerTransport.stats(). */
export interface PeerStreamStats {
  state: PeerStreamState;
  batchesSent: number;
  messagesSent: number;
  bytesSent: number;
  batchesDropped: number;
  messagesDropped: number;
  /** Stream (re)opening attempts after the first. */
  reconnects: number;
  queuedBatches: number;
  queuedBytes: number;
}

/** Stream metadata naming the sender, so a receiver can answer a node it has not heard of. */
export const identityHeaders = { nodeId: 'qkv-node-id', address: 'qkv-node-addr' } as const;

export interface PeerStreamLimits {
  /** Encoded bytes kept while the stream is blocked or down; the oldest batches go beyond. */
  readonly maxQueuedBytes: number;
  readonly maxQueuedBatches: number;
  /** Reconnect backoff: doubles from initial to max (with jitter), reset once a stream lasted max. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** How long one attempt waits for the channel to become ready. */
  readonly connectTimeoutMs: number;
  /** How long close() lets an ended stream flush before cancelling it. */
  readonly closeGraceMs: number;
}

export interface PeerStreamOptions extends PeerStreamLimits {
  readonly peerId: string;
  readonly address: string;
  readonly channelOptions: grpc.ChannelOptions;
  /** Called (synchronously; the owner defers and throttles) when the peer looks unreachable. */
  readonly onUnreachable: () => void;
  readonly logger: RaftLogger;
  /** Sent when a stream opens: who we are and where we listen (see GrpcPeerTransport). */
  readonly identity?: { readonly nodeId: string; readonly address: string };
}

/**
 * The sending half of the link to one peer: one channel, one long-lived client stream, a bounded
 * queue for the times the stream cannot take more.
 *
 *            enqueue (first send)     channel ready          stream ends or fails
 *   idle ─────────────────────▶ connecting ───────▶ streaming ─────────────────────▶ backoff
 *                                  ▲   │ not ready in                                  │
 *                                  │   │ connectTimeoutMs                               │
 *                                  │   └──────────────▶ backoff                         │
 *                                  └─────────────── timer (50 ms … 250 ms) ◀────────────┘
 *   any state ── close() ──▶ closed
 *
 * While streaming and writable, a batch goes straight to the stream. When write() returned false
 * (HTTP/2 flow control: the peer is slow) until 'drain', and in every state but streaming, batches
 * wait in the queue; past its bounds the OLDEST are dropped: a newer heartbeat, vote or append
 * supersedes an older one, and the leader re-sends what a follower misses once it hears back. Each
 * drop and each failed attempt reports the peer unreachable, so the leader moves it to probing.
 *
 * Nothing here throws to the caller or waits: a dead peer costs its own timers and nothing else.
 */
export class PeerStream {
  readonly peerId: string;
  readonly address: string;
  readonly stats: PeerStreamStats = {
    state: 'idle',
    batchesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    batchesDropped: 0,
    messagesDropped: 0,
    reconnects: 0,
    queuedBatches: 0,
    queuedBytes: 0,
  };

  private readonly options: PeerStreamOptions;
  private client: grpc.Client | null = null;
  private call: grpc.ClientWritableStream<Buffer> | null = null;
  /** write() returned false; wait for 'drain'. */
  private blocked = false;
  /** A FIFO with a moving head, so that dropping the oldest and sending the next are O(1). */
  private queue: (OutgoingBatch | undefined)[] = [];
  private queueHead = 0;
  private backoffMs: number;
  private streamOpenedAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: PeerStreamOptions) {
    this.options = options;
    this.peerId = options.peerId;
    this.address = options.address;
    this.backoffMs = options.backoffInitialMs;
  }

  get state(): PeerStreamState {
    return this.stats.state;
  }

  /** Sends `batch` now if the stream can take it, else queues it (dropping the oldest beyond the bounds). */
  enqueue(batch: OutgoingBatch): void {
    const state = this.stats.state;
    if (state === 'closed') {
      this.countDrop(batch);
      return;
    }
    if (state === 'streaming' && !this.blocked && this.stats.queuedBatches === 0) {
      this.write(batch);
      return;
    }
    this.queue.push(batch);
    this.stats.queuedBatches++;
    this.stats.queuedBytes += batch.buffer.length;
    let dropped = false;
    while (this.stats.queuedBytes > this.options.maxQueuedBytes || this.stats.queuedBatches > this.options.maxQueuedBatches) {
      this.countDrop(this.shift());
      dropped = true;
    }
    if (dropped) this.options.onUnreachable();
    if (state === 'idle') this.connect();
  }

  /**
   * Ends the stream (letting what was written flush for up to closeGraceMs), closes the channel,
   * drops the queue. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.stats.state === 'closed') return;
    this.stats.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.stats.queuedBatches > 0) this.countDrop(this.shift());
    const call = this.call;
    this.call = null;
    if (call) {
      await new Promise<void>((resolve) => {
        const grace = setTimeout(() => {
          call.cancel();
          resolve();
        }, this.options.closeGraceMs);
        call.once('status', () => {
          clearTimeout(grace);
          resolve();
        });
        call.end();
      });
    }
    this.client?.close();
    this.client = null;
  }

  /**
   * The channel to this peer (created if need be, without connecting) for the other calls to it,
   * such as InstallSnapshot: they share its connection but are HTTP/2 streams of their own, so
   * neither waits behind the other's flow control. Null once closed.
   */
  channel(): grpc.Client | null {
    if (this.stats.state === 'closed') return null;
    this.client ??= new grpc.Client(this.address, grpc.credentials.createInsecure(), this.options.channelOptions);
    return this.client;
  }

  /** The metadata every call to this peer carries: who we are and where we listen, if configured. */
  callMetadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.options.identity) {
      metadata.set(identityHeaders.nodeId, this.options.identity.nodeId);
      metadata.set(identityHeaders.address, this.options.identity.address);
    }
    return metadata;
  }

  // ------------------------------------------------------------------ connection

  /**
   * Waits for the channel to be ready, watching its state rather than only a deadline, so that a
   * refused connection is reported at once. A channel still in TRANSIENT_FAILURE from an earlier
   * attempt is waiting out grpc's own reconnect backoff: keep watching until it moves.
   */
  private connect(): void {
    this.stats.state = 'connecting';
    const client = this.channel()!;
    const channel = client.getChannel();
    const deadline = Date.now() + this.options.connectTimeoutMs;
    const watch = (seen: grpc.connectivityState): void => {
      channel.watchConnectivityState(seen, deadline, (err) => {
        if (this.stats.state !== 'connecting' || this.client !== client) return; // closed meanwhile
        if (err) return this.failed(`not connected within ${this.options.connectTimeoutMs} ms`);
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) this.openStream(client);
        else if (state === grpc.connectivityState.TRANSIENT_FAILURE) this.failed('cannot connect');
        else watch(state);
      });
    };
    const state = channel.getConnectivityState(true);
    if (state === grpc.connectivityState.READY) this.openStream(client);
    else watch(state);
  }

  private openStream(client: grpc.Client): void {
    const method = raftPeerService().Stream;
    const call = client.makeClientStreamRequest<Buffer, StreamAckWire>(
      method.path,
      passEncoded,
      method.responseDeserialize,
      this.callMetadata(),
      (err) => this.onStreamEnded(call, err),
    );
    // Failures arrive through the callback above; an 'error' event must not crash the process.
    call.on('error', () => {});
    call.on('drain', () => {
      if (this.call !== call) return;
      this.blocked = false;
      this.flush();
    });
    this.call = call;
    this.blocked = false;
    this.streamOpenedAt = Date.now();
    this.stats.state = 'streaming';
    this.flush();
  }

  private onStreamEnded(call: grpc.ClientWritableStream<Buffer>, err: grpc.ServiceError | null): void {
    if (this.call !== call) return; // an older stream, or close() ended it
    this.call = null;
    this.failed(err ? `stream failed: ${err.details || err.message}` : 'stream ended by the peer');
  }

  private failed(reason: string): void {
    if (this.stats.state === 'closed') return;
    this.stats.state = 'backoff';
    this.blocked = false;
    // A stream that lived a while was a success: start the next wait from the bottom again. One
    // that failed at once (peer up but refusing the stream) keeps doubling, so it cannot spin.
    if (this.streamOpenedAt > 0 && Date.now() - this.streamOpenedAt >= this.options.backoffMaxMs) {
      this.backoffMs = this.options.backoffInitialMs;
    }
    this.streamOpenedAt = 0;
    const delay = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoffMaxMs);
    this.options.logger.debug('peer stream down', { peer: this.peerId, address: this.address, reason, retryInMs: Math.round(delay) });
    this.options.onUnreachable();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stats.state !== 'backoff') return;
      this.stats.reconnects++;
      this.connect();
    }, delay);
    this.timer.unref();
  }

  // ------------------------------------------------------------------ queue

  private write(batch: OutgoingBatch): void {
    const stats = this.stats;
    stats.batchesSent++;
    stats.messagesSent += batch.messages;
    stats.bytesSent += batch.buffer.length;
    if (!this.call!.write(batch.buffer)) this.blocked = true;
  }

  private flush(): void {
    while (this.stats.state === 'streaming' && !this.blocked && this.stats.queuedBatches > 0) this.write(this.shift());
  }

  private shift(): OutgoingBatch {
    const batch = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined;
    this.stats.queuedBatches--;
    this.stats.queuedBytes -= batch.buffer.length;
    if (this.stats.queuedBatches === 0) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return batch;
  }

  private countDrop(batch: OutgoingBatch): void {
    this.stats.batchesDropped++;
    this.stats.messagesDropped += batch.messages;
  }
}

export type PeerStreamState = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'closed';

/** Batches are encoded when they are sent (so the queue counts real bytes); grpc passes them on. */
function passEncoded(buffer: Buffer): Buffer {
  return buffer;
}
