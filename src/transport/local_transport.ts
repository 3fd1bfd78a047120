import type { Message } from '../raft/types.js';
import { OncePerTurn } from '../util/once_per_turn.js';
import type { GroupTransport } from './group_transport.js';

/** Anything that accepts Raft messages for one group member. */
export interface MessageSink {
  step(m: Message): void;
}

/**
 * An in-process network for tests and benchmarks: messages are delivered on a later turn of the
 * event loop (never synchronously, so no re-entrancy into a Ready loop), in send order. Links can
 * be cut to simulate partitions.
 */
export class LocalNetwork {
  private readonly members = new Map<string, MessageSink>();
  private readonly cut = new Set<string>();
  private queue: Message[] = [];
  private readonly flusher = new OncePerTurn(() => this.flush());
  delivered = 0;

  register(id: string, sink: MessageSink): void {
    this.members.set(id, sink);
  }

  unregister(id: string): void {
    this.members.delete(id);
  }

  isolate(id: string): void {
    this.cut.add(id);
  }

  rejoin(id: string): void {
    this.cut.delete(id);
  }

  /** The transport for member `from`. */
  transportFor(from: string): GroupTransport {
    return {
      send: (messages) => {
        if (this.cut.has(from)) return;
        for (const m of messages) this.queue.push(m);
        this.scheduleFlush();
      },
    };
  }

  private scheduleFlush(): void {
    this.flusher.schedule();
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    for (const m of batch) {
      if (this.cut.has(m.to)) continue;
      const sink = this.members.get(m.to);
      if (!sink) continue;
      this.delivered++;
      sink.step(m);
    }
  }
}
