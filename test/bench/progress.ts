import { loadAverage } from './machine.js';

/** One progress line on stderr, with the time and the 1-minute load average. */
export function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} [load ${loadAverage()[0].toFixed(2)}] ${line}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
