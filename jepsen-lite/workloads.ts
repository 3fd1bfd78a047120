/**
 * Workloads: what each client does, one operation at a time, recorded as invoke + completion.
 *
 * | workload   | operations                                   | checked by              |
 * | ---------- | -------------------------------------------- | ----------------------- |
 * | `register` | GET / SET of unique values on a few keys     | linearizability per key |
 * | `counter`  | INCR and GET                                 | counter bounds          |
 * | `append`   | APPEND of unique tokens + a space, GET; a    | list prefixes, no loss  |
 * |            | key takes APPENDS_PER_KEY, then a fresh one  |                         |
 * | `expiry`   | SET k v PX ttl, GET                          | no read past expiry     |
 * | `scan`     | SET of new keys, DEL of some, full SCANs     | every key there through |
 * |            | (the cursor followed to 0)                   | a SCAN is in it, none   |
 * |            |                                              | that never was          |
 *
 * `keys` (register, counter; append: keys in use at a time) spreads a workload over more keys,
 * and so over many hash slots and the data groups that own them; each key is checked on its own.
 * Outcomes: a read that errors changed nothing, so it is `fail`; a write that errors or times out
 * may have taken effect, so it is `info` — except when ioredis refused it before sending it (the
 * connection was not writable), which is a certain `fail`.
 */
import type { Redis } from 'ioredis';
import type { SeededRandom } from '../src/util/random.js';
import { expiringWrite } from './checker/index.js';
import { Fn, type Json, type OperationRecorder } from './history.js';

export interface OpContext {
  readonly history: OperationRecorder;
  readonly now: () => number;
  readonly process: number;
  readonly rng: SeededRandom;
  /** A run-wide unique number, for unique values. */
  readonly unique: () => number;
}

/** The result of one operation, for the client loop: whether it errored. */
export type StepResult = 'ok' | 'error';

export interface WorkloadDef {
  readonly name: 'register' | 'counter' | 'append' | 'expiry' | 'scan';
  /** The keys used so far (append moves to fresh keys as it goes). */
  readonly keys: readonly string[];
  /** One random operation. */
  step(client: Redis, ctx: OpContext): Promise<StepResult>;
  /** A read of `key`, recorded (the final reads use it). */
  read(client: Redis, ctx: OpContext, key: string): Promise<StepResult>;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** ioredis refused the command before writing it to the socket: it certainly did not happen. */
function notSent(err: unknown): boolean {
  return /Stream isn't writeable|enableOfflineQueue/i.test(message(err));
}

async function write(ctx: OpContext, f: string, key: string, args: Json, run: () => Promise<Json>, expect?: (reply: Json) => boolean): Promise<StepResult> {
  const op = ctx.history.invoke(ctx.process, f, key, args, ctx.now());
  try {
    const reply = await run();
    if (expect && !expect(reply)) {
      ctx.history.info(op, ctx.now(), `unexpected reply ${JSON.stringify(reply)}`);
      return 'error';
    }
    ctx.history.ok(op, reply, ctx.now());
    return 'ok';
  } catch (err) {
    if (notSent(err)) ctx.history.fail(op, ctx.now(), message(err));
    else ctx.history.info(op, ctx.now(), message(err));
    return 'error';
  }
}

async function read(ctx: OpContext, key: string, run: () => Promise<Json>, f: string = Fn.read): Promise<StepResult> {
  const op = ctx.history.invoke(ctx.process, f, key, null, ctx.now());
  try {
    const value = await run();
    ctx.history.ok(op, value, ctx.now());
    return 'ok';
  } catch (err) {
    ctx.history.fail(op, ctx.now(), message(err));
    return 'error';
  }
}

const pickKey = (keys: readonly string[], rng: SeededRandom): string => keys[rng.intBelow(keys.length)]!;

const names = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

export function registerWorkload(keyCount = 3): WorkloadDef {
  const keys = names('r', keyCount);
  const self: WorkloadDef = {
    name: 'register',
    keys,
    step(client, ctx) {
      const key = pickKey(keys, ctx.rng);
      if (ctx.rng.intBelow(2) === 0) return self.read(client, ctx, key);
      const value = `v${ctx.unique()}`;
      return write(ctx, Fn.write, key, value, () => client.set(key, value), (r) => r === 'OK');
    },
    read: (client, ctx, key) => read(ctx, key, () => client.get(key)),
  };
  return self;
}

export function counterWorkload(keyCount = 2): WorkloadDef {
  const keys = names('c', keyCount);
  const self: WorkloadDef = {
    name: 'counter',
    keys,
    step(client, ctx) {
      const key = pickKey(keys, ctx.rng);
      if (ctx.rng.intBelow(10) < 3) return self.read(client, ctx, key);
      return write(ctx, Fn.incr, key, 1, () => client.incr(key), (r) => typeof r === 'number');
    },
    read: (client, ctx, key) => read(ctx, key, () => client.get(key)),
  };
  return self;
}

/**
 * Appends a key takes before the clients move to a fresh key. Every read returns the whole list,
 * so without a cap the history (and the server's replies) would grow with the square of the run's
 * length; with it, a read is at most this many elements, however long the run (as Jepsen's
 * list-append caps writes per key).
 */
export const APPENDS_PER_KEY = 100;

export function appendWorkload(appendsPerKey = APPENDS_PER_KEY, keyCount = 3): WorkloadDef {
  // Three keys in use at a time, `a0`, `a1`, `a2`; a full one is replaced by `a0-1`, then `a0-2`, ...
  const active = names('a', keyCount);
  const generation = active.map(() => 0);
  const appended = active.map(() => 0);
  const used = [...active];
  const self: WorkloadDef = {
    name: 'append',
    // Every key used so far: the final reads read them all.
    keys: used,
    step(client, ctx) {
      const slot = ctx.rng.intBelow(active.length);
      if (ctx.rng.intBelow(10) < 3) return self.read(client, ctx, active[slot]!);
      if (appended[slot]! >= appendsPerKey) {
        generation[slot]!++;
        appended[slot] = 0;
        active[slot] = `a${slot}-${generation[slot]}`;
        used.push(active[slot]!);
      }
      appended[slot]!++;
      const key = active[slot]!;
      const token = `e${ctx.unique()}`;
      return write(ctx, Fn.append, key, token, () => client.append(key, `${token} `), (r) => typeof r === 'number');
    },
    // The string "e1 e2 " read as the list [e1, e2].
    read: (client, ctx, key) =>
      read(ctx, key, async () => {
        const text = await client.get(key);
        return text === null ? null : text.split(' ').filter((t) => t !== '');
      }),
  };
  return self;
}

export function expiryWorkload(): WorkloadDef {
  const keys = ['x0', 'x1', 'x2'];
  const self: WorkloadDef = {
    name: 'expiry',
    keys,
    step(client, ctx) {
      const key = pickKey(keys, ctx.rng);
      if (ctx.rng.intBelow(10) < 6) return self.read(client, ctx, key);
      const value = `v${ctx.unique()}`;
      const ttlMs = 100 + ctx.rng.intBelow(900);
      return write(ctx, Fn.write, key, expiringWrite(value, ttlMs), () => client.set(key, value, 'PX', ttlMs), (r) => r === 'OK');
    },
    read: (client, ctx, key) => read(ctx, key, () => client.get(key)),
  };
  return self;
}

/** The prefix of the scan workload's keys; its SCANs match only these (not the harness's health keys). */
export const SCAN_PREFIX = 's:';
/** Live keys the scan workload keeps about: past it, writers delete as often as they add. */
export const SCAN_LIVE_KEYS = 150;
/** The COUNT of each SCAN call: small, so a full SCAN is many calls and faults land inside them. */
export const SCAN_COUNT = 20;

/**
 * The scan workload. Writers (two of every three clients) SET new keys `s:<n>` (each name once in
 * a run) and, once about SCAN_LIVE_KEYS are live, DEL a random live one as often as they add;
 * readers (every third client) run full SCANs: `SCAN cursor MATCH s:* COUNT 20` from 0, following
 * the cursor until it is 0 again, on one connection. A full SCAN is one operation (`scan`, key
 * `*`): invoked before its first call, completed after its last, with every key returned (sorted,
 * duplicates removed). A call that errors is tried again with the same cursor (a cursor is good on
 * any node) up to SCAN_STEP_TRIES times; then the whole SCAN is `fail` (it is a read).
 */
export function scanWorkload(): WorkloadDef {
  const live: string[] = [];
  const self: WorkloadDef = {
    name: 'scan',
    keys: ['*'],
    step(client, ctx) {
      if (ctx.process % 3 === 2) return self.read(client, ctx, '*');
      if (live.length > SCAN_LIVE_KEYS && ctx.rng.intBelow(2) === 0) {
        // Taken out of `live` before the DEL is sent: no key is deleted twice, nor re-added.
        const key = live.splice(ctx.rng.intBelow(live.length), 1)[0]!;
        return write(ctx, Fn.del, key, null, () => client.del(key), (r) => r === 1 || r === 0);
      }
      const key = `${SCAN_PREFIX}${ctx.unique()}`;
      const value = `v${ctx.unique()}`;
      // Deletable only once its SET is acknowledged: a DEL sent while the SET may still land (in
      // flight, or unknown) could come first, and the key would be there after its DEL.
      return write(ctx, Fn.write, key, value, () => client.set(key, value), (r) => r === 'OK').then((result) => {
        if (result === 'ok') live.push(key);
        return result;
      });
    },
    read: (client, ctx) => read(ctx, '*', () => fullScan(client), Fn.scan),
  };
  return self;
}

const SCAN_STEP_TRIES = 5;

/** SCAN from cursor 0 until it returns 0: every key returned, sorted, once each. */
async function fullScan(client: Redis): Promise<string[]> {
  const seen = new Set<string>();
  let cursor = '0';
  do {
    let reply: [string, string[]] | undefined;
    for (let attempt = 1; reply === undefined; attempt++) {
      try {
        reply = await client.scan(cursor, 'MATCH', `${SCAN_PREFIX}*`, 'COUNT', SCAN_COUNT);
      } catch (err) {
        if (attempt >= SCAN_STEP_TRIES) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    cursor = reply[0];
    for (const k of reply[1]) seen.add(k);
  } while (cursor !== '0');
  return [...seen].sort();
}

export const workloadNames = ['register', 'counter', 'append', 'expiry', 'scan'] as const;

/**
 * A workload by name; `keyCount` spreads register and counter over that many keys, and append
 * over that many keys in use at a time (default: 3, 2 and 3, as always).
 */
export function makeWorkload(name: string, keyCount?: number): WorkloadDef {
  switch (name) {
    case 'register':
      return registerWorkload(keyCount);
    case 'counter':
      return counterWorkload(keyCount);
    case 'append':
      return appendWorkload(APPENDS_PER_KEY, keyCount);
    case 'expiry':
      return expiryWorkload();
    case 'scan':
      return scanWorkload();
    default:
      throw new Error(`unknown workload '${name}' (known: ${workloadNames.join(', ')})`);
  }
}
