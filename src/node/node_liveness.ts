/**
 * Node liveness: which peer nodes this node heard from lately, counted in ticks of the host's
 * ticker (no clock: the host's tests tick it by hand).
 *
 * Every node sends each peer one beat per tick (its id and incarnation, a random id per process
 * start; GrpcPeerTransport.sendBeats), one small batch per node pair whatever groups they share.
 * A peer not heard from for `timeoutTicks` (an election timeout) looks down; a beat from a peer
 * that looked down, or with a new incarnation (it restarted, and forgot which groups it led), says
 * it came back. Quiet groups rely on this instead of their own heartbeats (see quiescence.ts).
 *
 * A peer never heard from counts as heard from when this node started: for its first election
 * timeout every peer looks up (a node starting beside running ones must not take them all for
 * dead before their first beats arrive), and after that only what was heard counts.
 */
export class NodeLiveness {
  private now = 0;
  private readonly peers = new Map<string, { heardAt: number; incarnation: string }>();
  /** Peers that came back (looked down, or restarted) since the last tick(). */
  private returned = new Set<string>();

  constructor(
    readonly selfId: string,
    readonly timeoutTicks: number,
  ) {}

  /** Ticks counted since start. */
  get ticks(): number {
    return this.now;
  }

  /** A beat from `nodeId` arrived. */
  heard(nodeId: string, incarnation: string): void {
    if (nodeId === this.selfId) return;
    const before = this.peers.get(nodeId);
    const wasLive = this.isLive(nodeId);
    if (!wasLive || (before !== undefined && before.incarnation !== incarnation)) this.returned.add(nodeId);
    this.peers.set(nodeId, { heardAt: this.now, incarnation });
  }

  /** Whether `nodeId` was heard from within the last `timeoutTicks` ticks (this node always is). */
  isLive(nodeId: string): boolean {
    if (nodeId === this.selfId) return true;
    const heardAt = this.peers.get(nodeId)?.heardAt ?? 0;
    return this.now - heardAt <= this.timeoutTicks;
  }

  /** Ticks since `nodeId` was last heard from (since start for a peer never heard from; 0 for this node). */
  silentTicks(nodeId: string): number {
    if (nodeId === this.selfId) return 0;
    return this.now - (this.peers.get(nodeId)?.heardAt ?? 0);
  }

  /** One tick of the host's ticker; returns the peers that came back since the previous one. */
  tick(): ReadonlySet<string> {
    this.now++;
    const returned = this.returned;
    this.returned = new Set();
    return returned;
  }
}
