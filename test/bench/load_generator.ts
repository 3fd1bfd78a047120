/**
 * The Node load generator: a program (run by node_load.ts as its own process) that opens
 * `clients` connections, each a closed loop of `pipeline` commands written at once, and records
 * every reply's latency (from the write of its batch to the read that completed it, the way
 * redis-benchmark measures) in HDR histograms. It covers what redis-benchmark lacks: the 50/50
 * GET/SET mix, INCR with reads, p99.9, an error count. Also fills a key range for the memory phase.
 *
 *   node dist/test/bench/load_generator.js '{"mode":"load","options":{...}}'
 *
 * Prints one JSON line (a LoadResult or a FillResult) on stdout; progress goes to stderr.
 *
 * Plain sockets and pre-encoded commands rather than a Redis client library: the generator shares
 * two cores with three servers, and a client library's per-command promises and parsing would cost
 * more than the servers' work for GETs.
 */
import net from 'node:net';
import hdr from 'hdr-histogram-js';
import type { FillOptions, FillResult, GeneratorRequest, LoadGeneratorOptions } from './node_load.js';
import type { LoadResult } from './load_result.js';
import { ReplyCounter } from './reply_counter.js';

type Histogram = ReturnType<typeof hdr.build>;

const newHistogram = (): Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

const keyDigits = 12;
const digitsPlaceholder = 'D'.repeat(keyDigits);

/** One command with a `<12 digits>` slot for the key number. */
class CommandTemplate {
  readonly bytes: Buffer;
  readonly digitsAt: number;

  constructor(readonly name: string, args: readonly (string | Buffer)[]) {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const arg of args) {
      const b = typeof arg === 'string' ? Buffer.from(arg) : arg;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    this.bytes = Buffer.concat(parts);
    this.digitsAt = this.bytes.indexOf(digitsPlaceholder);
    if (this.digitsAt < 0) throw new Error(`template ${name} has no key slot`);
  }

  /** Writes this command for key number `n` at `offset` of `out`; returns the offset after it. */
  writeInto(out: Buffer, offset: number, n: number): number {
    this.bytes.copy(out, offset);
    for (let d = keyDigits - 1, rest = n; d >= 0; d--, rest = Math.floor(rest / 10)) out[offset + this.digitsAt + d] = 48 + (rest % 10);
    return offset + this.bytes.length;
  }
}

function templatesFor(workload: LoadGeneratorOptions['workload'], valueBytes: number): CommandTemplate[] {
  const key = `key:${digitsPlaceholder}`;
  const counter = `counter:${digitsPlaceholder}`;
  const value = Buffer.alloc(valueBytes, 'x');
  const set = new CommandTemplate('SET', ['SET', key, value]);
  const get = new CommandTemplate('GET', ['GET', key]);
  switch (workload) {
    case 'set':
      return [set];
    case 'get':
      return [get];
    case 'mix':
      return [get, set];
    case 'incr':
      return [new CommandTemplate('INCR', ['INCR', counter])];
    case 'incr-get':
      return [new CommandTemplate('INCR', ['INCR', counter]), new CommandTemplate('GET', ['GET', counter])];
  }
}

/** xorshift32: reproducible key choice from the seed. */
function randomSource(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function load(o: LoadGeneratorOptions): Promise<LoadResult> {
  const templates = templatesFor(o.workload, o.valueBytes);
  const all = newHistogram();
  const perCommand = templates.map(() => newHistogram());
  const random = randomSource(o.seed);
  const sockets = await Promise.all(Array.from({ length: o.clients }, () => connect(o.port)));

  let stopping = false;
  let measured = 0;
  let errors = 0;
  let firstError: string | undefined;
  let measureStart = 0;
  let measureEnd = 0;
  let pendingLoops = sockets.length;
  let allStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => (allStopped = r));
  const firstBatches: (() => void)[] = [];

  for (const socket of sockets) {
    const counter = new ReplyCounter();
    const kinds = new Uint8Array(o.pipeline);
    let answered = 0;
    let sentAt = 0;
    const sendBatch = (): void => {
      let size = 0;
      for (let i = 0; i < o.pipeline; i++) {
        kinds[i] = templates.length === 1 ? 0 : Math.floor(random() * templates.length);
        size += templates[kinds[i]!]!.bytes.length;
      }
      const out = Buffer.allocUnsafe(size);
      let offset = 0;
      for (let i = 0; i < o.pipeline; i++) offset = templates[kinds[i]!]!.writeInto(out, offset, Math.floor(random() * o.keyspace));
      answered = 0;
      sentAt = performance.now();
      socket.write(out);
    };
    socket.on('data', (chunk: Buffer) => {
      const errorsBefore = counter.errors;
      const n = counter.feed(chunk);
      if (counter.errors > errorsBefore) {
        errors += counter.errors - errorsBefore;
        firstError ??= counter.firstError ?? undefined;
      }
      if (n === 0) return;
      const now = performance.now();
      if (now >= measureStart && now <= measureEnd) {
        const micros = Math.max(1, Math.round((now - sentAt) * 1000));
        all.recordValueWithCount(micros, n);
        for (let i = answered; i < answered + n; i++) perCommand[kinds[i]!]!.recordValue(micros);
        measured += n;
      }
      answered += n;
      if (answered < o.pipeline) return;
      if (stopping) {
        socket.end();
        if (--pendingLoops === 0) allStopped();
      } else {
        sendBatch();
      }
    });
    socket.on('error', (err) => {
      process.stderr.write(`connection error: ${err.message}\n`);
      process.exit(1);
    });
    firstBatches.push(sendBatch);
  }

  // Every connection is open before any of them sends.
  measureStart = performance.now() + o.warmupSeconds * 1000;
  measureEnd = measureStart + o.seconds * 1000;
  for (const send of firstBatches) send();
  await new Promise((r) => setTimeout(r, measureEnd - performance.now()));
  stopping = true;
  await stopped;

  const ms = (h: Histogram, p: number): number => h.getValueAtPercentile(p) / 1000;
  const byCommand: Record<string, { count: number; p50Ms: number; p99Ms: number; p999Ms: number }> = {};
  if (templates.length > 1) {
    templates.forEach((t, i) => {
      const h = perCommand[i]!;
      byCommand[t.name] = { count: h.totalCount, p50Ms: ms(h, 50), p99Ms: ms(h, 99), p999Ms: ms(h, 99.9) };
    });
  }
  return {
    tool: 'node',
    requests: measured,
    seconds: o.seconds,
    opsPerSec: measured / o.seconds,
    p50Ms: ms(all, 50),
    p99Ms: ms(all, 99),
    p999Ms: ms(all, 99.9),
    maxMs: all.maxValue / 1000,
    errors,
    ...(firstError ? { firstError } : {}),
    ...(templates.length > 1 ? { byCommand } : {}),
  };
}

async function fill(o: FillOptions): Promise<FillResult> {
  const template = new CommandTemplate('SET', ['SET', `key:${digitsPlaceholder}`, Buffer.alloc(o.valueBytes, 'v')]);
  const started = performance.now();
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  let lastReport = 0;
  await Promise.all(
    Array.from({ length: o.clients }, async () => {
      const socket = await connect(o.port);
      const counter = new ReplyCounter();
      let left = 0;
      let errorsSeen = 0;
      let batchDone: { resolve: () => void; reject: (err: Error) => void } | null = null;
      socket.on('data', (chunk: Buffer) => {
        left -= counter.feed(chunk);
        if (left === 0) batchDone?.resolve();
      });
      socket.on('error', (err) => batchDone?.reject(err));
      for (;;) {
        const from = next;
        if (from >= o.keys) break;
        const to = Math.min(o.keys, from + o.pipeline);
        next = to;
        const out = Buffer.allocUnsafe((to - from) * template.bytes.length);
        let offset = 0;
        for (let k = from; k < to; k++) offset = template.writeInto(out, offset, k);
        await new Promise<void>((resolve, reject) => {
          batchDone = { resolve, reject };
          left = to - from;
          socket.write(out);
        });
        if (counter.errors > errorsSeen) {
          errors += counter.errors - errorsSeen;
          errorsSeen = counter.errors;
          firstError ??= counter.firstError ?? undefined;
        }
        if (to - lastReport >= 100_000) {
          lastReport = to;
          process.stderr.write(`filled ${to} of ${o.keys} keys\n`);
        }
      }
      socket.end();
    }),
  );
  return { keys: o.keys, seconds: (performance.now() - started) / 1000, errors, ...(firstError ? { firstError } : {}) };
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '') as GeneratorRequest;
  const result = request.mode === 'load' ? await load(request.options) : await fill(request.options);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
