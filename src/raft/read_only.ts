import { majority } from './quorum.js';

/**
 * Batched ReadIndex (Raft thesis §6.4). Reads are grouped into rounds: every read that arrives
 * before the round's heartbeats leave the core joins it, so a burst of reads costs one
 * heartbeat round. A round records the commit index when it was formed (raised if commit moves
 * before it closes); once a majority of voters acknowledge its heartbeats, the leader knows it
 * was still leader after every read in the round arrived, and releases the round and every
 * earlier one.
 *
 *   readIndex() ─▶ open round ──(Ready hands out heartbeats)──▶ in flight ──(quorum acks)──▶ released
 */
export interface ReadRequest {
  /** Opaque to the core: the host's id for the read. */
  readonly context: Uint8Array;
  /** Who asked: the leader itself, or a follower that forwarded MsgReadIndex. */
  readonly from: string;
}

interface ReadRound {
  readonly id: number;
  index: number;
  readonly requests: ReadRequest[];
  readonly acks: Set<string>;
}

export interface ReleasedRead {
  readonly index: number;
  readonly request: ReadRequest;
}

export class ReadOnlyQueue {
  private rounds: ReadRound[] = [];
  private open: ReadRound | null = null;
  private nextRoundId = 1;

  /**
   * Adds a read. Returns the context to send with new heartbeats when a new round was opened,
   * or null when the read joined the round whose heartbeats have not been sent yet.
   */
  add(request: ReadRequest, commitIndex: number, self: string): Uint8Array | null {
    if (this.open) {
      this.open.requests.push(request);
      if (commitIndex > this.open.index) this.open.index = commitIndex;
      return null;
    }
    const round: ReadRound = { id: this.nextRoundId++, index: commitIndex, requests: [request], acks: new Set([self]) };
    this.rounds.push(round);
    this.open = round;
    return encodeRoundId(round.id);
  }

  /** The open round's heartbeats were handed to the host: later reads need a new round. */
  closeOpenRound(): void {
    this.open = null;
  }

  /**
   * Records a heartbeat acknowledgement. Returns the reads released by it, oldest first
   * (possibly none).
   */
  recvAck(from: string, context: Uint8Array, voters: readonly string[]): ReleasedRead[] {
    const id = decodeRoundId(context);
    if (id === null) return [];
    const pos = this.rounds.findIndex((r) => r.id === id);
    if (pos < 0) return [];
    const round = this.rounds[pos];
    if (!voters.includes(from)) return [];
    round.acks.add(from);
    let acked = 0;
    for (const v of voters) if (round.acks.has(v)) acked++;
    if (acked < majority(voters.length)) return [];
    const released: ReleasedRead[] = [];
    for (const r of this.rounds.slice(0, pos + 1)) {
      // A later round confirms leadership for every earlier one; each keeps its own index.
      for (const request of r.requests) released.push({ index: r.index, request });
      if (r === this.open) this.open = null;
    }
    this.rounds = this.rounds.slice(pos + 1);
    return released;
  }

  /** Releases everything at once: only for a leader that is the sole voter. */
  releaseAll(): ReleasedRead[] {
    const released: ReleasedRead[] = [];
    for (const r of this.rounds) for (const request of r.requests) released.push({ index: r.index, request });
    this.rounds = [];
    this.open = null;
    return released;
  }

  pendingCount(): number {
    let n = 0;
    for (const r of this.rounds) n += r.requests.length;
    return n;
  }

  reset(): void {
    this.rounds = [];
    this.open = null;
  }

  /** The newest round still waiting for acknowledgements, if any. */
  lastRoundContext(): Uint8Array | null {
    const last = this.rounds[this.rounds.length - 1];
    return last ? encodeRoundId(last.id) : null;
  }
}

const roundMagic = 0x52;

function encodeRoundId(id: number): Uint8Array {
  const buf = new Uint8Array(9);
  buf[0] = roundMagic;
  new DataView(buf.buffer).setFloat64(1, id);
  return buf;
}

function decodeRoundId(ctx: Uint8Array): number | null {
  if (ctx.length !== 9 || ctx[0] !== roundMagic) return null;
  return new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength).getFloat64(1);
}
