/**
 * `npm run bench:split`: how long the two online reshaping operations take with real data, on a
 * fresh 3-node cluster with production defaults and one data group:
 *
 *   load      N keys (default 1,000,000) of V bytes, written with pipelined MSETs
 *   split     `admin split --group g1`: half of g1's slots, and their keys, become g2; while it
 *             runs, probe clients keep writing one key in each half, and the longest gap between
 *             two acknowledged probe writes of a half is that half's unavailability (against the
 *             longest gap in an equal time before the split, the noise floor)
 *   move      `admin move-replica --group g1 --from n1 --to n4`: a fourth node takes n1's
 *             replica (learner, caught up by snapshot, voter, n1 removed)
 *
 * Every step is timed on the wall clock, end to end, as the operator sees it (the admin command
 * returns once the step is done). Afterwards the groups' key counts are checked to add up to N and
 * the two probe keys, so a run that lost keys does not print a figure. No assertion on the times:
 * they are figures for docs/performance.md.
 *
 *   npm run bench:split
 *   npm run bench:split -- --keys 200000 --value-bytes 32
 *   npm run bench:split -- --logs /tmp/split-logs      (every node's log kept, as <id>.log)
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import { TestCluster, admin, quorumkvWithin, type NodeProcess } from '../integration/cluster_harness.js';
import { describeMachine, uptimeLine } from './machine.js';

interface GroupRow {
  readonly group: string;
  readonly keys: number;
  readonly voters: readonly string[];
}

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'value-bytes': { type: 'string', default: '100' },
    /** Every node's whole log is written here as <id>.log, for a run that needs reading closely. */
    logs: { type: 'string' },
  },
});
const logsDir = values.logs;
const keyCount = Number(values.keys);
const valueBytes = Number(values['value-bytes']);
if (!Number.isInteger(keyCount) || keyCount <= 0 || !Number.isInteger(valueBytes) || valueBytes <= 0) {
  console.error('--keys and --value-bytes take positive integers');
  process.exit(2);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

/** An admin command with a deadline long enough for a large group (the bench measures, it does not judge). */
function longAdmin(cluster: TestCluster, node: number, ...args: string[]): ReturnType<typeof admin> {
  return quorumkvWithin(30 * 60_000, ['admin', '--addr', `127.0.0.1:${cluster.nodes[node]!.grpcPort}`, '--timeout-ms', String(30 * 60_000), ...args]);
}

async function groupRows(cluster: TestCluster): Promise<GroupRow[]> {
  const r = await admin(cluster.nodes[1]!, 'groups', '--json');
  if (r.code !== 0) throw new Error(`admin groups: ${r.stderr}`);
  return JSON.parse(r.stdout) as GroupRow[];
}

async function load(cluster: TestCluster): Promise<void> {
  const client = cluster.client(cluster.nodes[0]!, { commandTimeout: 120_000 });
  const value = 'v'.repeat(valueBytes);
  const perMset = 100;
  const inFlight = 16;
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keyCount) {
        const from = next;
        next = Math.min(keyCount, next + perMset);
        const args: string[] = [];
        for (let i = from; i < next; i++) args.push(`key:${i}`, value);
        await client.mset(...args);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    client.disconnect();
  }
}

/** A key whose slot is below (or not below) `slot`. */
function keyOnSide(prefix: string, below: boolean, slot: number): string {
  for (let i = 0; ; i++) {
    const key = `${prefix}:${i}`;
    if (keyHashSlot(Buffer.from(key)) < slot === below) return key;
  }
}

/**
 * Writes `key` back to back until stopped, through every node in turn (so that the routing of each
 * node is exercised), and records when each write was acknowledged.
 */
function probe(clients: readonly Redis[], key: string): { acks: number[]; errors: string[]; stop: () => Promise<void> } {
  const acks: number[] = [];
  const errors: string[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await clients[i % clients.length]!.set(key, String(i));
        acks.push(performance.now());
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
  })();
  return {
    acks,
    errors,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** The longest time between two acknowledgements within [from, to] (the window's ends count as acknowledgements). */
function longestGap(acks: readonly number[], from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const t of acks) {
    if (t < from || t > to) continue;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return Math.max(gap, to - last);
}

const ms = (x: number): string => `${x.toFixed(0)} ms`;

/** What each node logged of the split, in ms from the admin command: where the time went. */
const timelineMessages = new Set([
  'group split',
  'role changed',
  "the split-off group's first snapshot is durable",
  'snapshot taken',
  'log replayed; serving',
  'group replica stopped',
  'slow apply',
  'event loop stalled',
  'snapshot sent',
  'sending a snapshot failed',
  'installed snapshot',
  'membership change applied',
]);

function printTimeline(cluster: TestCluster, fromWallMs: number, what: string, toWallMs = Number.POSITIVE_INFINITY): void {
  const rows: [number, string][] = [];
  for (const n of cluster.nodes) {
    for (const line of n.output.join('').split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: { time?: number; msg?: string; group?: string; [k: string]: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (entry.time === undefined || entry.time < fromWallMs || entry.time > toWallMs || !timelineMessages.has(entry.msg ?? '')) continue;
      const detail = ['group', 'role', 'term', 'index', 'keys', 'ms', 'to', 'change', 'error']
        .filter((k) => entry[k] !== undefined)
        .map((k) => `${k}=${typeof entry[k] === 'object' ? JSON.stringify(entry[k]) : String(entry[k]).slice(0, 160)}`)
        .join(' ');
      rows.push([entry.time - fromWallMs, `${n.id} ${entry.msg} ${detail}`]);
    }
  }
  console.log(`  timeline (ms after admin ${what} was sent):`);
  for (const [t, what] of rows.sort((a, b) => a[0] - b[0])) console.log(`    +${String(t).padStart(6)}  ${what}`);
}

/** Copies everything `n`'s process writes from now on to <dir>/<id>.log (the harness keeps only its last lines). */
function keepLog(n: NodeProcess, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const file = createWriteStream(join(dir, `${n.id}.log`), { flags: 'a' });
  n.child?.stdout?.on('data', (chunk: Buffer) => file.write(chunk));
  n.child?.stderr?.on('data', (chunk: Buffer) => file.write(chunk));
  n.child?.on('exit', () => file.end());
}

async function main(): Promise<void> {
  const m = describeMachine();
  console.log(`split/move benchmark: ${keyCount} keys of ${valueBytes} bytes`);
  console.log(`${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; at ${m.gitCommit}; ${uptimeLine()}`);
  const cluster = await TestCluster.start({ extraArgs: ['--groups', '1'] });
  try {
    if (logsDir !== undefined) for (const n of cluster.nodes) keepLog(n, logsDir);
    await cluster.waitForLeader();
    const [, loadMs] = await timed(() => load(cluster));
    console.log(`load     ${seconds(loadMs)}  (${Math.round(keyCount / (loadMs / 1000))} keys/s)`);

    const clients = cluster.nodes.map((n) => cluster.client(n, { commandTimeout: 60_000 }));
    const splitAt = 8192;
    const probes = [probe(clients, keyOnSide('probe-stays', true, splitAt)), probe(clients, keyOnSide('probe-moves', false, splitAt))];
    const quiet = 3_000;
    const before = performance.now();
    await new Promise((r) => setTimeout(r, quiet));
    const splitStart = performance.now();
    const splitStartWall = Date.now();
    const [split, splitMs] = await timed(() => longAdmin(cluster, 1, 'split', '--group', 'g1', '--at-slot', String(splitAt)));
    await new Promise((r) => setTimeout(r, 1_000));
    const splitEnd = performance.now();
    for (const p of probes) await p.stop();
    for (const c of clients) c.disconnect();
    if (split.code !== 0) throw new Error(`admin split: ${split.stderr}`);
    const dataKeys = (rows: readonly GroupRow[]): number => rows.filter((g) => g.group !== 'meta').reduce((s, g) => s + g.keys, 0);
    // The loaded keys and the two probe keys. The node asked reports its own replicas' counts, and
    // may still be making its replica of the new group: waited for, not timed.
    const expectedKeys = keyCount + probes.length;
    let afterSplit = await groupRows(cluster);
    for (const deadline = performance.now() + 120_000; dataKeys(afterSplit) !== expectedKeys && performance.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      afterSplit = await groupRows(cluster);
    }
    if (dataKeys(afterSplit) !== expectedKeys) throw new Error(`after the split the groups hold ${dataKeys(afterSplit)} keys, not ${expectedKeys}`);
    const counts = afterSplit.filter((g) => g.group !== 'meta').map((g) => `${g.group} ${g.keys}`).join(', ');
    console.log(`split    ${seconds(splitMs)}  (${split.stdout.trim()}; ${counts})`);
    const [stays, moves] = probes as [ReturnType<typeof probe>, ReturnType<typeof probe>];
    console.log(`  longest gap between acknowledged writes, before the split (${ms(quiet)}): ${ms(longestGap(stays.acks, before, splitStart))} / ${ms(longestGap(moves.acks, before, splitStart))}`);
    console.log(`  during the split and 1 s after it: keys that stay in g1 ${ms(longestGap(stays.acks, splitStart, splitEnd))}, keys that move to the new group ${ms(longestGap(moves.acks, splitStart, splitEnd))}`);
    const errors = [...stays.errors, ...moves.errors];
    if (errors.length > 0) console.log(`  probe errors: ${errors.length} (first: ${errors[0]})`);
    printTimeline(cluster, splitStartWall, 'split', Date.now());

    const n4 = await cluster.startJoiner('n4');
    if (logsDir !== undefined) keepLog(n4, logsDir);
    const moveStartWall = Date.now();
    const [move, moveMs] = await timed(() => longAdmin(cluster, 2, 'move-replica', '--group', 'g1', '--from', 'n1', '--to', 'n4', '--grpc', `127.0.0.1:${n4.grpcPort}`));
    printTimeline(cluster, moveStartWall, 'move-replica');
    if (move.code !== 0) throw new Error(`admin move-replica: ${move.stderr}`);
    const afterMove = await groupRows(cluster);
    const g1 = afterMove.find((g) => g.group === 'g1');
    if (!g1 || !g1.voters.includes('n4') || g1.voters.includes('n1')) throw new Error(`after the move g1's voters are ${g1?.voters.join(',')}`);
    if (dataKeys(afterMove) !== expectedKeys) throw new Error(`after the move the groups hold ${dataKeys(afterMove)} keys, not ${expectedKeys}`);
    console.log(`move     ${seconds(moveMs)}  (${move.stdout.trim()}; g1 holds ${g1.keys} keys)`);
  } catch (err) {
    // What the nodes said last: the run is gone once the cluster stops.
    console.error(cluster.logs());
    throw err;
  } finally {
    await cluster.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
