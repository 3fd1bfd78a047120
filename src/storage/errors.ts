import { QuorumError } from '../util/errors.js';

/**
 * Errors of the durable log, in the project's one hierarchy (QuorumError). Each has a stable
 * `code` (match on it, not on the message), a `cause` when it wraps another error, and an
 * `outcome`:
 *
 * - `fail`: nothing was written by the call that raised it (or the log could not be opened);
 * - `unknown`: the write may or may not have reached the disk. The log refuses further calls; the
 *   host must restart and `load()` to find out what survived.
 */
export type StorageOutcome = 'fail' | 'unknown';

export const StorageErrorCode = {
  /** A complete record in a segment that is not the last one is damaged, or records contradict each other. */
  Corrupt: 'STORAGE_CORRUPT',
  /** The directory holds the log of another group. */
  GroupMismatch: 'STORAGE_GROUP_MISMATCH',
  /** `save()`/`compact()` was given something that would break the log's contract; nothing was written. */
  InvalidUpdate: 'STORAGE_INVALID_UPDATE',
  /** Called out of order: before `load()`, after `close()`, or while another call is under way. */
  InvalidState: 'STORAGE_INVALID_STATE',
  /** An earlier write or fsync failed; the log is unusable until reopened. */
  Failed: 'STORAGE_FAILED',
  /** A simulated crash (MemoryLog) cut this call short. */
  Crashed: 'STORAGE_CRASHED',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export class StorageError extends QuorumError {
  override readonly name: string = 'StorageError';
  declare readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options: { cause?: unknown; outcome?: StorageOutcome } = {}) {
    super(code, message, options.outcome ?? 'fail', options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Where in the log a problem was found. */
export interface LogLocation {
  readonly segment: string;
  readonly offset: number;
}

export class StorageCorruptError extends StorageError {
  override readonly name = 'StorageCorruptError';
  readonly location: LogLocation | undefined;

  constructor(message: string, location?: LogLocation, cause?: unknown) {
    super(
      StorageErrorCode.Corrupt,
      location === undefined ? message : `${message} (segment ${location.segment}, offset ${location.offset})`,
      { cause },
    );
    this.location = location;
  }
}

export class StorageGroupMismatchError extends StorageError {
  override readonly name = 'StorageGroupMismatchError';
  readonly expectedGroupId: string;
  readonly foundGroupId: string;

  constructor(expectedGroupId: string, foundGroupId: string, segment: string) {
    super(
      StorageErrorCode.GroupMismatch,
      `log segment ${segment} belongs to group ${JSON.stringify(foundGroupId)}, not ${JSON.stringify(expectedGroupId)}; refusing to open it`,
    );
    this.expectedGroupId = expectedGroupId;
    this.foundGroupId = foundGroupId;
  }
}

export class InvalidLogUpdateError extends StorageError {
  override readonly name = 'InvalidLogUpdateError';

  constructor(message: string) {
    super(StorageErrorCode.InvalidUpdate, message);
  }
}

export class StorageStateError extends StorageError {
  override readonly name = 'StorageStateError';

  constructor(message: string) {
    super(StorageErrorCode.InvalidState, message);
  }
}

export class StorageFailedError extends StorageError {
  override readonly name = 'StorageFailedError';

  constructor(message: string, cause?: unknown) {
    super(StorageErrorCode.Failed, message, { cause, outcome: 'unknown' });
  }
}

export class StorageCrashedError extends StorageError {
  override readonly name = 'StorageCrashedError';

  constructor(message: string) {
    super(StorageErrorCode.Crashed, message, { outcome: 'unknown' });
  }
}
