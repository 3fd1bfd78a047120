/**
 * Starts the Node load generator (load_generator.ts, compiled) as its own process, so that its
 * CPU is not the benchmark's, and reads the one JSON line it prints.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Workload } from './bench_plan.js';
import type { LoadResult } from './load_result.js';
import { trackChild } from './children.js';

export interface LoadGeneratorOptions {
  readonly port: number;
  readonly workload: Workload;
  readonly clients: number;
  readonly pipeline: number;
  readonly valueBytes: number;
  /** Random keys are `key:<12 digits>` below this (counters `counter:<12 digits>`). */
  readonly keyspace: number;
  /** Measured seconds, after `warmupSeconds` that are not recorded. */
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly seed: number;
}

export interface FillOptions {
  readonly port: number;
  /** Writes `key:<12 digits>` for every i below `keys`, each key once. */
  readonly keys: number;
  readonly valueBytes: number;
  readonly clients: number;
  readonly pipeline: number;
}

export type GeneratorRequest = { readonly mode: 'load'; readonly options: LoadGeneratorOptions } | { readonly mode: 'fill'; readonly options: FillOptions };

export interface FillResult {
  readonly keys: number;
  readonly seconds: number;
  readonly errors: number;
  readonly firstError?: string;
}

const programPath = join(import.meta.dirname, 'load_generator.js');

export function runNodeLoad(options: LoadGeneratorOptions): Promise<LoadResult> {
  return runJsonChild<LoadResult>(programPath, { mode: 'load', options });
}

export function fillKeys(options: FillOptions, onProgress?: (line: string) => void): Promise<FillResult> {
  return runJsonChild<FillResult>(programPath, { mode: 'fill', options }, onProgress);
}

/**
 * Runs a compiled load program (`program`, a path beside this file's) as its own process with
 * `request` as its one argument, and reads the one JSON line it prints last.
 */
export function runJsonChild<T>(program: string, request: unknown, onProgress?: (line: string) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [program, JSON.stringify(request)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const untrack = trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      if (onProgress) for (const line of text.split('\n')) if (line.trim()) onProgress(line.trim());
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      untrack();
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`${program} exited ${code ?? signal}: ${stderr.slice(-1000)}`));
        return;
      }
      resolve(JSON.parse(last) as T);
    });
  });
}
