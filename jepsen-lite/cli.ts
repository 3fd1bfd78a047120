/**
 * `npm run jepsen -- --workload W --nemesis N1,N2 --time SECONDS --seed N [--clients 6] [--schedule random|each]
 *   [--groups N] [--keys N] [--server-args="--snapshot-bytes 20000 ..."]`
 *
 * Exits 0 when the history is valid, 1 when it is not (or the checker could not decide), 2 on bad
 * flags; the verdict is the last line printed.
 */
import { parseArgs } from 'node:util';
import { run } from './runner.js';

async function main(): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        workload: { type: 'string', default: 'register' },
        nemesis: { type: 'string', default: '' },
        time: { type: 'string', default: '30' },
        seed: { type: 'string' },
        clients: { type: 'string', default: '6' },
        schedule: { type: 'string', default: 'random' },
        groups: { type: 'string', default: '1' },
        keys: { type: 'string' },
        'server-args': { type: 'string', default: '' },
      },
      strict: true,
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    console.error(`jepsen: ${(err as Error).message}`);
    return 2;
  }
  const time = Number(values.time);
  const clients = Number(values.clients);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed);
  if (!Number.isFinite(time) || time <= 0) return usage(`--time must be a positive number of seconds`);
  if (!Number.isInteger(clients) || clients < 1) return usage(`--clients must be a positive integer`);
  if (!Number.isInteger(seed)) return usage(`--seed must be an integer`);
  const groups = Number(values.groups);
  if (!Number.isInteger(groups) || groups < 1 || groups > 64) return usage(`--groups must be an integer from 1 to 64`);
  const keys = values.keys === undefined ? undefined : Number(values.keys);
  if (keys !== undefined && (!Number.isInteger(keys) || keys < 1)) return usage(`--keys must be a positive integer`);
  if (values.schedule !== 'random' && values.schedule !== 'each') return usage(`--schedule must be random or each`);
  try {
    const result = await run({
      workload: values.workload!,
      nemeses: values.nemesis!.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      timeSeconds: time,
      seed,
      clients,
      groups,
      ...(keys !== undefined ? { keys } : {}),
      schedule: values.schedule,
      serverArgs: values['server-args']!.split(/\s+/).filter((a) => a !== ''),
    });
    console.log(result.verdict);
    return result.valid === true ? 0 : 1;
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (/^unknown (workload|nemesis)|not implemented/.test(text)) return usage(text);
    console.error(err);
    console.log(`jepsen: ERROR — ${text.split('\n')[0]}`);
    return 1;
  }
}

function usage(reason: string): number {
  console.error(`jepsen: ${reason}`);
  console.log(`jepsen: ERROR — ${reason}`);
  return 2;
}

process.exitCode = await main();
