/**
 * Runs every script in test/raft/scenarios/testdata and compares its output with the output saved
 * in the script (format: scenarios/interpreter.ts). `REWRITE=1 npx vitest run
 * test/raft/scenarios.test.ts` saves the actual output instead; review the diff, it is the
 * assertion.
 *
 * The property each scenario is about is also asserted here, on the interpreter's history, so
 * that a wrongly rewritten golden file cannot hide a regression.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/raft/index.js';
import { type ScenarioInterpreter, runScript } from './scenarios/interpreter.js';

const dir = fileURLToPath(new URL('./scenarios/testdata/', import.meta.url));
const rewrite = process.env.REWRITE === '1';

/** Per-scenario checks of the property the scenario demonstrates. */
const properties: Record<string, (s: ScenarioInterpreter) => void> = {};

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

describe('raft scenarios (testdata/*.txt)', () => {
  it('every property check names an existing scenario', () => {
    const names = new Set(files.map((f) => f.slice(0, -'.txt'.length)));
    for (const name of Object.keys(properties)) expect(names.has(name), name).toBe(true);
  });

  for (const file of files) {
    const name = file.slice(0, -'.txt'.length);
    it(name, () => {
      const path = `${dir}${file}`;
      const text = readFileSync(path, 'utf8');
      const { rendered, interpreter } = runScript(text);
      if (rewrite) {
        if (rendered !== text) writeFileSync(path, rendered);
      } else {
        expect(rendered).toBe(text);
      }
      properties[name]?.(interpreter);
    });
  }
});

export { MessageType };
