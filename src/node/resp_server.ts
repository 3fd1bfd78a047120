import net from 'node:net';
import type { ClientState, ConnectionContext, ServerContext } from '../commands/connection_context.js';
import { ProtocolError } from '../resp/errors.js';
import { ReplyWriter } from '../resp/encoder.js';
import type { RespLimits } from '../resp/limits.js';
import { RespParser } from '../resp/parser.js';
import type { Reply } from '../resp/reply.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import type { ClassifiedCommand } from './command_classifier.js';
import { OncePerTurn } from '../util/once_per_turn.js';
import type { ServerStats } from './server_stats.js';

/** What a connection needs from the gateway (see Gateway: classify, then runs in order). */
export interface CommandExecutor {
  classify(ctx: ConnectionContext, args: readonly Buffer[]): ClassifiedCommand;
  /** `client`: the connection the run came from, as it is when the run's turn comes (READONLY). */
  readRun(items: readonly { spec: ReadCommandSpec; args: readonly Buffer[] }[], client: ClientState): Promise<Reply[]>;
  writeRun(items: readonly { spec: WriteCommandSpec; args: readonly Buffer[] }[], client: ClientState): Promise<Reply[]>;
}

export interface RespServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxClients: number;
  readonly limits?: Partial<RespLimits>;
  /**
   * Makes each connection's request parser; by default one with `limits`. quorumkv has no AUTH
   * yet, so no node starts a connection unauthenticated: tests of Redis's pre-AUTH request
   * bounds make such a parser here.
   */
  readonly newParser?: () => RespParser;
  readonly executor: CommandExecutor;
  readonly server: ServerContext;
  readonly stats: ServerStats;
  readonly clock: () => number;
  readonly onClientError?: (err: Error, client: ClientState) => void;
}

/**
 * Stop reading from a client whose replies are not being taken (socket buffer full) or that has
 * this many commands in flight: it slows down, nobody else does.
 */
const maxPendingPerConnection = 100_000;

/**
 * A connection that is closing (after QUIT, CLIENT KILL of itself, a protocol error) is destroyed
 * once its last replies are handed to the kernel, or once the peer has taken none of them for
 * this long: a client that stopped reading must not keep its socket, and its maxclients slot,
 * for good. Redis waits for such a client without limit (its default output buffer limit for
 * normal clients is none); every reply still goes out to a client that reads.
 */
export const closeStallMs = 5_000;

/** A reply slot, in command order: replies go out in the order commands came in (pipelining). */
interface Slot {
  done: boolean;
  reply: Reply | null;
  /** The connection's protocol when the reply was made (HELLO switches it mid-pipeline). */
  protocol: 2 | 3;
}

interface Queued {
  readonly cmd: ClassifiedCommand;
  readonly slot: Slot;
}

/**
 * One client connection: parses pipelined commands and executes them as Redis would, one after
 * the other, while still batching: consecutive reads (or writes) form a run that the gateway
 * serves together (one ReadIndex round; one append), and the next run starts when it is
 * answered. Replies are written strictly in order, gathered into one socket write per turn.
 */
class ClientConnection {
  readonly client: ClientState;
  private readonly ctx: ConnectionContext;
  private readonly parser: RespParser;
  private readonly writer = new ReplyWriter();
  private slots: Slot[] = [];
  private head = 0;
  private queue: Queued[] = [];
  private queueHead = 0;
  private runInFlight = false;
  private readonly flusher = new OncePerTurn(() => this.flush());
  /** No more requests are read: a protocol error was seen, or QUIT (or CLIENT KILL of itself) ran. */
  private inputEnded = false;
  /** The last reply went out and the socket is being closed (see closeWhenFlushed). */
  private closeStarted = false;
  private released = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private readingPaused = false;

  constructor(
    readonly socket: net.Socket,
    id: number,
    private readonly options: RespServerOptions,
    private readonly onClose: (c: ClientConnection) => void,
  ) {
    const now = options.clock();
    this.client = {
      id,
      addr: `${socket.remoteAddress}:${socket.remotePort}`,
      laddr: `${socket.localAddress}:${socket.localPort}`,
      createdAtMs: now,
      lastInteractionMs: now,
      name: '',
      protocol: 2,
      db: 0,
      lastCommand: 'NULL',
      closeAfterReply: false,
      readOnly: false,
    };
    this.ctx = { client: this.client, server: options.server };
    this.parser = options.newParser?.() ?? new RespParser(options.limits);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('error', (err) => options.onClientError?.(err, this.client));
    socket.on('close', () => this.release());
  }

  private onData(chunk: Buffer): void {
    if (this.inputEnded || this.released) return;
    this.options.stats.totalNetInputBytes += chunk.length;
    this.client.lastInteractionMs = this.options.clock();
    this.parser.feed(chunk);
    for (;;) {
      const parsed = this.parser.next();
      if (parsed === null) break;
      if (parsed instanceof ProtocolError) {
        this.endInput();
        const reply = parsed.reply;
        if (reply === null) {
          // The query buffer limit: Redis frees such a client at once (freeClientAsync), without
          // a reply and without sending the replies it still owes.
          this.destroy();
          return;
        }
        // Redis answers a protocol error after the replies of the commands that came before
        // it, then closes the connection: the error takes its turn like QUIT does.
        this.enqueue({
          kind: 'connection',
          run: () => {
            this.client.closeAfterReply = true;
            return reply;
          },
        });
        break;
      }
      this.options.stats.totalCommandsProcessed++;
      this.enqueue(this.options.executor.classify(this.ctx, parsed));
    }
    this.pump();
    this.maybePause();
  }

  private enqueue(cmd: ClassifiedCommand): void {
    const slot: Slot = { done: false, reply: null, protocol: this.client.protocol };
    this.slots.push(slot);
    this.queue.push({ cmd, slot });
  }

  /** Executes queued commands in order: connection commands at once, reads and writes in runs. */
  private pump(): void {
    while (!this.runInFlight && this.queueHead < this.queue.length) {
      const { cmd, slot } = this.queue[this.queueHead];
      if (cmd.kind === 'immediate' || cmd.kind === 'connection') {
        this.queueHead++;
        const reply = cmd.kind === 'immediate' ? cmd.reply : cmd.run();
        if (reply instanceof Promise) {
          // A connection command that reads state (CLUSTER COUNTKEYSINSLOT): it holds the
          // connection's turn like a run does, so what comes after it runs after it.
          this.runInFlight = true;
          const settle = (r: Reply): void => {
            this.complete(slot, r);
            this.runInFlight = false;
            this.compactQueue();
            this.pump();
            this.maybeResume();
          };
          reply.then(settle, (err: Error) => settle({ kind: 'error', message: `ERR internal error: ${err.message}` }));
          return;
        }
        this.complete(slot, reply);
        if (this.client.closeAfterReply) {
          // QUIT, CLIENT KILL of itself, a protocol error: nothing after it runs.
          this.dropQueuedAfter();
          this.endInput();
          return;
        }
        continue;
      }
      const kind = cmd.kind;
      let end = this.queueHead;
      while (end < this.queue.length && this.queue[end].cmd.kind === kind) end++;
      const run = this.queue.slice(this.queueHead, end);
      this.queueHead = end;
      this.runInFlight = true;
      const done = (replies: Reply[]): void => {
        run.forEach((q, i) => this.complete(q.slot, replies[i]));
        this.runInFlight = false;
        this.compactQueue();
        this.pump();
        this.maybeResume();
      };
      const failed = (err: Error): void => done(run.map(() => ({ kind: 'error', message: `ERR internal error: ${err.message}` })));
      const promise =
        kind === 'read'
          ? this.options.executor.readRun(run.map((q) => q.cmd as Extract<ClassifiedCommand, { kind: 'read' }>), this.client)
          : this.options.executor.writeRun(run.map((q) => q.cmd as Extract<ClassifiedCommand, { kind: 'write' }>), this.client);
      promise.then(done, failed);
    }
    this.compactQueue();
  }

  private compactQueue(): void {
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private dropQueuedAfter(): void {
    const dropped = new Set(this.queue.slice(this.queueHead).map((q) => q.slot));
    this.queue = [];
    this.queueHead = 0;
    this.slots = this.slots.filter((s) => !dropped.has(s));
    this.head = Math.min(this.head, this.slots.length);
  }

  private endInput(): void {
    this.inputEnded = true;
    this.socket.pause();
  }

  private complete(slot: Slot, reply: Reply): void {
    slot.done = true;
    slot.reply = reply;
    slot.protocol = this.client.protocol;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flusher.schedule();
  }

  private flush(): void {
    let wrote = false;
    while (this.head < this.slots.length && this.slots[this.head].done) {
      const slot = this.slots[this.head];
      this.writer.write(slot.reply!, slot.protocol);
      slot.reply = null;
      this.head++;
      wrote = true;
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    if (wrote && !this.socket.destroyed) {
      const bytes = this.writer.take();
      this.options.stats.totalNetOutputBytes += bytes.length;
      this.socket.write(bytes);
    }
    if (this.client.closeAfterReply && this.head === this.slots.length && !this.runInFlight) {
      this.closeWhenFlushed();
      return;
    }
    this.maybeResume();
  }

  /**
   * Closes after the last reply, as Redis frees a CLIENT_CLOSE_AFTER_REPLY client once its
   * output is written: half-close when the kernel has every byte, then destroy, so that the
   * peer reads the replies and an EOF, and a peer still writing gets a reset instead of
   * blocking on a connection nobody reads. Bounded by closeStallMs for a peer that reads nothing.
   */
  private closeWhenFlushed(): void {
    if (this.closeStarted || this.released) return;
    this.closeStarted = true;
    if (this.socket.destroyed) {
      this.release();
      return;
    }
    let unsent = this.socket.writableLength;
    const stalled = (): void => {
      if (this.released) return;
      const now = this.socket.writableLength;
      if (now >= unsent) {
        this.destroy();
        return;
      }
      unsent = now;
      this.stallTimer = setTimeout(stalled, closeStallMs);
    };
    this.stallTimer = setTimeout(stalled, closeStallMs);
    this.socket.once('finish', () => this.destroy());
    this.socket.end();
  }

  private pending(): number {
    return this.slots.length - this.head;
  }

  private maybePause(): void {
    if (this.readingPaused || this.inputEnded) return;
    if (this.socket.writableNeedDrain || this.pending() >= maxPendingPerConnection) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  private maybeResume(): void {
    if (!this.readingPaused || this.inputEnded) return;
    if (!this.socket.writableNeedDrain && this.pending() < maxPendingPerConnection / 2) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }

  /**
   * Closes now, dropping unsent replies (CLIENT KILL, server shutdown), and leaves the server's
   * client list at once, as Redis's freeClient: a pipelined CLIENT LIST after CLIENT KILL no
   * longer shows the client, and its maxclients slot is free for the next connection.
   */
  destroy(): void {
    this.inputEnded = true;
    this.socket.destroy();
    this.release();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.stallTimer);
    this.onClose(this);
  }
}

/** The RESP listener: accepts clients up to maxclients and hands their commands to `run`. */
export class RespServer {
  private readonly server: net.Server;
  private readonly connections = new Map<number, ClientConnection>();
  private nextClientId = 1;

  constructor(private readonly options: RespServerOptions) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    const stats = this.options.stats;
    stats.totalConnectionsReceived++;
    if (this.connections.size >= this.options.maxClients) {
      stats.rejectedConnections++;
      // Redis writes the error and closes at once. Half-closing alone would leave the socket
      // open for as long as the peer keeps it, with nobody reading what it sends.
      socket.on('error', () => {}); // a reset from the peer is no error of ours
      const stalled = setTimeout(() => socket.destroy(), closeStallMs);
      socket.once('close', () => clearTimeout(stalled));
      socket.end('-ERR max number of clients reached\r\n', () => socket.destroy());
      return;
    }
    const id = this.nextClientId++;
    const conn = new ClientConnection(socket, id, this.options, (c) => this.connections.delete(c.client.id));
    this.connections.set(id, conn);
  }

  clients(): ClientState[] {
    return [...this.connections.values()].map((c) => c.client);
  }

  kill(id: number): boolean {
    const c = this.connections.get(id);
    if (!c) return false;
    c.destroy();
    return true;
  }

  /** Stops accepting; closes every client. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const c of this.connections.values()) c.destroy();
    await closed;
  }
}
