/**
 * Crash points for the crash tests (as etcd's gofail): `QKV_FAILPOINTS=name[@n],...` in the
 * environment makes the process kill itself with SIGKILL the n-th time (default: the first) it
 * reaches the named point, exactly as `kill -9` at that instant would. Unset (production), a
 * failpoint costs one Map lookup on paths that run a few times per snapshot.
 *
 * Points: see `FailpointName`.
 */

export type FailpointName =
  /** Before each LevelDB batch of a snapshot this node writes from its own state. */
  | 'snapshot-write-batch'
  /** After a snapshot is published in the store, before the log is compacted to it. */
  | 'snapshot-after-publish'
  /** On each chunk of a snapshot received from the leader, before it is written. */
  | 'install-chunk'
  /** After a received snapshot is published in the store, before the Raft core sees it. */
  | 'install-after-publish'
  /** While the state machine loads an installed snapshot (the log already starts after it). */
  | 'install-load'
  /** A split applied, before anything of the new group is written here (its pending-split marker first). */
  | 'split-before-write'
  /** The new group's pending-split marker durable, before its replica is opened from the split's state. */
  | 'split-before-open'
  /**
   * Reached at each entry a split-off group applies while its first snapshot is not durable here
   * (serving from memory, taking writes). While armed, that snapshot is not written at all, as if
   * it were slower than the writes.
   */
  | 'split-child-pending'
  /** The new group's first snapshot published in its store, before its pending-split marker is removed. */
  | 'split-before-unmark'
  /** The node running a move: the target's AddLearner applied, before waiting for its promotion. */
  | 'move-after-learner'
  /** The node running a move: the target seen a voter, before the source is removed. */
  | 'move-after-promote'
  /** The node running a move, leading the group (any hand-off done): before it proposes the source's removal. */
  | 'move-before-remove'
  /** The node running a move: the source's removal applied here, before the move answers. */
  | 'move-after-remove'
  /** A leader's message for a group this node does not host yet (a move's target), before the empty replica opens. */
  | 'join-before-open'
  /** This node's removal from a group applied and recorded in node.json, its replica stopped, before its files are deleted. */
  | 'leave-before-delete';

const armed = parse(process.env.QKV_FAILPOINTS ?? '');
const reached = new Map<string, number>();

/** Whether `name` is armed in this process (callers skip their failpoint plumbing when not). */
export function failpointArmed(name: FailpointName): boolean {
  return armed.has(name);
}

/** Kills the process here if the point is armed and this is the n-th time it is reached. */
export function failpoint(name: FailpointName): void {
  const at = armed.get(name);
  if (at === undefined) return;
  const count = (reached.get(name) ?? 0) + 1;
  reached.set(name, count);
  if (count === at) {
    process.stderr.write(`failpoint ${name}@${at}: SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

function parse(spec: string): Map<string, number> {
  const points = new Map<string, number>();
  for (const part of spec.split(',')) {
    const m = /^\s*([a-z-]+)(?:@(\d+))?\s*$/.exec(part);
    if (m) points.set(m[1]!, Number(m[2] ?? 1));
  }
  return points;
}
