import type { SnapshotInfo } from '../storage/snapshot_format.js';

/**
 * SnapshotInfo (src/storage/snapshot_format.ts) and the Backup stream's messages as
 * proto/admin.proto carries them. Explicit fields rather than the descriptor's bytes, so that
 * `grpcurl` and other clients can read them.
 */

export interface SnapshotInfoWire {
  groupId: string;
  index: number;
  term: number;
  voters: string[];
  learners: string[];
  createdAtMs?: number;
  chunkCount: number;
  recordCount: number;
  payloadBytes: number;
  checksum: number;
}

export interface SnapshotReplyWire {
  snapshots: SnapshotInfoWire[];
}

/** One message of the Backup stream: exactly one of the two parts (`part` names it on receipt). */
export type BackupChunkWire =
  | { header: { info: SnapshotInfoWire; chunkBytes: number }; part?: 'header' }
  | { chunk: Buffer; part?: 'chunk' };

export function snapshotInfoToWire(info: SnapshotInfo): SnapshotInfoWire {
  return {
    groupId: info.groupId,
    index: info.index,
    term: info.term,
    voters: [...info.confState.voters],
    learners: [...info.confState.learners],
    ...(info.createdAtMs === undefined ? {} : { createdAtMs: info.createdAtMs }),
    chunkCount: info.chunkCount,
    recordCount: info.recordCount,
    payloadBytes: info.payloadBytes,
    checksum: info.checksum,
  };
}

export function snapshotInfoFromWire(wire: SnapshotInfoWire): SnapshotInfo {
  const base = {
    groupId: wire.groupId,
    index: wire.index,
    term: wire.term,
    confState: { voters: [...wire.voters], learners: [...wire.learners] },
    chunkCount: wire.chunkCount,
    recordCount: wire.recordCount,
    payloadBytes: wire.payloadBytes,
    checksum: wire.checksum,
  };
  return wire.createdAtMs === undefined || wire.createdAtMs === null ? base : { ...base, createdAtMs: wire.createdAtMs };
}
