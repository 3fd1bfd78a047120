import { encodeReply } from '../../../src/resp/encoder.js';
import { Executor } from './executor.js';
import { useRedis, type RedisClient } from './use_redis.js';
import { readReply, type RespValue } from './resp_frames.js';

export type Word = string | Buffer;

/** One command whose replies differed. */
export interface Mismatch {
  readonly command: string;
  readonly redis: string;
  readonly quorumkv: string;
}

function show(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('latin1'));
}

export function describe(words: readonly Word[]): string {
  return words.map((word) => show(typeof word === 'string' ? Buffer.from(word) : word)).join(' ');
}

function sortedItems(value: RespValue): string[] | null {
  if (value.type !== 'array' || value.items === null) return null;
  return value.items.map((item) => (item.type === 'bulk' && item.bytes !== null ? item.bytes.toString('hex') : '?')).sort();
}

/**
 * Compares one reply: byte for byte, except where Redis leaves something open:
 *   KEYS                  the same keys in any order
 *   SCAN                  a complete pass (cursor 0 both sides): the same keys in any order
 *   RANDOMKEY             nil on both sides, or a live key on ours
 *   TTL / EXPIRETIME      within 1 s, PTTL / PEXPIRETIME within 1000 ms, when both are >= 0
 *                         (the two sides read their clocks a moment apart)
 */
function sameReply(name: string, ours: Buffer, theirs: Buffer, executor: Executor): boolean {
  if (ours.equals(theirs)) return true;
  const mine = readReply(ours)?.value;
  const real = readReply(theirs)?.value;
  if (mine === undefined || real === undefined) return false;
  switch (name) {
    case 'keys': {
      const a = sortedItems(mine);
      const b = sortedItems(real);
      return a !== null && b !== null && a.join() === b.join();
    }
    case 'scan': {
      if (mine.type !== 'array' || real.type !== 'array' || mine.items === null || real.items === null) return false;
      const [myCursor, myKeys] = mine.items;
      const [realCursor, realKeys] = real.items;
      const complete = (cursor: RespValue | undefined) =>
        cursor?.type === 'bulk' && cursor.bytes !== null && cursor.bytes.toString() === '0';
      if (!complete(myCursor) || !complete(realCursor)) return false;
      return sortedItems(myKeys!)?.join() === sortedItems(realKeys!)?.join();
    }
    case 'randomkey': {
      if (mine.type !== 'bulk' || real.type !== 'bulk' || mine.bytes === null || real.bytes === null) return false;
      const exists = executor.execute([Buffer.from('EXISTS'), mine.bytes]);
      return exists.kind === 'integer' && exists.value === 1;
    }
    case 'ttl':
    case 'expiretime':
    case 'pttl':
    case 'pexpiretime': {
      if (mine.type !== 'integer' || real.type !== 'integer') return false;
      if (mine.value < 0n || real.value < 0n) return false;
      const tolerance = name === 'ttl' || name === 'expiretime' ? 1n : 1000n;
      const difference = mine.value - real.value;
      return difference <= tolerance && -difference <= tolerance;
    }
    default:
      return false;
  }
}

/**
 * Runs the same commands on a real Redis and on quorumkv's command layer, comparing replies.
 * `protocol` is the RESP version both sides answer in: for 3, the Redis connection must have
 * been switched with HELLO 3 (see `resp3()`).
 */
export class Differential {
  readonly executor = new Executor(() => Date.now());

  constructor(
    private readonly redis: RedisClient,
    private readonly protocol: 2 | 3 = 2,
  ) {}

  /** A harness answering in RESP3, on a connection of its own that it switches with HELLO 3. */
  static async resp3(connection: RedisClient): Promise<Differential> {
    await connection.send([Buffer.from('HELLO'), Buffer.from('3')]);
    return new Differential(connection, 3);
  }

  /** Empties both sides. */
  async reset(): Promise<void> {
    await this.redis.send([Buffer.from('FLUSHALL')]);
    this.executor.keyspace.clear();
  }

  /** Runs one command on both; returns the mismatch, if any. */
  async run(words: readonly Word[]): Promise<Mismatch | null> {
    const args = words.map((word) => (typeof word === 'string' ? Buffer.from(word) : word));
    const theirs = await this.redis.send(args);
    const ours = encodeReply(this.executor.execute(args), this.protocol);
    const name = args[0]!.toString('latin1').toLowerCase();
    if (sameReply(name, ours, theirs, this.executor)) return null;
    return { command: describe(words), redis: show(theirs), quorumkv: show(ours) };
  }

  /** Runs a script from empty keyspaces; returns every mismatch. */
  async script(commands: readonly (readonly Word[])[]): Promise<Mismatch[]> {
    await this.reset();
    const mismatches: Mismatch[] = [];
    for (const command of commands) {
      const mismatch = await this.run(command);
      if (mismatch !== null) mismatches.push(mismatch);
    }
    return mismatches;
  }
}

/**
 * For a whole test file: a real redis-server and its connection (useRedis), and the harness over
 * them, made on first use. `differential()` throws, failing the test, when redis-server could not
 * start.
 */
export function useDifferential(): { redis: ReturnType<typeof useRedis>; differential: () => Differential } {
  const redis = useRedis();
  let created: Differential | undefined;
  return { redis, differential: () => (created ??= new Differential(redis.client())) };
}
