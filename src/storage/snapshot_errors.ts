import { QuorumError } from '../util/errors.js';
import type { Outcome } from '../util/errors.js';

/**
 * Errors of the snapshot store (snapshot_store.ts) and of backup files (backup_file.ts), on the
 * model of errors.ts: a stable `code` to match on, a `cause` when one error wraps another, and an
 * `outcome`:
 *
 * - `fail`: the call changed nothing durable (a refused write, an unreadable snapshot or file);
 * - `unknown`: a publishing write failed midway; the new snapshot may or may not be the current
 *   one. The store refuses further calls until it is reopened, which finds out.
 */
export const SnapshotErrorCode = {
  /** Stored snapshot bytes fail their checksums or do not parse; nothing from them may be used. */
  Corrupt: 'SNAPSHOT_CORRUPT',
  /** No retained snapshot has the requested index. */
  NotFound: 'SNAPSHOT_NOT_FOUND',
  /** The directory (or a backup) holds the snapshots of another group. */
  GroupMismatch: 'SNAPSHOT_GROUP_MISMATCH',
  /** A write of a snapshot older than the current one. */
  OutOfDate: 'SNAPSHOT_OUT_OF_DATE',
  /** Called out of order: a second writer, a writer used after finish/abort, a closed or failed store. */
  InvalidState: 'SNAPSHOT_INVALID_STATE',
  /** LevelDB failed under a call. */
  Io: 'SNAPSHOT_IO',
  /** A backup file fails a checksum, does not parse, or contradicts itself. */
  BackupCorrupt: 'BACKUP_CORRUPT',
  /** A backup file ends before its trailer. */
  BackupTruncated: 'BACKUP_TRUNCATED',
} as const;
export type SnapshotErrorCode = (typeof SnapshotErrorCode)[keyof typeof SnapshotErrorCode];

export class SnapshotError extends QuorumError {
  override readonly name: string = 'SnapshotError';
  declare readonly code: SnapshotErrorCode;

  constructor(code: SnapshotErrorCode, message: string, options: { cause?: unknown; outcome?: Outcome } = {}) {
    super(code, message, options.outcome ?? 'fail', options.cause === undefined ? undefined : { cause: options.cause });
  }
}

export class SnapshotCorruptError extends SnapshotError {
  override readonly name = 'SnapshotCorruptError';

  constructor(message: string, cause?: unknown) {
    super(SnapshotErrorCode.Corrupt, message, { cause });
  }
}

export class SnapshotNotFoundError extends SnapshotError {
  override readonly name = 'SnapshotNotFoundError';

  constructor(readonly index: number) {
    super(SnapshotErrorCode.NotFound, `no retained snapshot at index ${index}`);
  }
}

export class SnapshotGroupMismatchError extends SnapshotError {
  override readonly name = 'SnapshotGroupMismatchError';

  constructor(
    readonly expectedGroupId: string,
    readonly foundGroupId: string,
    where: string,
  ) {
    super(
      SnapshotErrorCode.GroupMismatch,
      `${where} belongs to group ${JSON.stringify(foundGroupId)}, not ${JSON.stringify(expectedGroupId)}; refusing it`,
    );
  }
}

export class SnapshotOutOfDateError extends SnapshotError {
  override readonly name = 'SnapshotOutOfDateError';

  constructor(
    readonly index: number,
    readonly currentIndex: number,
  ) {
    super(SnapshotErrorCode.OutOfDate, `snapshot at index ${index} is older than the current one at index ${currentIndex}`);
  }
}

export class SnapshotStateError extends SnapshotError {
  override readonly name = 'SnapshotStateError';

  constructor(message: string, cause?: unknown) {
    super(SnapshotErrorCode.InvalidState, message, { cause });
  }
}

export class SnapshotIoError extends SnapshotError {
  override readonly name = 'SnapshotIoError';

  constructor(message: string, cause: unknown, outcome: Outcome) {
    super(SnapshotErrorCode.Io, message, { cause, outcome });
  }
}

/** Where in a backup file a problem was found, and what it was (the message repeats both). */
export interface BackupFault {
  readonly path: string;
  readonly offset: number;
  readonly reason: string;
}

export class BackupCorruptError extends SnapshotError {
  override readonly name = 'BackupCorruptError';
  readonly fault: BackupFault;

  constructor(fault: BackupFault, cause?: unknown) {
    super(
      SnapshotErrorCode.BackupCorrupt,
      `backup file ${fault.path} is corrupt at byte ${fault.offset}: ${fault.reason}; refusing it`,
      { cause },
    );
    this.fault = fault;
  }
}

export class BackupTruncatedError extends SnapshotError {
  override readonly name = 'BackupTruncatedError';
  readonly fault: BackupFault;

  constructor(fault: BackupFault) {
    super(SnapshotErrorCode.BackupTruncated, `backup file ${fault.path} is truncated at byte ${fault.offset}: ${fault.reason}; refusing it`);
    this.fault = fault;
  }
}
