/**
 * The router, with groups faked at their gateway: a stale route (the slot moved to another group
 * since the routing table was read) is refused by the old owner and sent again to the new one,
 * where it runs once; a pipeline keeps its order across groups; keys of two groups are refused
 * before anything runs; keyspace-wide commands are combined as Redis Cluster clients combine them.
 */
import { describe, expect, it } from 'vitest';
import { RoutingTable, type GroupRecord } from '../../src/cluster/meta_records.js';
import { lookupCommand } from '../../src/commands/command_table.js';
import type { ReadCommandSpec, WriteCommandSpec } from '../../src/commands/command_spec.js';
import { CommandRouter, crossSlotReply, type GroupEndpoint } from '../../src/node/command_router.js';
import { ClusterTopology } from '../../src/node/cluster_view.js';
import type { ClientState } from '../../src/commands/connection_context.js';
import { array, bulk, error, integer, ok, type Reply } from '../../src/resp/reply.js';
import { commandKeys, wrongGroupReply } from '../../src/state/command_keys.js';
import { keyHashSlot } from '../../src/state/hash_slot.js';
import type { SlotRange } from '../../src/state/slot_set.js';

const b = (s: string): Buffer => Buffer.from(s);
const spec = (name: string) => lookupCommand(name)! as ReadCommandSpec & WriteCommandSpec;

/** Every command any fake group ran, in the order they ran. */
const ran: string[] = [];

/** A group whose gateway runs commands against a plain map, refusing slots it does not own. */
class FakeGroup {
  /** Ranks a fake SCAN walks (keys k0 .. k59). */
  static readonly scanRanks = 60;
  readonly log: string[] = [];
  readonly data = new Map<string, string>();
  constructor(
    readonly id: string,
    public owned: (slot: number) => boolean,
  ) {}

  private runOne(args: readonly Buffer[]): Reply {
    const name = args[0]!.toString().toLowerCase();
    for (const key of commandKeys(args, spec(name))) {
      if (!this.owned(keyHashSlot(key))) return wrongGroupReply(keyHashSlot(key));
    }
    this.log.push(args.map((a) => a.toString()).join(' '));
    ran.push(`${this.id}: ${this.log[this.log.length - 1]}`);
    switch (name) {
      case 'set':
        this.data.set(args[1]!.toString(), args[2]!.toString());
        return ok;
      case 'get':
        return this.data.has(args[1]!.toString()) ? bulk(this.data.get(args[1]!.toString())!) : { kind: 'null' };
      case 'dbsize':
        return integer(this.data.size);
      case 'exists':
        return integer(this.data.has(args[1]!.toString()) ? 1 : 0);
      case 'scan': {
        // The cursor is a rank (k17 has rank 17): taking keys out never moves one still here,
        // as a real group's reverse-binary cursor keeps its place when its table shrinks.
        const from = Number(args[1]!.toString());
        const rank = (k: string): number => Number(k.slice(1));
        const keys = [...this.data.keys()].filter((k) => rank(k) >= from && rank(k) < from + 10).sort((x, y) => rank(x) - rank(y));
        const next = from + 10 >= FakeGroup.scanRanks ? 0 : from + 10;
        return array([bulk(String(next)), array(keys.map((k) => bulk(k)))]);
      }
      default:
        return ok;
    }
  }

  asReplica(): GroupEndpoint {
    const run = async (items: readonly { args: readonly Buffer[] }[]): Promise<Reply[]> => items.map((i) => this.runOne(i.args));
    return { groupId: this.id, serving: true, readRun: run, writeRun: run };
  }
}

function table(groups: readonly [string, SlotRange][]): RoutingTable {
  return RoutingTable.of(
    groups.map(([id, range]): GroupRecord => ({ id, voters: ['n1'], preferredLeader: '', slots: [range] })),
    [],
  );
}

function router(groups: FakeGroup[], tables: RoutingTable[]): { router: CommandRouter; refreshes: () => number } {
  let current = 0;
  let refreshes = 0;
  const replicas = new Map(groups.map((g) => [g.id, g.asReplica()]));
  const r = new CommandRouter({
    routing: () => tables[current]!,
    refreshRouting: () => {
      refreshes++;
      current = Math.min(current + 1, tables.length - 1);
    },
    endpoint: (id) => replicas.get(id),
    clock: () => Date.now(),
    random: () => 0,
    routeWaitMs: 1_000,
  });
  return { router: r, refreshes: () => refreshes };
}

const fooSlot = keyHashSlot(b('foo')); // 12182
const barSlot = keyHashSlot(b('bar')); // 5061

describe('CommandRouter', () => {
  it('sends a write the old owner refuses to the new owner, where it runs once', async () => {
    // foo's slot moved from g1 to g2; this node's table still says g1.
    const g1 = new FakeGroup('g1', (s) => s !== fooSlot);
    const g2 = new FakeGroup('g2', (s) => s === fooSlot);
    const stale = table([['g1', [0, 16383]]]);
    const fresh = RoutingTable.of(
      [
        { id: 'g1', voters: ['n1'], preferredLeader: '', slots: [[0, fooSlot - 1], [fooSlot + 1, 16383]] },
        { id: 'g2', voters: ['n1'], preferredLeader: '', slots: [[fooSlot, fooSlot]] },
      ],
      [],
    );
    const { router: r, refreshes } = router([g1, g2], [stale, fresh]);
    const replies = await r.writeRun([
      { spec: spec('set'), args: [b('set'), b('bar'), b('1')] },
      { spec: spec('set'), args: [b('set'), b('foo'), b('2')] },
    ]);
    expect(replies).toEqual([ok, ok]);
    expect(refreshes()).toBe(1);
    expect(g1.log).toEqual(['set bar 1']);
    expect(g2.log).toEqual(['set foo 2']);
    expect(await r.readRun([{ spec: spec('get'), args: [b('get'), b('foo')] }])).toEqual([bulk('2')]);
  });

  it('answers TRYAGAIN when no group takes the slot within the wait', async () => {
    const g1 = new FakeGroup('g1', () => false);
    const { router: r } = router([g1], [table([['g1', [0, 16383]]])]);
    const [reply] = await r.writeRun([{ spec: spec('set'), args: [b('set'), b('foo'), b('1')] }]);
    expect(reply).toMatchObject({ kind: 'error' });
    expect((reply as { message: string }).message).toMatch(/^TRYAGAIN /);
    expect(g1.log).toEqual([]);
  });

  it('keeps a pipeline in order across groups, and refuses keys of two groups before running anything', async () => {
    const g1 = new FakeGroup('g1', (s) => s < 8192);
    const g2 = new FakeGroup('g2', (s) => s >= 8192);
    const { router: r } = router([g1, g2], [table([['g1', [0, 8191]], ['g2', [8192, 16383]]])]);
    ran.length = 0;
    expect(barSlot).toBeLessThan(8192);
    expect(fooSlot).toBeGreaterThanOrEqual(8192);
    const replies = await r.writeRun([
      { spec: spec('set'), args: [b('set'), b('bar'), b('1')] },
      { spec: spec('set'), args: [b('set'), b('foo'), b('1')] },
      { spec: spec('mset'), args: [b('mset'), b('bar'), b('2'), b('foo'), b('2')] },
      { spec: spec('set'), args: [b('set'), b('bar'), b('3')] },
    ]);
    expect(replies).toEqual([ok, ok, crossSlotReply, ok]);
    expect(ran.slice(-3)).toEqual(['g1: set bar 1', 'g2: set foo 1', 'g1: set bar 3']);
    expect(g1.log).toEqual(['set bar 1', 'set bar 3']);
    expect(g2.log).toEqual(['set foo 1']);
  });

  it('sums DBSIZE over every group', async () => {
    const g1 = new FakeGroup('g1', (s) => s < 8192);
    const g2 = new FakeGroup('g2', (s) => s >= 8192);
    const { router: r } = router([g1, g2], [table([['g1', [0, 8191]], ['g2', [8192, 16383]]])]);
    await r.writeRun([
      { spec: spec('set'), args: [b('set'), b('bar'), b('1')] },
      { spec: spec('set'), args: [b('set'), b('foo'), b('1')] },
      { spec: spec('set'), args: [b('set'), b('{foo}x'), b('1')] },
    ]);
    expect(await r.readRun([{ spec: spec('dbsize'), args: [b('dbsize')] }])).toEqual([integer(3n)]);
  });

  /**
   * A full SCAN from cursor 0 to 0 through the router, with `between(step)` run after each call;
   * the keys returned, or the first error.
   */
  async function fullScan(r: CommandRouter, between: (step: number) => void = () => {}): Promise<{ keys: Set<string>; error?: string }> {
    const keys = new Set<string>();
    let cursor = '0';
    for (let step = 0; ; step++) {
      const [reply] = await r.readRun([{ spec: spec('scan'), args: [b('scan'), b(cursor)] }]);
      if (reply!.kind === 'error') return { keys, error: reply!.message };
      const [next, found] = (reply as unknown as { items: [{ value: Buffer }, { items: { value: Buffer }[] }] }).items;
      for (const k of found.items) keys.add(k.value.toString());
      cursor = next.value.toString();
      between(step);
      if (cursor === '0') return { keys };
    }
  }

  /** g1 holds k0..k59; after the walk's first call it splits at slot 8192, its keys from there going to g2. */
  function splittingGroups(): { g1: FakeGroup; g2: FakeGroup; names: string[]; split: () => void } {
    const names = Array.from({ length: FakeGroup.scanRanks }, (_, i) => `k${i}`);
    const g1 = new FakeGroup('g1', () => true);
    const g2 = new FakeGroup('g2', () => false);
    for (const n of names) g1.data.set(n, 'v');
    const split = (): void => {
      for (const n of names) {
        if (keyHashSlot(b(n)) >= 8192) {
          g1.data.delete(n);
          g2.data.set(n, 'v');
        }
      }
      g1.owned = (s) => s < 8192;
      g2.owned = (s) => s >= 8192;
    };
    return { g1, g2, names, split };
  }

  it('SCAN returns the keys a group gave away mid-SCAN, though the routing table learns of the new group only later', async () => {
    const { g1, g2, names, split } = splittingGroups();
    const moved = names.filter((n) => keyHashSlot(b(n)) >= 8192 && Number(n.slice(1)) >= 10);
    expect(moved.length).toBeGreaterThan(10);
    // The table as the meta group gives it: stale (g1 has every slot), then g1's record rewritten
    // before g2's exists (slots 8192.. served by nobody), then both.
    const stale = table([['g1', [0, 16383]]]);
    const parentOnly = table([['g1', [0, 8191]]]);
    const fresh = table([['g1', [0, 8191]], ['g2', [8192, 16383]]]);
    const { router: r, refreshes } = router([g1, g2], [stale, stale, parentOnly, fresh]);
    const result = await fullScan(r, (step) => step === 0 && split());
    expect(result.error).toBeUndefined();
    // Before the fix, the walk ended after g1 with the stale table: every moved key past the first call was lost.
    expect(names.filter((n) => !result.keys.has(n))).toEqual([]);
    expect(refreshes()).toBe(3);
  });

  it('SCAN answers TRYAGAIN while the table does not show where the slots went, and the same cursor goes on after', async () => {
    const { g1, g2, names, split } = splittingGroups();
    const stale = table([['g1', [0, 16383]]]);
    const fresh = table([['g1', [0, 8191]], ['g2', [8192, 16383]]]);
    let current = stale;
    const replicas = new Map([g1, g2].map((g) => [g.id, g.asReplica()]));
    const r = new CommandRouter({ routing: () => current, refreshRouting: () => {}, endpoint: (id) => replicas.get(id), clock: () => Date.now(), random: () => 0, routeWaitMs: 200 });
    split();
    // g1's walk from its last position: its end is where the router notices the split.
    const last = String(((BigInt(FakeGroup.scanRanks - 10) << 16n) | 1n));
    const [refused] = await r.readRun([{ spec: spec('scan'), args: [b('scan'), b(last)] }]);
    expect((refused as { message: string }).message).toMatch(/^TRYAGAIN group g1 gave slots away/);
    current = fresh;
    const [reply] = await r.readRun([{ spec: spec('scan'), args: [b('scan'), b(last)] }]);
    const [next] = (reply as unknown as { items: { value: Buffer }[] }).items;
    expect(next!.value.toString()).toBe('2'); // on to g2, from its start
    expect(names.length).toBe(60);
  });
});

/**
 * Cluster mode: the router answers as a Redis Cluster master, with the real ClusterTopology
 * deciding redirects from what this node (n1) knows of each group's leader.
 */
describe('CommandRouter in cluster mode', () => {
  const nodes = [1, 2, 3].map((n) => ({ id: `n${n}`, grpc: `127.0.0.1:${7000 + n}`, resp: `127.0.0.1:${6000 + n}` }));
  // g1 (0-8191) is led by n1, this node; g2 (8192-16383) by n2. Both have a replica here.
  const routing = RoutingTable.of(
    [
      { id: 'g1', voters: ['n1', 'n2', 'n3'], preferredLeader: 'n1', slots: [[0, 8191]] },
      { id: 'g2', voters: ['n1', 'n2', 'n3'], preferredLeader: 'n2', slots: [[8192, 16383]] },
    ],
    nodes,
  );
  const leaders: Record<string, string> = { g1: 'n1', g2: 'n2' };
  const topology = new ClusterTopology({ id: 'n1', host: '127.0.0.1', respPort: 6001, grpcPort: 7001 }, routing, (g) => ({
    hosted: true,
    leader: leaders[g.id]!,
    lastLeader: leaders[g.id]!,
    voters: g.voters,
    term: 1,
    appliedIndex: 1,
  }));

  function clusterRouter(): { router: CommandRouter; g1: FakeGroup; g2: FakeGroup } {
    const g1 = new FakeGroup('g1', (s) => s < 8192);
    const g2 = new FakeGroup('g2', (s) => s >= 8192);
    const replicas = new Map([g1, g2].map((g) => [g.id, g.asReplica()]));
    const r = new CommandRouter({
      routing: () => routing,
      refreshRouting: () => {},
      endpoint: (id) => replicas.get(id),
      clock: () => Date.now(),
      random: () => 0,
      routeWaitMs: 1_000,
      cluster: {
        route: (group, readOnlyRead) => topology.route(group, readOnlyRead),
        ledGroups: () => routing.groups().filter((g) => leaders[g.id] === 'n1'),
      },
    });
    return { router: r, g1, g2 };
  }

  const client = (readOnly: boolean) => ({ readOnly }) as ClientState;
  const set = (key: string, value: string) => ({ spec: spec('set'), args: [b('set'), b(key), b(value)] });
  const get = (key: string) => ({ spec: spec('get'), args: [b('get'), b(key)] });

  it('runs a key of a group it leads, and redirects a key of a group n2 leads to n2, which never sees it', async () => {
    const { router: r, g1, g2 } = clusterRouter();
    expect(await r.writeRun([set('bar', '1'), set('foo', '1')], client(false))).toEqual([ok, error(`MOVED ${fooSlot} 127.0.0.1:6002`)]);
    expect(g1.log).toEqual(['set bar 1']);
    expect(g2.log).toEqual([]);
    expect(await r.readRun([get('foo')], client(false))).toEqual([error(`MOVED ${fooSlot} 127.0.0.1:6002`)]);
  });

  it('needs one slot, not one group, for a multi-key command', async () => {
    const { router: r, g1 } = clusterRouter();
    const other = ['a', 'b', 'c', 'd', 'e', 'x', 'y', 'z'].find((k) => keyHashSlot(b(k)) < 8192 && keyHashSlot(b(k)) !== barSlot)!;
    expect(await r.writeRun([{ spec: spec('mset'), args: [b('mset'), b('bar'), b('1'), b(other), b('2')] }], client(false))).toEqual([crossSlotReply]);
    expect(await r.writeRun([{ spec: spec('mset'), args: [b('mset'), b('{bar}1'), b('1'), b('{bar}2'), b('2')] }], client(false))).toEqual([ok]);
    expect(g1.log).toEqual(['mset {bar}1 1 {bar}2 2']);
  });

  it("serves a READONLY connection's reads of a followed group here, and still redirects its writes", async () => {
    const { router: r, g2 } = clusterRouter();
    const reader = client(true);
    expect(await r.readRun([get('foo')], reader)).toEqual([{ kind: 'null' }]);
    expect(g2.log).toEqual(['get foo']);
    expect(await r.writeRun([set('foo', '1')], reader)).toEqual([error(`MOVED ${fooSlot} 127.0.0.1:6002`)]);
    // READWRITE: the same connection is redirected again.
    reader.readOnly = false;
    expect(await r.readRun([get('foo')], reader)).toEqual([error(`MOVED ${fooSlot} 127.0.0.1:6002`)]);
  });

  it("checks a read's arguments after the redirect, as Redis Cluster does", async () => {
    const { router: r } = clusterRouter();
    const getrange = (key: string) => ({ spec: spec('getrange'), args: [b('getrange'), b(key), b('x'), b('1')] });
    expect(await r.readRun([getrange('foo')], client(false))).toEqual([error(`MOVED ${fooSlot} 127.0.0.1:6002`)]);
    expect(await r.readRun([getrange('bar')], client(false))).toEqual([error('ERR value is not an integer or out of range')]);
  });

  it('covers only the groups it leads with DBSIZE', async () => {
    const { router: r, g2 } = clusterRouter();
    await r.writeRun([set('bar', '1'), set('{bar}2', '1')], client(false));
    g2.data.set('foo', '1');
    expect(await r.readRun([{ spec: spec('dbsize'), args: [b('dbsize')] }], client(false))).toEqual([integer(2n)]);
  });
});
