/**
 * One jepsen-lite run: a 3-node cluster, concurrent clients running a workload, nemeses
 * alternating inject / heal on a seeded schedule, then heal everything, settle, final reads,
 * check the history, and write a report into `jepsen-lite/runs/<timestamp>-<workload>/`, where
 * the history (JSON Lines) has been streaming since the clients started.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { SeededRandom, shuffle } from '../src/util/random.js';
import { checkHistory, type CheckResult, type Workload } from './checker/index.js';
import { Cluster, repoRoot, type ClusterNode } from './cluster.js';
import { TextFileWriter } from './files.js';
import { raftInfoGroups } from './node_probe.js';
import type { OutcomeCounts } from './history.js';
import { makeNemesis, type FaultRecord, type Nemesis } from './nemesis.js';
import { HistoryRecorder } from './recorder.js';
import { measureCheck, writeRunFiles, type CheckerCost } from './report.js';
import { makeWorkload, type OpContext, type WorkloadDef } from './workloads.js';

export interface RunOptions {
  readonly workload: string;
  readonly nemeses: readonly string[];
  readonly timeSeconds: number;
  readonly seed: number;
  readonly clients?: number;
  readonly nodes?: number;
  /**
   * Data groups of the cluster (`server --groups N`); default 1, today's single group. With more,
   * health and "the leader" are judged group by group, and the workloads spread over more keys.
   */
  readonly groups?: number;
  /**
   * Keys of register and counter (append: keys in use at a time). Default: 3, 2 and 3 with one
   * group; 8 per data group with several (or with split), so that every group has keys.
   */
  readonly keys?: number;
  /** How long a fault lasts and how long the quiet between faults, ms. Default 2500 / 1500. */
  readonly faultMs?: number;
  readonly quietMs?: number;
  /**
   * How the next nemesis is chosen: `random` (default) picks among the available ones with the
   * run's seeded RNG; `each` goes round the list in a seeded order, and the run lasts until
   * every nemesis has had its turn (at most one extra turn per nemesis past `timeSeconds`), so a
   * short run covers them all.
   */
  readonly schedule?: 'random' | 'each';
  /**
   * Turns the run has at least, past `timeSeconds` if it must (at most this many extra turns): a
   * test that needs two splits gets them on a loaded machine too, where one may take seconds.
   */
  readonly minTurns?: number;
  /** Extra `quorumkv server` flags for every node (e.g. tiny snapshot thresholds). */
  readonly serverArgs?: readonly string[];
  /**
   * Runs once the cluster is up, before the clients and the faults start: state a run needs
   * whatever the machine's speed (e.g. every node's log compacted behind a snapshot).
   */
  readonly prepare?: (cluster: Cluster) => Promise<void>;
  /** Where runs go; default `jepsen-lite/runs`. `null`: write nothing. */
  readonly runsDir?: string | null;
  readonly log?: (line: string) => void;
}

export interface RunResult {
  readonly valid: CheckResult['valid'];
  readonly verdict: string;
  readonly check: CheckResult;
  readonly outcomes: OutcomeCounts;
  readonly faults: readonly FaultRecord[];
  readonly injected: number;
  readonly dir: string | null;
  readonly seed: number;
  /** Snapshots taken, and installed from a leader, over the run (see SnapshotCounters). */
  readonly snapshots: { readonly taken: number; readonly installed: number };
  /** The check's time and the harness's memory. */
  readonly checker: CheckerCost;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Snapshots taken and installed over the run, from INFO raft. A node's counters start from 0
 * when its process restarts, so they are sampled before every fault and at the end, and a
 * sample lower than the last one starts a new incarnation of that node.
 */
class SnapshotCounters {
  /** By `node/group`: a replica's counters start from 0 when its process restarts (or it is made anew). */
  private readonly byReplica = new Map<string, { base: { taken: number; installed: number }; last: { taken: number; installed: number } }>();

  async sample(nodes: readonly ClusterNode[]): Promise<void> {
    for (const n of nodes) {
      const groups = await this.read(n);
      if (groups === null) continue;
      for (const [groupId, info] of groups) {
        const id = `${n.id}/${groupId}`;
        const now = { taken: Number(info.raft_snapshots_taken ?? 0), installed: Number(info.raft_snapshots_installed ?? 0) };
        const seen = this.byReplica.get(id) ?? { base: { taken: 0, installed: 0 }, last: { taken: 0, installed: 0 } };
        if (now.taken < seen.last.taken || now.installed < seen.last.installed) {
          seen.base = { taken: seen.base.taken + seen.last.taken, installed: seen.base.installed + seen.last.installed };
        }
        seen.last = now;
        this.byReplica.set(id, seen);
      }
    }
  }

  /**
   * INFO raft of a node that is up (every group it hosts), tried three times with 5 s each: a
   * sample lost before a kill loses that incarnation's counts for good, and INFO's default 1 s can
   * pass on a loaded machine (a node busy writing a snapshot under the clients' load).
   */
  private async read(n: ClusterNode): Promise<Map<string, Record<string, string>> | null> {
    for (let attempt = 0; attempt < 3 && n.child !== null && !n.paused; attempt++) {
      try {
        return await raftInfoGroups(n.respPort, 5_000);
      } catch {
        await sleep(200);
      }
    }
    return null;
  }

  totals(): { taken: number; installed: number } {
    let taken = 0;
    let installed = 0;
    for (const { base, last } of this.byReplica.values()) {
      taken += base.taken + last.taken;
      installed += base.installed + last.installed;
    }
    return { taken, installed };
  }
}

/** One client process: a connection to one node, moved to a live node when its node is down. */
class ClientSlot {
  private node: ClusterNode;
  private client: Redis;
  private errors = 0;

  constructor(private readonly cluster: Cluster, start: ClusterNode) {
    this.node = start;
    this.client = this.connect(start);
  }

  private connect(n: ClusterNode): Redis {
    return this.cluster.client(n, { commandTimeout: 1_500, connectTimeout: 1_000, enableOfflineQueue: true });
  }

  /** The client to use now: moves when the node is down, or after repeated errors. */
  current(rng: SeededRandom): Redis {
    if (!this.cluster.isUp(this.node) || this.errors >= 3) {
      const up = this.cluster.upNodes().filter((n) => n !== this.node);
      if (up.length > 0) {
        this.client.disconnect();
        this.node = up[rng.intBelow(up.length)]!;
        this.client = this.connect(this.node);
      }
      this.errors = 0;
    }
    return this.client;
  }

  noteResult(ok: boolean): void {
    this.errors = ok ? 0 : this.errors + 1;
  }

  close(): void {
    this.client.disconnect();
  }
}

export interface ScheduleOptions {
  readonly nemeses: readonly Nemesis[];
  readonly schedule: 'random' | 'each';
  /** See RunOptions.minTurns; 0 when absent. */
  readonly minTurns?: number;
  readonly rng: SeededRandom;
  /** When the run's planned time ends, on the `now` clock (ms). */
  readonly endAt: number;
  readonly faultMs: number;
  readonly quietMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly available: (nemesis: Nemesis) => Promise<boolean>;
  /** One fault: health check, inject, `faultMs`, heal. */
  readonly turn: (nemesis: Nemesis) => Promise<void>;
}

/**
 * Chooses the nemesis of each turn and runs the turns until the run's time is up. `each` then
 * goes on until every nemesis has had its turn, bounded by a number of extra turns (one per
 * nemesis), not by time: how long a turn takes (restarting three nodes, waiting for a healthy
 * cluster) depends on how loaded the machine is, and a wall-clock bound cut runs on a loaded
 * machine short of their last nemeses. Returns the nemeses that had a turn.
 */
export async function nemesisSchedule(o: ScheduleOptions): Promise<ReadonlySet<Nemesis>> {
  const { nemeses, rng, endAt, faultMs, quietMs, now } = o;
  const each = o.schedule === 'each';
  const rotation = each ? shuffle(rng, nemeses) : [];
  const hadTurn = new Set<Nemesis>();
  const minTurns = o.minTurns ?? 0;
  let turns = 0;
  let extraTurns = 0;
  const inTime = (): boolean => now() + faultMs < endAt;
  const moreTurns = (): boolean =>
    inTime() || (each && hadTurn.size < nemeses.length && extraTurns < nemeses.length) || (turns < minTurns && extraTurns < minTurns);
  while (nemeses.length > 0 && moreTurns()) {
    // Past the planned time, with nemeses still waiting for their turn (schedule each).
    const overtime = !inTime();
    if (overtime) extraTurns++;
    const ready: Nemesis[] = [];
    for (const n of each ? rotation : nemeses) if (await o.available(n)) ready.push(n);
    if (ready.length > 0) {
      // Round the rotation: the first available one that has not had its turn yet, else the next one.
      const nemesis = each ? (ready.find((n) => !hadTurn.has(n)) ?? ready[0]!) : ready[rng.intBelow(ready.length)]!;
      if (each) rotation.push(...rotation.splice(rotation.indexOf(nemesis), 1));
      hadTurn.add(nemesis);
      turns++;
      await o.turn(nemesis);
    }
    // The quiet between faults is a full one in overtime too: the clients' window without faults.
    await o.sleep(overtime ? quietMs : Math.max(0, Math.min(quietMs, endAt - now())));
  }
  return hadTurn;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

export async function run(options: RunOptions): Promise<RunResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const nemeses: Nemesis[] = options.nemeses.filter((n) => n !== '' && n !== 'none').map(makeNemesis);
  const groups = options.groups ?? 1;
  // Groups judged one by one: several from the start, or made by split; move needs a spare node.
  const spares = nemeses.some((n) => n.name === 'move') ? 1 : 0;
  const multiGroup = groups > 1 || spares > 0 || nemeses.some((n) => n.name === 'split');
  const workload: WorkloadDef = makeWorkload(options.workload, options.keys ?? (multiGroup ? 8 * Math.max(groups, 2) : undefined));
  const rng = new SeededRandom(options.seed);
  const faultMs = options.faultMs ?? 2_500;
  const quietMs = options.quietMs ?? 1_500;
  const clientCount = options.clients ?? 6;
  const faults: FaultRecord[] = [];
  const startedAt = new Date();

  log(
    `jepsen-lite: workload ${workload.name}, nemeses ${nemeses.map((n) => n.name).join(',') || 'none'}${options.schedule === 'each' ? ' (each in turn)' : ''}, ${options.timeSeconds} s, seed ${options.seed}, ${clientCount} clients${groups > 1 ? `, ${groups} data groups` : ''}${spares ? `, ${spares} spare node` : ''}${options.serverArgs?.length ? `, server flags ${options.serverArgs.join(' ')}` : ''}`,
  );
  // The run's directory from the start: the history streams into it as the clients go.
  const dir = options.runsDir === null ? null : join(options.runsDir ?? join(repoRoot, 'jepsen-lite', 'runs'), `${timestamp()}-${workload.name}`);
  if (dir !== null) await mkdir(dir, { recursive: true });
  const cluster = await Cluster.start({ nodes: options.nodes ?? 3, extraArgs: options.serverArgs ?? [], groups, spares, multiGroup });
  const history = new HistoryRecorder('ms', dir === null ? undefined : new TextFileWriter(join(dir, 'history.jsonl'), { flushEveryMs: 1_000 }));
  const t0 = performance.now();
  const now = (): number => Math.round((performance.now() - t0) * 1000) / 1000;
  let nextUnique = 1;
  const unique = (): number => nextUnique++;
  const slots: ClientSlot[] = [];
  let setupError: unknown;
  let settleProblem: string | null = null;
  const snapshotCounters = new SnapshotCounters();
  try {
    await options.prepare?.(cluster);
    // Clients.
    let running = true;
    const clientLoops = Array.from({ length: clientCount }, async (_, p) => {
      const slot = new ClientSlot(cluster, cluster.nodes[p % cluster.nodes.length]!);
      slots.push(slot);
      const ctx: OpContext = { history, now, process: p, rng: new SeededRandom(options.seed * 1_000 + p + 1), unique };
      while (running) {
        const client = slot.current(ctx.rng);
        const result = await workload.step(client, ctx);
        slot.noteResult(result === 'ok');
        await history.drained();
        await sleep(result === 'ok' ? 2 : 50);
      }
    });

    // Nemesis schedule.
    const endAt = options.timeSeconds * 1000;
    const record = (nemesis: string, action: 'inject' | 'heal', detail: string, error?: string, began?: number): void => {
      const fault: FaultRecord = { nemesis, action, time: now(), ...(began !== undefined ? { began } : {}), detail, ...(error !== undefined ? { error } : {}) };
      faults.push(fault);
      const from = began !== undefined && fault.time - began >= 1_000 ? ` (began ${(began / 1000).toFixed(2)}s)` : '';
      log(`  ${(fault.time / 1000).toFixed(2)}s ${nemesis} ${action}${from}: ${detail}${error ? ` (error: ${error})` : ''}`);
    };
    const act = async (nemesis: Nemesis, action: 'inject' | 'heal', final = false): Promise<void> => {
      const began = now();
      try {
        let detail = action === 'inject' ? await nemesis.inject(cluster, rng) : await nemesis.heal(cluster);
        if (final && /^(nothing to heal|healed 0 )/.test(detail)) return;
        if (action === 'heal' && !final) {
          // Health after the heal: every node up, one leader, writes through every node.
          const healStart = now();
          const problem = await cluster.waitHealthy(10_000);
          detail += problem === null ? ` (healthy after ${Math.round(now() - healStart)} ms)` : ` (not healthy after 10 s: ${problem})`;
        }
        record(nemesis.name, action, detail, undefined, began);
      } catch (err) {
        record(nemesis.name, action, 'failed', err instanceof Error ? err.message : String(err), began);
      }
    };
    await sleep(Math.min(1_000, endAt / 4));
    await nemesisSchedule({
      nemeses,
      schedule: options.schedule ?? 'random',
      ...(options.minTurns === undefined ? {} : { minTurns: options.minTurns }),
      rng,
      endAt,
      faultMs,
      quietMs,
      now,
      sleep,
      available: async (n) => n.available(cluster),
      turn: async (nemesis) => {
        const problem = await cluster.waitHealthy(10_000);
        if (problem !== null) record('harness', 'inject', 'health check before the next fault', `not healthy: ${problem}`);
        // Before a fault that may restart nodes (their INFO counters start again from 0).
        await snapshotCounters.sample(cluster.nodes);
        await act(nemesis, 'inject');
        await sleep(faultMs);
        await act(nemesis, 'heal');
      },
    });
    await sleep(Math.max(0, endAt - now()));

    // Heal everything and let the clients finish.
    for (const nemesis of nemeses) await act(nemesis, 'heal', true);
    cluster.healNetwork();
    for (const n of cluster.nodes) cluster.resume(n);
    for (const n of cluster.nodes) if (!n.child) await cluster.restart(n);
    running = false;
    await Promise.all(clientLoops);
    settleProblem = await cluster.waitHealthy(30_000);
    if (settleProblem) log(`  cluster not healthy after healing: ${settleProblem}`);
    await sleep(500);

    // Final reads: each key until one succeeds (failed attempts are recorded as fail).
    const finalProcess = clientCount;
    const finalCtx: OpContext = { history, now, process: finalProcess, rng: new SeededRandom(options.seed + 7), unique };
    for (const key of workload.keys) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const n = cluster.nodes[attempt % cluster.nodes.length]!;
        const client = cluster.client(n, { commandTimeout: 3_000, connectTimeout: 1_000, enableOfflineQueue: true });
        try {
          if ((await workload.read(client, finalCtx, key)) === 'ok') break;
        } finally {
          client.disconnect();
        }
        await sleep(250);
      }
    }
    await snapshotCounters.sample(cluster.nodes);
  } catch (err) {
    setupError = err;
  } finally {
    for (const s of slots) s.close();
    // The nodes' last output, for a run whose cluster did not heal (their data dir goes with stop()).
    const troubled = settleProblem !== null || faults.some((f) => f.error !== undefined || /not healthy/.test(f.detail));
    if (dir !== null && (troubled || setupError !== undefined)) await writeFile(join(dir, 'nodes.log'), cluster.fullLogs()).catch(() => undefined);
    await cluster.stop();
    await history.close().catch((err: unknown) => (setupError ??= err));
  }
  if (setupError !== undefined) throw setupError;
  // The check after the cluster is gone: its processes no longer share the machine with it.
  const { result: check, cost: checker } = measureCheck(() => checkHistory(workload.name as Workload, history.log));
  const snapshots = snapshotCounters.totals();

  const outcomes: OutcomeCounts = history.log.counts();
  const injected = faults.filter((f) => f.action === 'inject' && f.error === undefined).length;
  if (dir !== null) {
    await writeRunFiles(
      dir,
      {
        workload: workload.name,
        nemeses: nemeses.map((n) => n.name),
        schedule: options.schedule ?? 'random',
        groups,
        keys: workload.keys.length,
        seed: options.seed,
        timeSeconds: options.timeSeconds,
        clients: clientCount,
        startedAt: startedAt.toISOString(),
        faults,
        settleProblem,
        snapshots,
        checker,
      },
      history.log,
      check,
    );
  }
  log(
    `  operations: ${outcomes.total} (${outcomes.ok} ok, ${outcomes.fail} fail, ${outcomes.info} info); faults injected: ${injected}; snapshots ${snapshots.taken} taken, ${snapshots.installed} installed${dir ? `; report in ${dir}` : ''}`,
  );
  log(`  checker: ${(checker.elapsedMs / 1000).toFixed(1)} s, ${checker.rssMB} MB resident after it, ${checker.peakRssMB} MB peak`);
  return { valid: check.valid, verdict: check.verdict, check, outcomes, faults, injected, dir, seed: options.seed, snapshots, checker };
}
