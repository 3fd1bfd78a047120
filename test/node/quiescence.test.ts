/**
 * Quiet groups and node liveness, deterministically: in-process nodes, each hosting a replica of
 * several groups (RaftGroups over MemoryLogs, one LocalNetwork per group), driven the way the
 * host's ticker drives them (NodeLiveness + Quiescence), with each up node's liveness beat
 * delivered to every other up node once per tick. Time is tick() only; bounds are in ticks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, makeMessage, type Message } from '../../src/raft/index.js';
import { NodeLiveness } from '../../src/node/node_liveness.js';
import { Quiescence } from '../../src/node/quiescence.js';
import { RaftGroup } from '../../src/node/raft_group.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import { SeededRandom } from '../../src/util/random.js';
import { turn } from './support.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const electionTicks = 10;
const seed = process.env.QKV_SEED ? Number(process.env.QKV_SEED) : Math.floor(Math.random() * 0x7fffffff);

interface Replica {
  readonly group: RaftGroup;
  readonly applied: string[];
}

class TestNode {
  readonly replicas = new Map<string, Replica>();
  liveness: NodeLiveness;
  quiescence: Quiescence;
  up = true;
  incarnation = 1;

  constructor(readonly id: string) {
    this.liveness = new NodeLiveness(id, electionTicks);
    this.quiescence = new Quiescence(this.liveness, true);
  }

  groups(): RaftGroup[] {
    return [...this.replicas.values()].map((r) => r.group);
  }
}

/** Nodes n1..nN each hosting a replica of every group g1..gG, all voters. */
class World {
  readonly nodes = new Map<string, TestNode>();
  readonly networks = new Map<string, LocalNetwork>();

  static async start(nodeCount: number, groupCount: number): Promise<World> {
    const w = new World();
    const ids = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
    for (const id of ids) w.nodes.set(id, new TestNode(id));
    for (let g = 1; g <= groupCount; g++) {
      const groupId = `g${g}`;
      const network = new LocalNetwork();
      w.networks.set(groupId, network);
      for (const [i, id] of ids.entries()) {
        const applied: string[] = [];
        const group = await RaftGroup.open({
          groupId,
          nodeId: id,
          log: new MemoryLog(groupId),
          stateMachine: {
            apply: (_index, payload) => {
              applied.push(dec.decode(payload));
              return null;
            },
            applyMemberChange: () => {},
          },
          transport: network.transportFor(id),
          bootstrapVoters: ids,
          random: new SeededRandom(seed + g * 101 + i),
          raft: { electionTick: electionTicks, heartbeatTick: 1 },
        });
        // As NodeHost.deliver does: the node's quiescence sees each message before the group does.
        const node = w.nodes.get(id)!;
        network.register(id, {
          step: (m) => {
            node.quiescence.beforeStep(group, m);
            group.step(m);
          },
        });
        node.replicas.set(groupId, { group, applied });
      }
    }
    return w;
  }

  node(id: string): TestNode {
    return this.nodes.get(id)!;
  }

  replica(nodeId: string, groupId: string): Replica {
    return this.node(nodeId).replicas.get(groupId)!;
  }

  upNodes(): TestNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  /** Raft messages delivered so far, every group. */
  delivered(): number {
    let n = 0;
    for (const net of this.networks.values()) n += net.delivered;
    return n;
  }

  /** One tick of every up node's ticker (beats first, as the host sends them), then the loops run. */
  async tick(): Promise<void> {
    const up = this.upNodes();
    for (const from of up) for (const to of up) if (to !== from && !this.cut.has(from.id) && !this.cut.has(to.id)) to.liveness.heard(from.id, String(from.incarnation));
    for (const n of up) n.quiescence.tick(n.groups());
    for (let i = 0; i < 5; i++) await turn();
  }

  /** Ticks until `done`, returning the ticks it took; throws past `maxTicks`. */
  async tickUntil(what: string, done: () => boolean, maxTicks: number): Promise<number> {
    for (let t = 0; t <= maxTicks; t++) {
      if (done()) return t;
      await this.tick();
    }
    throw new Error(`${what}: not within ${maxTicks} ticks (seed ${seed})`);
  }

  /** Awaits `p` while ticking, at most `maxTicks` ticks. */
  async settle<T>(what: string, p: Promise<T>, maxTicks: number): Promise<T> {
    let done = false;
    const tracked = p.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await this.tickUntil(what, () => done, maxTicks);
    return tracked;
  }

  leaderOf(groupId: string): TestNode | undefined {
    return this.upNodes().find((n) => n.replicas.get(groupId)!.group.isLeader() && !this.cut.has(n.id));
  }

  allQuiet(nodes: readonly TestNode[] = this.upNodes()): boolean {
    return nodes.every((n) => n.groups().every((g) => g.quiet));
  }

  readonly cut = new Set<string>();

  /** The node's process is gone: no ticks, no beats, no messages either way. */
  kill(id: string): void {
    const n = this.node(id);
    n.up = false;
    for (const net of this.networks.values()) net.isolate(id);
  }

  /** The node runs on but nobody reaches it, nor it anybody (its beats are lost too). */
  partition(id: string): void {
    this.cut.add(id);
    for (const net of this.networks.values()) net.isolate(id);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes.values()) for (const g of n.groups()) await g.stop();
  }
}

let world: World | null = null;
afterEach(async () => {
  await world?.stop();
  world = null;
});

/** A world of 3 nodes and 4 groups, every group led, one write committed in each, then idle until quiet. */
async function quietWorld(): Promise<World> {
  console.log(`quiescence test seed ${seed} (QKV_SEED=${seed} replays it)`);
  const w = await World.start(3, 4);
  world = w;
  await w.tickUntil('a leader for every group', () => [...w.networks.keys()].every((g) => w.leaderOf(g) !== undefined), 200);
  for (const g of w.networks.keys()) await w.settle(`the first write of ${g}`, w.leaderOf(g)!.replicas.get(g)!.group.propose(enc.encode(`${g}:first`)), 50);
  // Idle and caught up, every group goes quiet within a few ticks: the followers' last
  // acknowledgements and heartbeat answers, then the leader's quiesce heartbeat.
  await w.tickUntil('every replica quiet', () => w.allQuiet(), 10);
  return w;
}

describe('quiet groups', () => {
  it('go quiet when idle and then send no Raft message at all, however long they idle', async () => {
    const w = await quietWorld();
    const before = w.delivered();
    for (let t = 0; t < 200; t++) await w.tick();
    expect(w.delivered() - before).toBe(0);
    expect(w.allQuiet()).toBe(true);
    // Nobody timed out meanwhile: the same leaders lead the same terms.
    for (const g of w.networks.keys()) expect(w.leaderOf(g)).toBeDefined();
  });

  it('wake on a write (proposed on a follower), apply it everywhere, and go quiet again', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g2')!;
    const follower = w.upNodes().find((n) => n !== leader)!;
    const term = leader.replicas.get('g2')!.group.term();
    await w.settle('the write', follower.replicas.get('g2')!.group.propose(enc.encode('g2:woken')), 5);
    await w.tickUntil('the write applied on every replica', () => w.upNodes().every((n) => n.replicas.get('g2')!.applied.includes('g2:woken')), 5);
    expect(leader.replicas.get('g2')!.group.isLeader()).toBe(true);
    expect(leader.replicas.get('g2')!.group.term()).toBe(term);
    // Only g2 woke: the other groups stayed quiet throughout.
    for (const g of ['g1', 'g3', 'g4']) expect(w.upNodes().every((n) => n.replicas.get(g)!.group.quiet)).toBe(true);
    await w.tickUntil('quiet again', () => w.allQuiet(), 10);
  });

  it('wake on a read (asked on a follower), which still takes a quorum round', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g3')!;
    const follower = w.upNodes().find((n) => n !== leader)!;
    const before = w.networks.get('g3')!.delivered;
    await w.settle('the read barrier', follower.replicas.get('g3')!.group.readBarrier(), 5);
    // The follower's MsgReadIndex, the leader's heartbeats with the round's context, their answers
    // and the leader's MsgReadIndexResp: a read is never answered from a quiet replica's state alone.
    expect(w.networks.get('g3')!.delivered - before).toBeGreaterThanOrEqual(4);
    await w.tickUntil('quiet again', () => w.allQuiet(), 10);
  });

  it('elect a new leader within a bounded number of ticks once the leader node stops answering liveness, and lose no write', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g1')!;
    const led = [...w.networks.keys()].filter((g) => w.leaderOf(g) === leader);
    const oldTerm = leader.replicas.get('g1')!.group.term();
    w.kill(leader.id);
    const survivors = w.upNodes();
    // Detection takes an election timeout (no beat for electionTicks ticks), the campaign a
    // random 1 to electionTicks more, the election itself the turns of one tick. When both
    // survivors time out in the same tick the vote splits (as in any Raft election, a chance of
    // 1 in electionTicks) and they try again within two election timeouts: six such rounds bound
    // it but for a chance of about one in a million. Without node liveness it never happens:
    // quiet followers have no election timer.
    const ticks = await w.tickUntil(
      `new leaders for ${led.join(',')}`,
      () => led.every((g) => survivors.some((n) => n.replicas.get(g)!.group.isLeader())),
      electionTicks + 1 + 6 * 2 * electionTicks,
    );
    console.log(`quiescence test: groups ${led.join(",")} of ${leader.id} re-elected ${ticks} ticks after it died, terms ${led.map((g) => w.leaderOf(g)!.replicas.get(g)!.group.term()).join(",")} after ${oldTerm} (seed ${seed})`);
    for (const g of led) {
      const now = w.leaderOf(g)!;
      expect(now.replicas.get(g)!.group.term()).toBeGreaterThan(oldTerm - 1);
      // The write acknowledged before the kill is there, and a new one commits.
      expect(now.replicas.get(g)!.applied).toContain(`${g}:first`);
      await w.settle(`a write to ${g} after the failover`, now.replicas.get(g)!.group.propose(enc.encode(`${g}:after`)), 10);
    }
    // Groups led elsewhere kept their leaders: their followers on the dead node do not matter.
    for (const g of [...w.networks.keys()].filter((x) => !led.includes(x))) expect(w.leaderOf(g)).toBeDefined();
  });

  it('keep a quiet leader that is cut off from serving reads, and depose it (CheckQuorum) once it wakes', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g4')!;
    const oldGroup = leader.replicas.get('g4')!.group;
    w.partition(leader.id);
    // A read on the cut-off leader wakes it and starts a quorum round that nobody can answer.
    let readOutcome: string | null = null;
    oldGroup.readBarrier().then(
      () => (readOutcome = 'served'),
      (err: Error) => (readOutcome = `failed: ${err.message}`),
    );
    const others = w.upNodes().filter((n) => n !== leader);
    await w.tickUntil('a new leader of g4 among the others', () => others.some((n) => n.replicas.get('g4')!.group.isLeader()), electionTicks + 1 + 6 * 2 * electionTicks);
    await w.tickUntil('the old leader deposed', () => !oldGroup.isLeader(), 3 * electionTicks);
    expect(readOutcome).not.toBe('served');
    // Its other groups too: each wakes once its members look down (an election timeout), and
    // CheckQuorum deposes it an election timeout or two later.
    await w.tickUntil('every group of the cut-off node deposed', () => leader.groups().every((g) => !g.isLeader()), 4 * electionTicks);
    expect(readOutcome).not.toBe('served');
  });

  it('leave a member that looks down out, and wake for it when it comes back', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g1')!;
    const follower = w.upNodes().find((n) => n !== leader)!;
    w.kill(follower.id);
    // Its groups wake (a member looks down), and go quiet again without it: the others are a
    // majority. (The groups it led elect new leaders first: the bound of the test above, plus a few.)
    await w.tickUntil(
      'quiet without it',
      () => w.allQuiet() && w.upNodes().every((n) => n.groups().every((g) => !g.isLeader() || g.raw.quietExcluded().includes(follower.id))),
      electionTicks + 1 + 6 * 2 * electionTicks + 10,
    );
    // Writes go on meanwhile; the member missed them.
    await w.settle('a write while it is down', leader.replicas.get('g1')!.group.propose(enc.encode('g1:while-down')), 5);
    await w.tickUntil('quiet again', () => w.allQuiet(), 10);
    // It comes back (a new incarnation): the leaders wake, catch it up, and the group goes quiet with it.
    follower.up = true;
    follower.incarnation++;
    for (const net of w.networks.values()) net.rejoin(follower.id);
    await w.tickUntil('it caught up', () => follower.replicas.get('g1')!.applied.includes('g1:while-down'), 10);
    await w.tickUntil('quiet with everyone', () => w.allQuiet() && w.upNodes().every((n) => n.groups().every((g) => g.raw.quietExcluded().length === 0)), 20);
  });
});

describe('a quiet follower asked for its vote', () => {
  /** A PreVote from `from` to `to` for `g`, as a candidate with the whole log would send it. */
  function preVote(w: World, g: string, from: TestNode, to: TestNode): Message {
    const st = from.replicas.get(g)!.group.raw.basicStatus();
    return makeMessage({ type: MessageType.MsgPreVote, from: from.id, to: to.id, term: st.hardState.term + 1, index: st.lastIndex, logTerm: from.replicas.get(g)!.group.termOf(st.lastIndex) });
  }

  /** What `to`'s replica of `g` answers `m` (its answers to `from` captured instead of delivered). */
  async function answers(w: World, g: string, from: TestNode, to: TestNode, m: Message): Promise<Message[]> {
    const net = w.networks.get(g)!;
    const got: Message[] = [];
    net.register(from.id, { step: (x) => got.push(x) });
    to.quiescence.beforeStep(to.replicas.get(g)!.group, m);
    to.replicas.get(g)!.group.step(m);
    for (let i = 0; i < 5; i++) await turn();
    net.register(from.id, from.replicas.get(g)!.group);
    return got;
  }

  it('grants it once its own host has not heard the leader for half an election timeout', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g1')!;
    const [asker, asked] = w.upNodes().filter((n) => n !== leader) as [TestNode, TestNode];
    w.kill(leader.id);
    for (let t = 0; t < electionTicks / 2; t++) await w.tick();
    // Not yet an election timeout: still quiet, still following.
    expect(asked.replicas.get('g1')!.group.quiet).toBe(true);
    const got = await answers(w, 'g1', asker, asked, preVote(w, 'g1', asker, asked));
    expect(got.map((m) => `${m.type}${m.reject ? ' reject' : ''}`)).toEqual([MessageType.MsgPreVoteResp]);
    expect(asked.replicas.get('g1')!.group.quiet).toBe(false);
  });

  it('ignores it while it hears the leader (a false alarm elsewhere moves no term)', async () => {
    const w = await quietWorld();
    const leader = w.leaderOf('g1')!;
    const [asker, asked] = w.upNodes().filter((n) => n !== leader) as [TestNode, TestNode];
    await w.tick();
    const got = await answers(w, 'g1', asker, asked, preVote(w, 'g1', asker, asked));
    expect(got).toEqual([]);
    expect(leader.replicas.get('g1')!.group.isLeader()).toBe(true);
  });
});

describe('node liveness', () => {
  it('counts every peer live for an election timeout from start, then only what it heard', () => {
    const l = new NodeLiveness('n1', 3);
    expect(l.isLive('n1')).toBe(true);
    for (let i = 0; i < 3; i++) l.tick();
    expect(l.isLive('n2')).toBe(true);
    l.tick();
    expect(l.isLive('n2')).toBe(false);
    l.heard('n2', 'a');
    expect(l.isLive('n2')).toBe(true);
    // Heard after it looked down: it came back.
    expect([...l.tick()]).toEqual(['n2']);
  });

  it('reports a peer that restarted (a new incarnation) as come back, and a steady one not', () => {
    const l = new NodeLiveness('n1', 3);
    l.heard('n2', 'a');
    expect([...l.tick()]).toEqual([]);
    l.heard('n2', 'a');
    expect([...l.tick()]).toEqual([]);
    l.heard('n2', 'b');
    expect([...l.tick()]).toEqual(['n2']);
    expect(l.isLive('n2')).toBe(true);
  });
});
