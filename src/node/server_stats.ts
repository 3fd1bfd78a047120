/**
 * Counters INFO reports. `instantaneous_ops_per_sec` is sampled as Redis does: every 100 ms the
 * commands since the last sample are turned into a rate, and INFO shows the mean of the last 16.
 */
export class ServerStats {
  totalConnectionsReceived = 0;
  rejectedConnections = 0;
  totalCommandsProcessed = 0;
  expiredKeys = 0;
  totalNetInputBytes = 0;
  totalNetOutputBytes = 0;
  /**
   * The most memory seen in use (INFO used_memory_peak). Redis looks after every command; here
   * it is looked at on the 100 ms sample and on every INFO, so a peak shorter than that is missed.
   */
  usedMemoryPeak = 0;
  private readonly samples: number[] = [];
  private lastSampleCommands = 0;
  private lastSampleMs: number;

  constructor(nowMs: number) {
    this.lastSampleMs = nowMs;
  }

  /** Called every 100 ms by the server's timer. */
  sample(nowMs: number): void {
    const elapsed = nowMs - this.lastSampleMs;
    if (elapsed <= 0) return;
    const ops = ((this.totalCommandsProcessed - this.lastSampleCommands) * 1000) / elapsed;
    this.samples.push(ops);
    if (this.samples.length > 16) this.samples.shift();
    this.lastSampleCommands = this.totalCommandsProcessed;
    this.lastSampleMs = nowMs;
  }

  noteUsedMemory(bytes: number): void {
    if (bytes > this.usedMemoryPeak) this.usedMemoryPeak = bytes;
  }

  instantaneousOpsPerSec(): number {
    if (this.samples.length === 0) return 0;
    return Math.round(this.samples.reduce((a, b) => a + b, 0) / this.samples.length);
  }
}
