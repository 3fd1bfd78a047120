/**
 * The DR drill (`drill.ts`) against real 3- and 5-node clusters, with fewer keys than `npm run
 * drill`; every line of its table must pass. The node must be built: `npm run build`.
 */
import { describe, expect, it } from 'vitest';
import { formatTable, runDrill, zoneLayout } from './drill.js';

describe('DR drill', () => {
  it('kill -9 of the leader: RTO < 60 s, RPO = 0 by count and content, 100% of ops, fail-back lag 0', async () => {
    const log: string[] = [];
    const result = await runDrill({ keys: 500, ops: 1_000, log: (l) => log.push(l) });
    const table = formatTable(result);
    console.log(table);
    expect(result.lines.length).toBe(8);
    for (const line of result.lines) expect(line.pass, `${line.check}: ${line.measured}\n${table}\n${log.join('\n')}`).toBe(true);
    expect(result.error, log.join('\n')).toBeUndefined();
    expect(result.killed).toHaveLength(1);
    expect(result.pass).toBe(true);
  }, 60_000);

  it("5 nodes in two zones, kill -9 of 2 of the leader's zone's 3 (the leader among them): every line passes", async () => {
    const log: string[] = [];
    const result = await runDrill({ nodes: 5, keys: 500, ops: 1_000, log: (l) => log.push(l) });
    const table = formatTable(result);
    console.log(table);
    expect(result.nodes).toBe(5);
    expect(result.killed).toHaveLength(2);
    for (const id of result.killed) expect(zoneLayout.primary as readonly string[]).toContain(id);
    expect(result.lines.length).toBe(8);
    for (const line of result.lines) expect(line.pass, `${line.check}: ${line.measured}\n${table}\n${log.join('\n')}`).toBe(true);
    expect(result.error, log.join('\n')).toBeUndefined();
    expect(result.pass).toBe(true);
  }, 90_000);
});
