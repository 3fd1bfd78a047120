/** What the numbers were measured on, for the report. */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { redisServerVersion } from '../support/redis_server.js';
import type { Machine } from './report.js';

function firstLine(command: string, args: string[]): string | null {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.trim().split('\n')[0] ?? null) : null;
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' });
  const porcelain = status.status === 0 ? status.stdout : '';
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    // The binary the reference server is started from (QKV_REDIS_SERVER or PATH).
    redisServer: redisServerVersion(),
    redisBenchmark: firstLine('redis-benchmark', ['--version']),
    gitCommit: firstLine('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    gitDirty: porcelain.split('\n').filter((l) => l.trim() !== '').length,
  };
}

/** `uptime`'s load averages (the same numbers os.loadavg() reads from /proc/loadavg). */
export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = os.loadavg();
  return [one ?? 0, five ?? 0, fifteen ?? 0];
}

export function uptimeLine(): string {
  return firstLine('uptime', []) ?? `load average: ${loadAverage().map((v) => v.toFixed(2)).join(', ')}`;
}
