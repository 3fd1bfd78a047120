import type { PackableRecords, VisitableRecords } from '../storage/snapshot_format.js';

/**
 * The contract between a group replica and the state it replicates, as hashicorp/raft's FSM
 * states it:
 *
 * - `apply` is deterministic: its result depends only on the state and the entry (its index,
 *   payload and request id; "now" is the time stamped inside the payload by the leader), so every
 *   replica that applies the same log holds the same state and gives the same replies.
 * - `applyMemberChange` records a membership change applied at its place in the log, so that the
 *   members (and every id ever used) travel with the state in snapshots.
 * - `beginSnapshot` returns quickly (O(1)): a point-in-time image, written out while applies go
 *   on; the caller releases it when the write ends, however it ends.
 * - `restore` reads an image into fresh containers and touches nothing live; the swap it resolves
 *   with discards all previous state (keys, dedup table, members) and puts the image's in place.
 *   It rejects, changing nothing, if the image is damaged.
 */
export interface ReplicatedStateMachine<Result> {
  apply(index: number, payload: Uint8Array, requestId: string): Result;
  applyMemberChange(change: MemberChange): void;
  beginSnapshot(): StateImage;
  restore(image: VisitableRecords): Promise<() => void>;
}

/** A membership change as the state machine records it (address: the member's gRPC address, when the change carried one). */
export interface MemberChange {
  readonly nodeId: string;
  readonly removed: boolean;
  readonly address?: string;
}

/** A point-in-time image of the whole state, as snapshot records. */
export interface StateImage {
  readonly records: PackableRecords;
  /** Stops keeping the image's pre-images (call once the write finished or failed). */
  release(): void;
}
