/**
 * Load through ioredis's Cluster client (run as its own process by groups-bench.ts, so that its
 * CPU is not the bench's): `clients` closed loops share one Cluster client, each with one command
 * in flight, as an application with that many concurrent requests would; every reply's latency goes
 * into an HDR histogram. The client learns the slot map with CLUSTER SLOTS and follows -MOVED as
 * it does against Redis Cluster.
 *
 *   node dist/test/bench/cluster_client_load.js '{"port":7000,"op":"set","clients":50,...}'
 *
 * Prints one LoadResult JSON line on stdout.
 */
import hdr from 'hdr-histogram-js';
import { Cluster } from 'ioredis';
import type { LoadResult } from './load_result.js';

export interface ClusterLoadOptions {
  /** RESP port of one node to learn the cluster from. */
  readonly port: number;
  readonly op: 'set' | 'get';
  readonly clients: number;
  readonly valueBytes: number;
  /** Keys are `key:<n>` for n below this. */
  readonly keyspace: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
}

async function run(o: ClusterLoadOptions): Promise<LoadResult> {
  const cluster = new Cluster([{ host: '127.0.0.1', port: o.port }], { scaleReads: 'master', redisOptions: { maxRetriesPerRequest: 3 } });
  cluster.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    cluster.once('ready', () => resolve());
    cluster.once('end', () => reject(new Error('the cluster client could not connect')));
  });
  const value = 'x'.repeat(o.valueBytes);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  let errors = 0;
  let firstError: string | undefined;
  let recording = false;
  let done = false;
  let requests = 0;
  // A fixed-seed xorshift, so two runs ask for the same keys.
  let state = 0x9e3779b9;
  const nextKey = (): string => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return `key:${(state >>> 0) % o.keyspace}`;
  };
  const loop = async (): Promise<void> => {
    while (!done) {
      const key = nextKey();
      const t0 = process.hrtime.bigint();
      try {
        if (o.op === 'set') await cluster.set(key, value);
        else await cluster.get(key);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
      if (recording) {
        histogram.recordValue(Number((process.hrtime.bigint() - t0) / 1000n));
        requests++;
      }
    }
  };
  const loops = Array.from({ length: o.clients }, loop);
  await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
  recording = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  recording = false;
  const seconds = (performance.now() - start) / 1000;
  done = true;
  await Promise.all(loops);
  cluster.disconnect();
  const ms = (us: number): number => us / 1000;
  return {
    tool: 'node',
    requests,
    seconds,
    opsPerSec: requests / seconds,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    maxMs: ms(histogram.maxValue),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

run(JSON.parse(process.argv[2]!) as ClusterLoadOptions).then(
  (r) => {
    console.log(JSON.stringify(r));
    process.exit(0);
  },
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
