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
 *
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
  readonly name: 'register' | 'counter' | 'append' | 'expiry';
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

async function read(ctx: OpContext, key: string, run: () => Promise<Json>): Promise<StepResult> {
  const op = ctx.history.invoke(ctx.process, Fn.read, key, null, ctx.now());
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

export function registerWorkload(): WorkloadDef {
  const keys = ['r0', 'r1', 'r2'];
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

export function counterWorkload(): WorkloadDef {
  const keys = ['c0', 'c1'];
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

export function appendWorkload(appendsPerKey = APPENDS_PER_KEY): WorkloadDef {
  // Three keys in use at a time, `a0`, `a1`, `a2`; a full one is replaced by `a0-1`, then `a0-2`, ...
  const active = ['a0', 'a1', 'a2'];
  const generation = [0, 0, 0];
  const appended = [0, 0, 0];
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

export const workloadNames = ['register', 'counter', 'append', 'expiry'] as const;

export function makeWorkload(name: string): WorkloadDef {
  switch (name) {
    case 'register':
      return registerWorkload();
    case 'counter':
      return counterWorkload();
    case 'append':
      return appendWorkload();
    case 'expiry':
      return expiryWorkload();
    default:
      throw new Error(`unknown workload '${name}' (known: ${workloadNames.join(', ')})`);
  }
}
