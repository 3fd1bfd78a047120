/**
 * Node log benchmark: what one log per node buys a node that hosts many Raft groups. In the same
 * run, on the same disk:
 *
 *   NodeLog, 64 groups     one shared log; every round, each group saves one small entry, all at once
 *   FileLog x 64           64 logs of their own (as the node does today), the same rounds
 *   NodeLog, 1 group       one group, one save per round
 *   FileLog, 1 group       the same on its own log
 *   ... free-running       64 groups that each save again as soon as their last save resolved (a
 *                          Ready loop per group, not lockstep rounds), on NodeLog and on 64 FileLogs
 *
 * Reported per case: saves/s, rounds/s (lockstep cases), fdatasyncs/s and saves per fdatasync
 * (counted on FileHandle.prototype.datasync, so both logs are counted the same way), directory
 * fsyncs, and round latency percentiles.
 *
 *   npm run bench:node-log                        (3 s per case, 2 runs of each, interleaved)
 *   QKV_BENCH_SECONDS=10 QKV_BENCH_REPEATS=4 npm run bench:node-log
 *   QKV_BENCH_GROUPS=128 QKV_BENCH_ENTRY_BYTES=100 npm run bench:node-log
 *
 * Runs in a temp dir under os.tmpdir(), removed afterwards: the figures are those of that disk.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EntryType } from '../../src/raft/types.js';
import type { DurableLog } from '../../src/storage/durable_log.js';
import { FileLog } from '../../src/storage/file_log.js';
import { NodeLog } from '../../src/storage/node_log.js';
import { median } from './report.js';

const secondsPerCase = Number(process.env.QKV_BENCH_SECONDS ?? 3);
const groupCount = Number(process.env.QKV_BENCH_GROUPS ?? 64);
const entryBytes = Number(process.env.QKV_BENCH_ENTRY_BYTES ?? 100);

// -------------------------------------------------------------------------------------------------
// fsync counters: patched once on the FileHandle prototype that both logs write through.

const counters = { datasync: 0, sync: 0 };

async function countFsyncs(root: string): Promise<void> {
  const probe = await open(join(root, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const datasync = proto.datasync;
  const sync = proto.sync;
  proto.datasync = function (this: FileHandle) {
    counters.datasync++;
    return datasync.call(this);
  };
  proto.sync = function (this: FileHandle) {
    counters.sync++;
    return sync.call(this);
  };
}

// -------------------------------------------------------------------------------------------------

interface Result {
  readonly name: string;
  readonly groups: number;
  readonly saves: number;
  readonly rounds: number | null;
  readonly datasyncs: number;
  readonly dirSyncs: number;
  readonly seconds: number;
  readonly roundMs: number[];
}

interface Subject {
  readonly logs: readonly DurableLog[];
  close(): Promise<void>;
}

async function nodeLogSubject(dir: string, groups: number): Promise<Subject> {
  const node = new NodeLog({ dir });
  await node.open();
  const logs: DurableLog[] = [];
  for (let g = 0; g < groups; g++) {
    const log = node.group(`group-${g}`);
    await log.load();
    logs.push(log);
  }
  return { logs, close: () => node.close() };
}

async function fileLogsSubject(dir: string, groups: number): Promise<Subject> {
  const logs: FileLog[] = [];
  for (let g = 0; g < groups; g++) {
    const log = new FileLog({ dir: join(dir, `group-${g}`), groupId: `group-${g}` });
    await log.load();
    logs.push(log);
  }
  return {
    logs,
    close: async () => {
      for (const log of logs) await log.close();
    },
  };
}

const data = new Uint8Array(entryBytes).fill(7);

/** Every round, each log saves one entry; the round ends when all of them are durable. */
async function lockstep(name: string, subject: Subject): Promise<Result> {
  const next = subject.logs.map(() => 1);
  const round = (): Promise<void[]> =>
    Promise.all(
      subject.logs.map((log, g) => {
        const index = next[g]!++;
        return log.save({ entries: [{ index, term: 1, type: EntryType.Normal, data }], hardState: { term: 1, vote: '', commit: index - 1 } });
      }),
    );
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) await round();

  const before = { ...counters };
  const roundMs: number[] = [];
  const start = performance.now();
  const end = start + secondsPerCase * 1000;
  let now = start;
  while (now < end) {
    await round();
    const after = performance.now();
    roundMs.push(after - now);
    now = after;
  }
  await subject.close();
  return {
    name,
    groups: subject.logs.length,
    saves: roundMs.length * subject.logs.length,
    rounds: roundMs.length,
    datasyncs: counters.datasync - before.datasync,
    dirSyncs: counters.sync - before.sync,
    seconds: (now - start) / 1000,
    roundMs,
  };
}

/** Each log saves again as soon as its last save resolved, until the time is up. */
async function freeRunning(name: string, subject: Subject): Promise<Result> {
  let saves = 0;
  let measuring = false;
  let stopAt = performance.now() + 300;
  // Warm-up, then the measured stretch continues each group from where it was.
  const indices = subject.logs.map(() => 1);
  const run = (): Promise<void[]> =>
    Promise.all(
      subject.logs.map(async (log, g) => {
        while (performance.now() < stopAt) {
          const index = indices[g]!++;
          await log.save({ entries: [{ index, term: 1, type: EntryType.Normal, data }], hardState: { term: 1, vote: '', commit: index - 1 } });
          if (measuring) saves++;
        }
      }),
    );
  await run();
  const before = { ...counters };
  measuring = true;
  const start = performance.now();
  stopAt = start + secondsPerCase * 1000;
  await run();
  const seconds = (performance.now() - start) / 1000;
  await subject.close();
  return {
    name,
    groups: subject.logs.length,
    saves,
    rounds: null,
    datasyncs: counters.datasync - before.datasync,
    dirSyncs: counters.sync - before.sync,
    seconds,
    roundMs: [],
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

interface Case {
  readonly name: string;
  readonly run: (dir: string) => Promise<Result>;
}

const cases: readonly Case[] = [
  { name: `NodeLog, ${groupCount} groups`, run: async (dir) => lockstep(`NodeLog, ${groupCount} groups`, await nodeLogSubject(dir, groupCount)) },
  { name: `FileLog x ${groupCount}`, run: async (dir) => lockstep(`FileLog x ${groupCount}`, await fileLogsSubject(dir, groupCount)) },
  { name: 'NodeLog, 1 group', run: async (dir) => lockstep('NodeLog, 1 group', await nodeLogSubject(dir, 1)) },
  { name: 'FileLog, 1 group', run: async (dir) => lockstep('FileLog, 1 group', await fileLogsSubject(dir, 1)) },
  {
    name: `NodeLog, ${groupCount} groups, free-running`,
    run: async (dir) => freeRunning(`NodeLog, ${groupCount} groups, free-running`, await nodeLogSubject(dir, groupCount)),
  },
  {
    name: `FileLog x ${groupCount}, free-running`,
    run: async (dir) => freeRunning(`FileLog x ${groupCount}, free-running`, await fileLogsSubject(dir, groupCount)),
  },
];

/** Rounds of every case, in ABC..CBA order, so that a disk or a neighbour that drifts during the run costs every case alike. */
const repeats = Number(process.env.QKV_BENCH_REPEATS ?? 2);


async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'qkv-node-log-bench-'));
  const results = new Map<string, Result[]>(cases.map((c) => [c.name, []]));
  try {
    await countFsyncs(root);
    for (let repeat = 0; repeat < repeats; repeat++) {
      const order = repeat % 2 === 0 ? cases : cases.slice().reverse();
      for (const [i, c] of order.entries()) results.get(c.name)!.push(await c.run(join(root, `run-${repeat}-${i}`)));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }

  console.log(
    `node log bench: ${entryBytes}-byte entries (+ hard state), ${secondsPerCase} s per case, ${repeats} runs of each (ABC..CBA), ` +
      `node ${process.version}, dir ${tmpdir()}; medians, each run's saves/s in brackets`,
  );
  console.log(row(['case', 'saves/s', 'rounds/s', 'fdatasyncs/s', 'saves per fdatasync', 'dir fsyncs', 'round p50 ms', 'round p99 ms']));
  console.log(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const c of cases) {
    const runs = results.get(c.name)!;
    const savesPerSecond = runs.map((r) => r.saves / r.seconds);
    const lockstepRun = runs[0]!.rounds !== null;
    const pooled = runs.flatMap((r) => r.roundMs).sort((a, b) => a - b);
    const saves = runs.reduce((sum, r) => sum + r.saves, 0);
    const datasyncs = runs.reduce((sum, r) => sum + r.datasyncs, 0);
    console.log(
      row([
        c.name,
        `${median(savesPerSecond).toFixed(0)} [${savesPerSecond.map((v) => v.toFixed(0)).join(', ')}]`,
        lockstepRun ? median(runs.map((r) => r.rounds! / r.seconds)).toFixed(0) : '-',
        median(runs.map((r) => r.datasyncs / r.seconds)).toFixed(0),
        (saves / Math.max(1, datasyncs)).toFixed(1),
        String(runs.reduce((sum, r) => sum + r.dirSyncs, 0)),
        pooled.length === 0 ? '-' : percentile(pooled, 50).toFixed(2),
        pooled.length === 0 ? '-' : percentile(pooled, 99).toFixed(2),
      ]),
    );
  }
}

await main();
