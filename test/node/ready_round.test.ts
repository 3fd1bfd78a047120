/**
 * ReadyRound: the Ready loops of a host's groups start in one turn, so that what they send leaves
 * in one write per peer (GrpcPeerTransport writes what a turn gathered when its microtasks run).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RaftGroup } from '../../src/node/raft_group.js';
import { ReadyRound } from '../../src/node/ready_round.js';
import { MessageType } from '../../src/raft/types.js';
import type { Message } from '../../src/raft/types.js';
import { MemoryLog } from '../../src/storage/memory_log.js';
import { LocalNetwork } from '../../src/transport/local_transport.js';
import type { GroupTransport } from '../../src/transport/group_transport.js';
import { SeededRandom } from '../../src/util/random.js';
import { tickUntil, turn } from './support.js';

describe('ReadyRound', () => {
  it('runs what was scheduled in one turn together, before any of their microtasks', async () => {
    const round = new ReadyRound();
    const seen: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      round.schedule(() => {
        seen.push(name);
        queueMicrotask(() => seen.push(`${name} microtask`));
      });
    }
    expect(seen).toEqual([]);
    await turn();
    expect(seen).toEqual(['a', 'b', 'c', 'a microtask', 'b microtask', 'c microtask']);
  });

  it('runs what is scheduled during a round in the next one', async () => {
    const round = new ReadyRound();
    const seen: string[] = [];
    round.schedule(() => {
      seen.push('first');
      round.schedule(() => seen.push('scheduled by first'));
      queueMicrotask(() => seen.push('first microtask'));
    });
    await turn();
    await turn();
    expect(seen).toEqual(['first', 'first microtask', 'scheduled by first']);
  });
});

/**
 * Three nodes hosting the same groups, each node's groups in one ReadyRound, over a LocalNetwork.
 * Each node's sends are cut into "writes" as GrpcPeerTransport cuts them: a write per peer holds
 * what was sent before the turn's microtasks ran.
 */
class Host {
  readonly round = new ReadyRound();
  readonly groups: RaftGroup[] = [];
  /** Each write: the messages it carried (to any peer; a node with two peers makes one per peer). */
  readonly writes: Message[][] = [];
  private gathering: Message[] | null = null;

  constructor(
    readonly id: string,
    private readonly network: LocalNetwork,
  ) {}

  transportFor(groupId: string): GroupTransport {
    const inner = this.network.transportFor(`${this.id}/${groupId}`);
    return {
      send: (messages) => {
        if (this.gathering === null) {
          const write: Message[] = [];
          this.gathering = write;
          queueMicrotask(() => {
            this.gathering = null;
            this.writes.push(write);
          });
        }
        this.gathering.push(...messages);
        inner.send(messages.map((m) => ({ ...m, to: `${m.to}/${groupId}` })));
      },
    };
  }
}

describe('the groups of a host in one ReadyRound', () => {
  const opened: RaftGroup[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((g) => g.stop()));
  });

  async function openHosts(useRound: boolean): Promise<Host[]> {
    const network = new LocalNetwork();
    const ids = ['n1', 'n2', 'n3'];
    const hosts = ids.map((id) => new Host(id, network));
    for (let g = 0; g < 8; g++) {
      const groupId = `g${g}`;
      for (const [i, host] of hosts.entries()) {
        const group = await RaftGroup.open({
          groupId,
          nodeId: host.id,
          log: new MemoryLog(groupId),
          stateMachine: { apply: () => null, applyMemberChange: () => {} },
          transport: host.transportFor(groupId),
          bootstrapVoters: ids,
          random: new SeededRandom(100 * g + i),
          ...(useRound ? { round: host.round } : {}),
        });
        // The network knows members as node/group; the group sees plain node ids.
        network.register(`${host.id}/${groupId}`, { step: (m) => group.step({ ...m, to: host.id, from: m.from.split('/')[0]! }) });
        host.groups.push(group);
        opened.push(group);
      }
    }
    await tickUntil(() => opened, () => hosts[0]!.groups.every((g) => g.leaderId() !== ''));
    return hosts;
  }

  /** After one tick of every group: each host's heartbeats, and its answers, by write. */
  async function oneTick(hosts: Host[]): Promise<{ heartbeats: number[]; answers: number[] }[]> {
    for (let i = 0; i < 5; i++) await turn();
    for (const h of hosts) h.writes.length = 0;
    for (const h of hosts) for (const g of h.groups) g.tick();
    for (let i = 0; i < 5; i++) await turn();
    const count = (write: Message[], type: MessageType): number => write.filter((m) => m.type === type).length;
    return hosts.map((h) => ({
      heartbeats: h.writes.map((w) => count(w, MessageType.MsgHeartbeat)).filter((n) => n > 0),
      answers: h.writes.map((w) => count(w, MessageType.MsgHeartbeatResp)).filter((n) => n > 0),
    }));
  }

  it("sends a tick's heartbeats of every group, and their answers, in one write per host", async () => {
    const hosts = await openHosts(true);
    const byHost = await oneTick(hosts);
    const leaders = hosts.map((h) => h.groups.filter((g) => g.isLeader()).length);
    const following = hosts.map((h) => h.groups.filter((g) => !g.isLeader()).length);
    // A leader heartbeats both followers; a follower answers its leader.
    expect(byHost).toEqual(
      hosts.map((_, i) => ({
        heartbeats: leaders[i]! > 0 ? [2 * leaders[i]!] : [],
        answers: following[i]! > 0 ? [following[i]!] : [],
      })),
    );
    // Many groups on some host, so that one write per host means something.
    expect(Math.max(...following)).toBeGreaterThan(1);
  });

  it('without the round, each group is a write of its own (what the round saves)', async () => {
    const hosts = await openHosts(false);
    const byHost = await oneTick(hosts);
    for (const [i, h] of hosts.entries()) {
      expect(byHost[i]!.answers).toEqual(h.groups.filter((g) => !g.isLeader()).map(() => 1));
    }
  });
});
