import { OncePerTurn } from '../util/once_per_turn.js';

/**
 * The host's round of Ready processing: the Ready loops of every group that has work in a turn
 * start together, in one setImmediate, instead of in one setImmediate each.
 *
 * Why: the peer transport gathers what is sent in a turn and writes it, one batch per peer, when
 * that turn's microtasks run (GrpcPeerTransport.send). Node runs the microtasks between two
 * setImmediate callbacks, so with a callback per group every group's messages were a write of
 * their own; in one round, the heartbeats of a tick of every group (or their answers, or the
 * appends of many groups' writes) are all sent before the round returns, and leave together.
 *
 * Nothing waits longer than before: a group's loop still starts at the first setImmediate after
 * it was scheduled, as it did with its own; one scheduled during a round runs in the next, as
 * its own setImmediate would have.
 */
export class ReadyRound {
  private pending: (() => void)[] = [];
  private readonly turn = new OncePerTurn(() => this.runRound());

  /**
   * Runs `run` in the next round (with everything else scheduled before it starts). `run` must
   * not throw: a RaftGroup's loop catches its own failures.
   */
  schedule(run: () => void): void {
    this.pending.push(run);
    this.turn.schedule();
  }

  private runRound(): void {
    const runs = this.pending;
    this.pending = [];
    for (const run of runs) run();
  }
}
