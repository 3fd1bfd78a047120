/**
 * Randomized fault schedules against 3- and 5-node groups, checking the Raft safety properties
 * after every action and liveness once the faults heal. Every run prints its seed; replay one
 * with QKV_SEED=<seed> (and QKV_PATH=<path> for fast-check's shrunk counterexample).
 * `npm run test:soak` runs many more schedules (QKV_SOAK=1).
 */
import fc from 'fast-check';
import { SimCluster } from './cluster.js';
import { describeAction, runAction, scheduleArb } from './schedule.js';

export const soak = process.env.QKV_SOAK === '1';
export const baseSeed = process.env.QKV_SEED ? Number(process.env.QKV_SEED) : Math.floor(Math.random() * 0x7fffffff);
const path = process.env.QKV_PATH;

export function simulate(voters: number, numRuns: number, seed: number): { runs: number; proposals: number; reads: number; quiesced: number; woken: number } {
  let runs = 0;
  let proposals = 0;
  let reads = 0;
  let quiesced = 0;
  let woken = 0;
  console.log(`raft simulation: ${voters} voters, ${numRuns} schedules, seed ${seed}${path ? ` path ${path}` : ''}`);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0x7fffffff }), scheduleArb(20, 300), (clusterSeed, schedule) => {
      const cluster = new SimCluster({ voters, seed: clusterSeed });
      try {
        cluster.warmUp();
        for (const action of schedule) runAction(cluster, action);
        cluster.healAndConverge(600);
      } catch (err) {
        const tail = cluster.log.slice(-20).join('; ');
        throw new Error(
          `${(err as Error).message}\nschedule: ${schedule.map(describeAction).join(' ')}\nevents: ${tail}\nstate: ${cluster.describe()}`,
          { cause: err },
        );
      }
      runs++;
      proposals += cluster.proposalsAppended;
      reads += cluster.readsServed;
      quiesced += cluster.quiesced;
      woken += cluster.wokenByHost;
    }),
    {
      seed,
      numRuns,
      ...(path ? { path } : {}),
      // Shrinking a failure replays hundreds of schedules; bound it so a failure is reported
      // (with the smallest counterexample found so far) instead of hanging the suite.
      interruptAfterTimeLimit: soak ? 3_600_000 : 240_000,
      markInterruptAsFailure: true,
    },
  );
  console.log(
    `raft simulation: ${voters} voters: ${runs} schedules passed, ${proposals} proposals appended, ${reads} reads served, ` +
      `${quiesced} times a leader went quiet, ${woken} quiet members woken by liveness`,
  );
  return { runs, proposals, reads, quiesced, woken };
}

