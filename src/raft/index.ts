/** The Raft core: a pure, deterministic consensus engine (no I/O, no clock). */
export * from './types.js';
export * from './errors.js';
export { type RaftConfig, type RaftLogger, defaultRaftConfig, silentLogger } from './config.js';
export type { LogStorage } from './log_storage.js';
export { MemoryStorage } from './memory_storage.js';
export { Raft, encodeConfChange, decodeConfChange } from './raft.js';
export { RawNode, type Ready } from './raw_node.js';
export { ProgressState } from './progress.js';
export type { BasicStatus, ProgressStatus, Status } from './status.js';
export { bootstrapLog } from './bootstrap.js';
