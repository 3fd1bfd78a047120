/**
 * Probes of a running quorumkv node from the outside, shared by the fault harness and the
 * integration tests' launcher: a free port, waiting for a listener, and a node's INFO raft fields.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A port that was free a moment ago and that no other caller of freePort on this machine holds,
 * for a process we start with an explicit port.
 *
 * Not one from listen(0): those come from the kernel's ephemeral range, the same range every
 * outgoing connection on the machine takes its local port from. Between our check and the
 * node's bind, or while a node killed by a test is down before its restart, any client
 * connection could take that port, and the node could not listen again (seen as rare flaky
 * restarts). So: a random port below the ephemeral range, checked by listening on it.
 *
 * Checking is not enough: a port is chosen seconds before its node binds it (a whole cluster's
 * ports first, then the nodes start), and a killed node's ports are unbound until its restart.
 * In those windows the check passes for anybody: the next freePort of the same cluster, another
 * vitest worker, another checkout's test run on the machine. So every port handed out is claimed
 * (claimPort) for the life of the process that asked, and never handed out twice.
 */
export async function freePort(): Promise<number> {
  const below = ephemeralLow();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
    if (handedOut.has(port)) continue;
    if ((await canListen(port)) && claimPort(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in 10000..${below - 1}`);
}

/** Ports this process was given: its clusters keep them, also while a node is down. */
const handedOut = new Set<number>();
/** One file per claimed port, holding the claimer's pid; shared by every process on the machine. */
const claimDir = join(tmpdir(), 'qkv-port-claims');
let claimCleanupInstalled = false;

/**
 * Claims `port` for this process across processes: creates `<claimDir>/<port>` exclusively. A
 * claim whose process is gone (killed before it could clean up) is taken over. Claims are
 * removed when this process exits.
 */
function claimPort(port: number): boolean {
  const file = join(claimDir, String(port));
  mkdirSync(claimDir, { recursive: true });
  if (!claimCleanupInstalled) {
    claimCleanupInstalled = true;
    process.once('exit', () => {
      for (const p of handedOut) rmSync(join(claimDir, String(p)), { force: true });
    });
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // Empty: its claimer created the file and is writing its pid right now.
    const owner = Number(readFileSync(file, 'utf8').trim());
    if (!(owner > 0) || owner === process.pid || processAlive(owner)) return false;
    // A stale claim: remove it and try once more (another process may win the race; then it is its).
    rmSync(file, { force: true });
  }
  return false;
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let ephemeralLowCache: number | null = null;

function ephemeralLow(): number {
  if (ephemeralLowCache === null) {
    let low = 32_768;
    try {
      const [first] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
      if (Number(first) > 11_000) low = Number(first);
    } catch {
      // not Linux: IANA's dynamic range starts at 49152, Linux's default at 32768; stay below both
    }
    ephemeralLowCache = low;
  }
  return ephemeralLowCache;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = net.createServer();
    srv.once('error', () => resolvePort(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolvePort(true)));
  });
}

/** Resolves once something accepts connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not listening after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Resolves once the node started as `child` serves RESP on `port`: INFO there names the child's
 * pid. A port that merely accepts connections is not enough: after a collision it is another
 * process's, and the harness would talk to the wrong node. Fails at once, with the node's output,
 * if the process exits first (a port taken by another process, a bad data dir: the node says why
 * and exits 2) or if another quorumkv process answers on the port, and with the output on the
 * timeout too; a bare 'port not listening after 15000 ms' said none of that.
 */
export async function waitForNode(child: ChildProcess, output: readonly string[], port: number, timeoutMs = 15_000): Promise<void> {
  const tail = (): string => output.join('').slice(-3000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the node exited (code ${child.exitCode}, signal ${child.signalCode}) before serving on port ${port}\n${tail()}`);
    }
    const pid = await infoFields(port, 'server', 1_000).then(
      (fields) => Number(fields.process_id),
      () => null,
    );
    if (pid === child.pid) return;
    if (pid !== null && pid !== child.pid) throw new Error(`port ${port} is served by another process (pid ${pid}), not the node (pid ${child.pid})\n${tail()}`);
    if (Date.now() > deadline) throw new Error(`the node did not serve on port ${port} within ${timeoutMs} ms\n${tail()}`);
    await sleep(50);
  }
}

/** `key:value` lines of an INFO reply. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
  }
  return fields;
}

/**
 * The Raft fields of the node's one data group, named as INFO names a group's fields when it is
 * the only one (`raft_role`, ...): INFO's unprefixed fields describe the meta group, and each
 * data group adds its own prefixed with its id (`g1_raft_role`). A node with several data groups,
 * or none, is described by the unprefixed fields, as INFO gives them.
 */
export function dataGroupFields(fields: Record<string, string>): Record<string, string> {
  const groups = Object.keys(fields)
    .map((k) => /^(g\d+)_raft_group_id$/.exec(k)?.[1])
    .filter((g): g is string => g !== undefined);
  if (groups.length !== 1) return fields;
  const prefix = `${groups[0]}_`;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/**
 * INFO raft of the node at `respPort`, as dataGroupFields gives it: the data group's fields when
 * there is one data group (what the tests and the fault harness mean by "the leader").
 */
export async function raftInfo(respPort: number, timeoutMs = 1_000): Promise<Record<string, string>> {
  return dataGroupFields(await infoFields(respPort, 'raft', timeoutMs));
}

/**
 * Every group's Raft fields from one INFO raft reply, by group id: the unprefixed fields are the
 * group named by their `raft_group_id` (the meta group, or a data group on a node that hosts no
 * meta replica), each `gN_raft_*` field is gN's (its prefix taken off).
 */
export function groupFieldsOf(fields: Record<string, string>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const unprefixed: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    const m = /^(g\d+)_(raft_.*)$/.exec(k);
    if (m) {
      let g = out.get(m[1]!);
      if (!g) out.set(m[1]!, (g = {}));
      g[m[2]!] = v;
    } else if (k.startsWith('raft_')) unprefixed[k] = v;
  }
  if (unprefixed.raft_group_id) out.set(unprefixed.raft_group_id, unprefixed);
  return out;
}

/** INFO raft of the node at `respPort`, every group it hosts (see groupFieldsOf). */
export async function raftInfoGroups(respPort: number, timeoutMs = 1_000): Promise<Map<string, Record<string, string>>> {
  return groupFieldsOf(await infoFields(respPort, 'raft', timeoutMs));
}

/** The fields of one INFO section of the node whose RESP port is `respPort`. */
export async function infoFields(respPort: number, section: string, timeoutMs: number): Promise<Record<string, string>> {
  const c = new Redis({ port: respPort, host: '127.0.0.1', maxRetriesPerRequest: 0, connectTimeout: timeoutMs, commandTimeout: timeoutMs, lazyConnect: true });
  c.on('error', () => {});
  try {
    await c.connect();
    return parseInfo(await c.info(section));
  } finally {
    c.disconnect();
  }
}

/** What a quorumkv `server` process is started with, by the fault harness and the tests alike. */
export interface ServerProcessSpec {
  readonly binPath: string;
  readonly id: string;
  readonly respPort: number;
  readonly grpcPort: number;
  readonly dataDir: string;
  /** `['--join']` or `['--peers', 'n1=...,n2=...']`. */
  readonly membership: readonly string[];
  readonly extraArgs: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Receives the process's stdout and stderr; the last 200 chunks are kept. */
  readonly output: string[];
}

/** Starts `node bin/quorumkv.js server ...` with its output kept in `spec.output`. */
export function spawnServer(spec: ServerProcessSpec): ChildProcess {
  const args = [
    spec.binPath, 'server',
    '--id', spec.id,
    '--resp-port', String(spec.respPort),
    '--grpc-port', String(spec.grpcPort),
    '--data-dir', spec.dataDir,
    ...spec.membership,
    ...spec.extraArgs,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: spec.env ?? process.env });
  const keep = (chunk: Buffer): void => {
    spec.output.push(chunk.toString());
    if (spec.output.length > 200) spec.output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}
