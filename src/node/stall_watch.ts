/**
 * Notices the event loop held up by synchronous work. While it is held, every group on the node
 * waits, heartbeats and votes included, and so do the gRPC keepalive pongs of every connection:
 * a stall near an election timeout costs elections on the other nodes, and one past the
 * keepalive timeout drops this node's connections. Each stall past `thresholdMs` is reported
 * with its length, so that a log's timeline shows where the node stopped and for how long.
 */
export class StallWatch {
  private last: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly intervalMs: number,
    private readonly thresholdMs: number,
    private readonly clock: () => number,
    private readonly onStall: (ms: number) => void,
  ) {
    this.last = clock();
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  private check(): void {
    const now = this.clock();
    const late = now - this.last - this.intervalMs;
    this.last = now;
    if (late >= this.thresholdMs) this.onStall(Math.round(late));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
