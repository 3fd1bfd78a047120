import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

/**
 * `quorumkv dev`: a local cluster for development. Spawns N `server` processes (node i is n<i>,
 * ports base+i-1, data in <data-dir>/n<i>), prints where to connect, and stops them all on
 * SIGINT/SIGTERM. `npm start` runs it with the defaults. `--cluster-mode` is passed on to every
 * node, so that Redis Cluster clients (`redis-cli -c`, ioredis's Cluster) can be tried locally.
 */
export async function runDev(argv: readonly string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        nodes: { type: 'string', default: '3' },
        'resp-port': { type: 'string', default: '6379' },
        'grpc-port': { type: 'string', default: '7379' },
        'data-dir': { type: 'string', default: './data' },
        host: { type: 'string', default: '127.0.0.1' },
        groups: { type: 'string', default: '3' },
        'cluster-mode': { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`quorumkv dev: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  const nodes = Number(values.nodes);
  const groups = Number(values.groups);
  if (!Number.isInteger(groups) || groups < 1 || groups > 1024) return usage('--groups must be 1 to 1024');
  const respBase = Number(values['resp-port']);
  const grpcBase = Number(values['grpc-port']);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) return usage('--nodes must be 1 to 9');
  if (!Number.isInteger(respBase) || respBase < 1 || respBase + nodes > 65536) return usage('bad --resp-port');
  if (!Number.isInteger(grpcBase) || grpcBase < 1 || grpcBase + nodes > 65536) return usage('bad --grpc-port');
  const ranges = [respBase, grpcBase].map((b) => [b, b + nodes - 1]);
  if (ranges[0][0] <= ranges[1][1] && ranges[1][0] <= ranges[0][1]) return usage('--resp-port and --grpc-port ranges overlap');

  const host = values.host!;
  const dataDir = resolve(values['data-dir']!);
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const peers = ids.map((id, i) => `${id}=${host}:${grpcBase + i}`).join(',');
  const bin = fileURLToPath(new URL('../../../bin/quorumkv.js', import.meta.url));
  const children = new Map<string, ChildProcess>();
  let stopping = false;

  for (const [i, id] of ids.entries()) {
    const args = [
      bin,
      'server',
      '--id', id,
      '--host', host,
      '--resp-port', String(respBase + i),
      '--grpc-port', String(grpcBase + i),
      '--data-dir', `${dataDir}/${id}`,
      '--peers', peers,
      '--groups', String(groups),
      ...(values['cluster-mode'] ? ['--cluster-mode'] : []),
      '--pretty',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    children.set(id, child);
    child.on('exit', (code, signal) => {
      children.delete(id);
      if (!stopping) process.stderr.write(`quorumkv dev: ${id} exited (${signal ?? `code ${code}`})\n`);
      if (children.size === 0 && stopping) process.exit(0);
    });
  }
  process.stdout.write(
    `quorumkv dev: ${nodes} nodes, data in ${dataDir}\n` +
      ids.map((id, i) => `  ${id}: redis-cli -h ${host} -p ${respBase + i}    admin: quorumkv admin --addr ${host}:${grpcBase + i} status\n`).join('') +
      'Ctrl-C stops them all.\n',
  );
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (children.size === 0) process.exit(0);
    for (const child of children.values()) child.kill('SIGTERM');
    // A child that does not stop in time is killed: dev must never leave processes behind.
    setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, 10_000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return new Promise<number>(() => {});
}

function usage(reason: string): number {
  process.stderr.write(`quorumkv dev: ${reason}\n`);
  return 2;
}
