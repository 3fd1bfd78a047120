/**
 * Runs a function once on a later turn of the event loop, however many times `schedule()` is
 * called before then: the batching primitive behind "one socket write / one RPC / one delivery
 * per turn". setImmediate, not a microtask, so that everything that arrives in the same I/O turn
 * joins the batch first.
 */
export class OncePerTurn {
  private scheduled = false;

  constructor(private readonly run: () => void) {}

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }
}
