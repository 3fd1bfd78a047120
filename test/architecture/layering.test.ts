/**
 * The layering of docs/design.md ("Modules"), enforced: which folder of src/ may import which.
 * Every arrow goes one way down the command path; a module that needs something from further up
 * gets it injected. A new import that breaks the table fails here, naming the file and the import.
 *
 * The table is also read out of docs/design.md and compared with the one below, so the document
 * and the rule cannot drift apart.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

/** Folder of src/ → the folders it may import (itself always allowed). */
const mayImport: Readonly<Record<string, readonly string[]>> = {
  util: [],
  config: ['util'],
  raft: ['util'],
  resp: ['util'],
  storage: ['util', 'raft'],
  state: ['util', 'resp', 'storage'],
  commands: ['util', 'resp', 'state'],
  transport: ['util', 'raft', 'resp', 'storage'],
  observability: ['util'],
  admin: ['util', 'storage', 'transport'],
  cluster: ['util', 'raft', 'resp', 'state'],
  node: ['util', 'config', 'raft', 'resp', 'storage', 'state', 'commands', 'transport', 'observability', 'admin', 'cluster'],
  cli: ['util', 'config', 'raft', 'resp', 'storage', 'state', 'commands', 'transport', 'observability', 'admin', 'cluster', 'node'],
};

/**
 * Node built-ins and packages a folder may not import: the core does no I/O and logs through an
 * injected interface; the state machine is deterministic and touches no file, socket or clock
 * module.
 */
const forbiddenExternal: Readonly<Record<string, RegExp>> = {
  raft: /^(node:|pino|@grpc|level)|^(fs|net|dgram|child_process|os|timers|perf_hooks|crypto)$/,
  state: /^node:(fs|net|dgram|child_process|os|timers|perf_hooks|http|https|tls|worker_threads)|^(pino|@grpc|level)/,
  util: /^(pino|@grpc|level)/,
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports, statically or dynamically (comments stripped). */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const specifiers: string[] = [];
  const patterns = [/\b(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) specifiers.push(m[1]!);
  return specifiers;
}

interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly why: string;
}

export function violations(files: readonly { path: string; text: string }[]): Violation[] {
  const found: Violation[] = [];
  for (const { path, text } of files) {
    const from = relative(src, path).split('/')[0]!;
    const allowed = mayImport[from];
    const file = relative(root, path);
    if (allowed === undefined) {
      found.push({ file, specifier: '', why: `src/${from}/ is not in the layering table (docs/design.md)` });
      continue;
    }
    for (const specifier of importsOf(text)) {
      if (specifier.startsWith('.')) {
        const target = relative(src, resolve(dirname(path), specifier));
        if (target.startsWith('..')) {
          found.push({ file, specifier, why: 'reaches outside src/' });
          continue;
        }
        const to = target.split('/')[0]!;
        if (to !== from && !allowed.includes(to)) found.push({ file, specifier, why: `src/${from}/ may not import src/${to}/` });
      } else if (forbiddenExternal[from]?.test(specifier)) {
        found.push({ file, specifier, why: `src/${from}/ may not import ${specifier}` });
      }
    }
  }
  return found;
}

describe('layering', () => {
  it('every import in src/ follows the table', () => {
    const files = sourceFiles(src).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
    expect(files.length).toBeGreaterThan(50);
    const found = violations(files);
    expect(found.map((v) => `${v.file}: '${v.specifier}': ${v.why}`)).toEqual([]);
  });

  it('every folder of src/ is in the table, and the table has no acyclic-breaking entry', () => {
    const folders = readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory());
    expect(folders.filter((f) => mayImport[f] === undefined)).toEqual([]);
    // The allowed arrows form a DAG: a topological order exists.
    const order: string[] = [];
    const remaining = new Set(Object.keys(mayImport));
    while (remaining.size > 0) {
      const next = [...remaining].find((f) => mayImport[f]!.every((d) => order.includes(d)));
      expect(next, `a cycle among ${[...remaining].join(', ')}`).toBeDefined();
      order.push(next!);
      remaining.delete(next!);
    }
  });

  it('finds a backward arrow, an import of I/O in the core, and a dynamic import', () => {
    const at = (folder: string, name: string, text: string) => ({ path: join(src, folder, name), text });
    const found = violations([
      at('raft', 'a.ts', "import { x } from '../node/raft_group.js';"),
      at('raft', 'b.ts', "import { readFile } from 'node:fs';"),
      at('state', 'c.ts', "const m = await import('../commands/command_table.js');"),
      at('storage', 'd.ts', "export { y } from '../state/keyspace.js';"),
      at('node', 'e.ts', "// import { z } from '../cli/main.js';\nimport type { W } from '../state/keyspace.js';"),
    ]);
    expect(found.map((v) => `${v.file}: ${v.why}`)).toEqual([
      'src/raft/a.ts: src/raft/ may not import src/node/',
      'src/raft/b.ts: src/raft/ may not import node:fs',
      'src/state/c.ts: src/state/ may not import src/commands/',
      'src/storage/d.ts: src/storage/ may not import src/state/',
    ]);
  });

  it('is the table docs/design.md states', () => {
    const doc = readFileSync(join(root, 'docs', 'design.md'), 'utf8');
    const stated: Record<string, string[]> = {};
    for (const line of doc.split('\n')) {
      // | `src/raft/` | what it does | `util` | — the folder, its job, what it may import.
      const m = /^\|\s*`src\/([a-z]+)\/`\s*\|[^|]*\|([^|]*)\|\s*$/.exec(line);
      if (!m) continue;
      const deps = m[2]!.match(/`([a-z]+)`/g)?.map((d) => d.slice(1, -1)) ?? [];
      stated[m[1]!] = deps.sort();
    }
    const expected = Object.fromEntries(Object.entries(mayImport).map(([k, v]) => [k, [...v].sort()]));
    expect(stated).toEqual(expected);
  });
});
