import { checkArity, lookupCommandByArg } from '../../../src/commands/command_table.js';
import { error, type Reply } from '../../../src/resp/reply.js';
import { Keyspace } from '../../../src/state/keyspace.js';

/**
 * What the gateway will do with one client command, in-process and without Raft: look the
 * command up, check its arity, then `prepare` + `apply` a write (at the same instant: the entry
 * is stamped with the clock that prepared it) or `validate` + `read` a read.
 */
export class Executor {
  readonly keyspace = new Keyspace();

  constructor(
    private readonly clock: () => number,
    private readonly random: () => number = seededRandom(1),
  ) {}

  execute(args: readonly Buffer[]): Reply {
    const spec = lookupCommandByArg(args[0]!);
    if (spec === undefined) return error(`ERR unknown command '${args[0]!.toString('latin1')}'`);
    const arityError = checkArity(spec, args.length);
    if (arityError !== null) return arityError;
    const nowMs = this.clock();
    switch (spec.kind) {
      case 'write': {
        const prepared = spec.prepare(args, nowMs);
        if (!Array.isArray(prepared)) return prepared as Reply;
        return spec.apply(this.keyspace, prepared as readonly Buffer[], nowMs);
      }
      case 'read': {
        const invalid = spec.validate(args);
        if (invalid !== null) return invalid;
        return spec.read(this.keyspace, args, nowMs, this.random);
      }
      default:
        return error('ERR connection commands are not executed here');
    }
  }

  run(...words: (string | Buffer)[]): Reply {
    return this.execute(words.map((word) => (typeof word === 'string' ? Buffer.from(word) : word)));
  }
}

/** mulberry32 as a () => [0, 1) source. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}
