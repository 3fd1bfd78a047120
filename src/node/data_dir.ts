import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/config.js';
import { fsyncDirectory } from '../storage/fs_sync.js';
import { LockHeldError, acquireLockFile, type HeldLock } from '../storage/lock_file.js';
import { QuorumError } from '../util/errors.js';

/**
 * What a node keeps in its data dir, and where:
 *
 *   <data-dir>/LOCK                    locked by the process using the dir (see lock_file.ts),
 *                                      and its pid; removed on a clean stop
 *   <data-dir>/node.json               this node's id and the address book (NodeMeta)
 *   <data-dir>/log/                    the node's Raft log, every group's records (NodeLog)
 *   <data-dir>/groups/<group>/         a group's Raft log of its own (FileLog), in a data dir
 *                                      made before the node log
 *   <data-dir>/snapshots/<group>/      the group's snapshots (SnapshotStore, LevelDB)
 *   <data-dir>/splits/<group>.json     a split-off group whose first snapshot is not durable
 *                                      yet: made again by its parent's replay (split_marker.ts)
 *
 * `quorumkv restore` writes node.json and a snapshot of each group the node hosts; the server does
 * the rest on its first start.
 */

/** The node cannot start (a flag it cannot honour, an unusable data dir): one line to stderr, exit 2. */
export class ServerStartError extends QuorumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SERVER_START', message, 'fail', options);
    this.name = 'ServerStartError';
  }
}

/**
 * The one data group of a cluster made before data groups owned slots: it serves every slot, and
 * there is no meta group beside it. A data dir holding it keeps working as it did.
 */
export const legacyDataGroupId = 'g0';

export interface NodeMeta {
  readonly id: string;
  /** The address book: node id → gRPC address (from --peers at bootstrap). */
  readonly peers: Record<string, string>;
  /**
   * Groups this node was removed from. Ids are never reused within a group, so it can never be a
   * member of them again, and a message from one of them must not open a replica here (absent in
   * data dirs from before it was kept: none).
   */
  readonly leftGroups?: readonly string[];
}

export function nodeMetaPath(dataDir: string): string {
  return join(dataDir, 'node.json');
}

/** The node's log, shared by every group it hosts. */
export function nodeLogDir(dataDir: string): string {
  return join(dataDir, 'log');
}

/** A group's own log directory: only in a data dir made before the node log. */
export function groupLogDir(dataDir: string, groupId: string): string {
  return join(dataDir, 'groups', groupId);
}

export function groupSnapshotDir(dataDir: string, groupId: string): string {
  return join(dataDir, 'snapshots', groupId);
}

const groupDirName = /^(meta|g\d{1,9})$/;

/** The groups this node holds a replica of: one directory each under groups/ (or snapshots/, after a restore). */
export async function hostedGroupIds(dataDir: string): Promise<string[]> {
  const ids = new Set<string>();
  for (const sub of ['groups', 'snapshots']) {
    try {
      // Group ids only: a split leaves a temporary directory beside them if it was cut short.
      for (const entry of await readdir(join(dataDir, sub), { withFileTypes: true })) if (entry.isDirectory() && groupDirName.test(entry.name)) ids.add(entry.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ServerStartError(`cannot list ${join(dataDir, sub)}: ${(err as Error).message}`);
    }
  }
  return [...ids].sort();
}

/**
 * Creates the data dir, checks it is writable, and takes its lock, which the caller holds for as
 * long as it uses the dir and releases when it is done (the kernel releases it if the process
 * dies first). Refuses a dir whose lock a live process holds, naming the pid that LOCK holds.
 */
export async function prepareDataDir(config: ServerConfig): Promise<HeldLock> {
  const dir = config.dataDir;
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsConstants.W_OK | fsConstants.R_OK);
  } catch (err) {
    throw new ServerStartError(`data dir ${dir} is unusable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return lockDataDir(dir, (message) => new ServerStartError(`data dir ${message}`));
}

export function dataDirLockPath(dataDir: string): string {
  return join(dataDir, 'LOCK');
}

/**
 * Takes the lock of an existing data dir. A refusal is thrown as `refusal(text)`, the text being
 * `DIR is in use by process N` (or `by another process` when LOCK names no pid yet) or
 * `DIR is unusable: cannot lock DIR/LOCK (CODE)`.
 */
export async function lockDataDir(dir: string, refusal: (message: string) => Error): Promise<HeldLock> {
  const lockPath = dataDirLockPath(dir);
  try {
    return await acquireLockFile(lockPath);
  } catch (err) {
    if (err instanceof LockHeldError) {
      throw refusal(`${dir} is in use by ${err.holderPid === null ? 'another process' : `process ${err.holderPid}`}`);
    }
    throw refusal(`${dir} is unusable: cannot lock ${lockPath} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * `node.json` in the data dir: which node this dir belongs to and the address book from the
 * first start. Once it exists, --peers is ignored (with a log line), as etcd ignores
 * --initial-cluster once its data dir holds state.
 */
export async function loadOrCreateMeta(config: ServerConfig, logger: Logger): Promise<NodeMeta> {
  const path = nodeMetaPath(config.dataDir);
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ServerStartError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (text !== null) {
    let meta: NodeMeta;
    try {
      meta = JSON.parse(text) as NodeMeta;
    } catch {
      throw new ServerStartError(`${path} is not valid JSON: the data dir is damaged`);
    }
    if (meta.id !== config.id) throw new ServerStartError(`data dir ${config.dataDir} belongs to node '${meta.id}', not '${config.id}'`);
    if (config.peers.size > 0) logger.info({ component: 'node' }, '--peers ignored: the data dir already holds state');
    return meta;
  }
  const meta: NodeMeta = { id: config.id, peers: Object.fromEntries(config.peers) };
  await saveMeta(config.dataDir, meta);
  return meta;
}

/** Replaces node.json atomically and durably (a synced temp file, rename, directory synced). */
export async function saveMeta(dataDir: string, meta: NodeMeta): Promise<void> {
  const path = nodeMetaPath(dataDir);
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(JSON.stringify(meta, null, 2));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  await fsyncDirectory(dataDir);
}
