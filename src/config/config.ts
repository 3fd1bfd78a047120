import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { QuorumError } from '../util/errors.js';

/**
 * The frozen configuration of one server process, from flags and an optional `--config FILE`
 * (JSON, same keys as the flags in camelCase or kebab-case; flags win). Every flag, its default
 * and meaning: docs/contract.md.
 */
export interface ServerConfig {
  readonly id: string;
  readonly host: string;
  readonly respPort: number;
  readonly grpcPort: number;
  readonly dataDir: string;
  /** Initial voters of a new cluster, self included: id → gRPC address. Empty: none given. */
  readonly peers: ReadonlyMap<string, string>;
  readonly join: boolean;
  /** Milliseconds per Raft tick. */
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxClients: number;
  /** How long a write or read waits for a leader before answering -CLUSTERDOWN. */
  readonly leaderWaitMs: number;
  readonly logLevel: string;
  /** Human-readable logs instead of JSON (what `dev` uses). */
  readonly prettyLogs: boolean;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotEntries: number;
  /** ... or once the entries applied since the last one hold this many bytes. */
  readonly snapshotBytes: number;
  /**
   * Entries kept in the log behind a snapshot, so that a follower a little behind catches up from
   * the log instead of needing the whole snapshot (etcd's SnapshotCatchUpEntries).
   */
  readonly snapshotCatchupEntries: number;
  /** ... and at most this many bytes of them (a pipelined run is one entry, and can be large). */
  readonly snapshotCatchupBytes: number;
  /**
   * Payload bytes of applied log entries kept in memory; older ones are read back from the log
   * file when a follower far behind needs them (PagedLogStorage).
   */
  readonly logCacheBytes: number;
  /** Data groups a new cluster is created with (the 16,384 slots divided evenly among them). */
  readonly groups: number;
  /** Voters of each new data group (every node when there are fewer). */
  readonly replicas: number;
  /**
   * Redis Cluster semantics for clients: a key whose group another node leads gets -MOVED, keys
   * of one command must share a slot, keyspace-wide commands cover the groups this node leads.
   * Off: any node serves any key (forwarding to the group's leader).
   */
  readonly clusterMode: boolean;
  /**
   * Idle groups go quiet (no heartbeats, no election timers) and node liveness beats watch the
   * nodes instead (src/node/quiescence.ts). Off (--no-quiesce): every group ticks and heartbeats.
   */
  readonly quiesce: boolean;
  /**
   * The failure domain this node is in (a rack, a data centre's zone), as the operator names it;
   * empty when not given. Recorded in the meta group's node record for placement to read.
   */
  readonly zone: string;
}

export class ConfigError extends QuorumError {
  constructor(message: string) {
    super('BAD_CONFIG', message, 'fail');
    this.name = 'ConfigError';
  }
}

export const serverDefaults = {
  host: '127.0.0.1',
  respPort: 6379,
  grpcPort: 7379,
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  maxClients: 10_000,
  leaderWaitMs: 5_000,
  logLevel: 'info',
  snapshotEntries: 100_000,
  snapshotBytes: 256 * 1024 * 1024,
  snapshotCatchupEntries: 5_000,
  snapshotCatchupBytes: 16 * 1024 * 1024,
  logCacheBytes: 4 * 1024 * 1024, // RaftGroup's defaultResidentLogBytes (why 4 MiB: there)
  groups: 1,
  replicas: 3,
} as const;

const idPattern = /^[a-z0-9-]{1,64}$/;
/** A zone name: short, and plain enough to show in a table and a JSON field as it is. */
const zonePattern = /^[A-Za-z0-9._-]{1,64}$/;

const flagOptions = {
  id: { type: 'string' },
  host: { type: 'string' },
  'resp-port': { type: 'string' },
  'grpc-port': { type: 'string' },
  'data-dir': { type: 'string' },
  peers: { type: 'string' },
  join: { type: 'boolean' },
  config: { type: 'string' },
  'tick-ms': { type: 'string' },
  'election-ticks': { type: 'string' },
  'heartbeat-ticks': { type: 'string' },
  maxclients: { type: 'string' },
  'leader-wait-ms': { type: 'string' },
  'log-level': { type: 'string' },
  pretty: { type: 'boolean' },
  'no-quiesce': { type: 'boolean' },
  'snapshot-entries': { type: 'string' },
  'snapshot-bytes': { type: 'string' },
  'snapshot-catchup-entries': { type: 'string' },
  'snapshot-catchup-bytes': { type: 'string' },
  'log-cache-bytes': { type: 'string' },
  groups: { type: 'string' },
  replicas: { type: 'string' },
  'cluster-mode': { type: 'boolean' },
  zone: { type: 'string' },
} as const;

type Raw = Record<string, string | boolean | number | undefined>;

/** The keys a --config file may hold: every flag but --config, as spelt or in camelCase. */
const fileKeys = new Set(
  Object.keys(flagOptions)
    .filter((flag) => flag !== 'config')
    .flatMap((flag) => [flag, flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())]),
);

/** Parses `server` flags. Throws ConfigError with a one-line reason. */
export function parseServerConfig(argv: readonly string[]): ServerConfig {
  let values: Raw;
  try {
    values = parseArgs({ args: [...argv], options: flagOptions, strict: true, allowPositionals: false }).values as Raw;
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]);
  }
  let fromFile: Raw = {};
  if (typeof values.config === 'string') fromFile = readConfigFile(values.config);
  const pick = (flag: string): string | boolean | number | undefined => {
    if (values[flag] !== undefined) return values[flag];
    const camel = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    return fromFile[flag] ?? fromFile[camel];
  };

  const id = pick('id');
  if (typeof id !== 'string' || id === '') throw new ConfigError('--id is required');
  if (!idPattern.test(id)) throw new ConfigError(`--id '${id}' must match [a-z0-9-]{1,64}`);
  const host = stringOf('host', pick('host'), serverDefaults.host);
  const respPort = portOf('resp-port', pick('resp-port'), serverDefaults.respPort);
  const grpcPort = portOf('grpc-port', pick('grpc-port'), serverDefaults.grpcPort);
  if (respPort !== 0 && respPort === grpcPort) throw new ConfigError('--resp-port and --grpc-port must differ');
  const dataDir = stringOf('data-dir', pick('data-dir'), `./data/${id}`);
  const peers = parsePeers(pick('peers'));
  if (peers.size > 0 && !peers.has(id)) throw new ConfigError(`--peers must include this node (${id})`);
  const join = pick('join') === true || pick('join') === 'true';
  if (join && peers.size > 0) throw new ConfigError('--join and --peers exclude each other: a joining node is added by admin add-node');
  return Object.freeze({
    id,
    host,
    respPort,
    grpcPort,
    dataDir,
    peers,
    join,
    tickMs: intOf('tick-ms', pick('tick-ms'), serverDefaults.tickMs, 1, 60_000),
    electionTicks: intOf('election-ticks', pick('election-ticks'), serverDefaults.electionTicks, 2, 1000),
    heartbeatTicks: intOf('heartbeat-ticks', pick('heartbeat-ticks'), serverDefaults.heartbeatTicks, 1, 1000),
    maxClients: intOf('maxclients', pick('maxclients'), serverDefaults.maxClients, 1, 1_000_000),
    leaderWaitMs: intOf('leader-wait-ms', pick('leader-wait-ms'), serverDefaults.leaderWaitMs, 0, 600_000),
    logLevel: logLevelOf(pick('log-level')),
    prettyLogs: pick('pretty') === true,
    snapshotEntries: intOf('snapshot-entries', pick('snapshot-entries'), serverDefaults.snapshotEntries, 1, 1_000_000_000),
    snapshotBytes: intOf('snapshot-bytes', pick('snapshot-bytes'), serverDefaults.snapshotBytes, 1, Number.MAX_SAFE_INTEGER),
    snapshotCatchupEntries: intOf('snapshot-catchup-entries', pick('snapshot-catchup-entries'), serverDefaults.snapshotCatchupEntries, 0, 1_000_000_000),
    snapshotCatchupBytes: intOf('snapshot-catchup-bytes', pick('snapshot-catchup-bytes'), serverDefaults.snapshotCatchupBytes, 0, Number.MAX_SAFE_INTEGER),
    logCacheBytes: intOf('log-cache-bytes', pick('log-cache-bytes'), serverDefaults.logCacheBytes, 0, Number.MAX_SAFE_INTEGER),
    groups: intOf('groups', pick('groups'), serverDefaults.groups, 1, 1024),
    replicas: intOf('replicas', pick('replicas'), serverDefaults.replicas, 1, 9),
    clusterMode: booleanOf('cluster-mode', pick('cluster-mode')),
    quiesce: !booleanOf('no-quiesce', pick('no-quiesce')),
    zone: zoneOf(pick('zone')),
  });
}

function zoneOf(value: string | boolean | number | undefined): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || !zonePattern.test(value)) throw new ConfigError(`--zone '${String(value)}' must match [A-Za-z0-9._-]{1,64}`);
  return value;
}

function readConfigFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--config ${path}: not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`--config ${path}: expected a JSON object`);
  }
  const out: Raw = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    // A misspelt key would otherwise be ignored, and its setting silently not taken.
    if (!fileKeys.has(k)) throw new ConfigError(`--config ${path}: unknown key '${k}'`);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v) && k === 'peers') out[k] = v.join(',');
    else throw new ConfigError(`--config ${path}: '${k}' must be a string, number or boolean`);
  }
  return out;
}

/** A switch: the bare flag, or true/false (also as strings) in a config file. */
function booleanOf(flag: string, v: unknown): boolean {
  if (v === undefined || v === false || v === 'false') return false;
  if (v === true || v === 'true') return true;
  throw new ConfigError(`--${flag} is a switch: true or false, got '${String(v)}'`);
}

function stringOf(flag: string, v: unknown, fallback: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`--${flag} needs a value`);
  return v;
}

/** pino's levels: a level it does not know would stop the process with a stack trace instead of one line. */
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function logLevelOf(v: unknown): string {
  const level = stringOf('log-level', v, serverDefaults.logLevel);
  if (!(logLevels as readonly string[]).includes(level)) throw new ConfigError(`--log-level must be one of ${logLevels.join(', ')}, got '${level}'`);
  return level;
}

function intOf(flag: string, v: unknown, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  // Decimal digits only: Number() would also take '', ' 12 ', '0x10', '1e3' and true.
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${flag} must be an integer from ${min} to ${max}, got '${String(v)}'`);
  }
  return n;
}

function portOf(flag: string, v: unknown, fallback: number): number {
  return intOf(flag, v, fallback, 0, 65535);
}

/** `n1=127.0.0.1:7379,n2=127.0.0.1:7380` → Map. */
export function parsePeers(v: unknown): Map<string, string> {
  const peers = new Map<string, string>();
  if (v === undefined || v === '') return peers;
  if (typeof v !== 'string') throw new ConfigError('--peers must look like ID=HOST:PORT,...');
  for (const part of v.split(',')) {
    const m = /^([^=]+)=(.+):(\d{1,5})$/.exec(part.trim());
    if (!m) throw new ConfigError(`--peers: '${part}' is not ID=HOST:PORT`);
    const [, id, host, port] = m;
    if (!idPattern.test(id)) throw new ConfigError(`--peers: id '${id}' must match [a-z0-9-]{1,64}`);
    if (Number(port) < 1 || Number(port) > 65535) throw new ConfigError(`--peers: bad port in '${part}'`);
    if (peers.has(id)) throw new ConfigError(`--peers: '${id}' appears twice`);
    peers.set(id, `${host}:${port}`);
  }
  return peers;
}
