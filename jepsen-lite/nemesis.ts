/**
 * Nemeses: faults the runner injects and heals, each `{ name, available, inject, heal }`.
 *
 * | name              | inject                                                  | heal                 |
 * | ----------------- | ------------------------------------------------------- | -------------------- |
 * | `kill`            | kill -9 one random node                                 | restart it           |
 * | `kill-all`        | kill -9 every node                                      | restart them all     |
 * | `pause`           | SIGSTOP one random node (the leader half of the time)   | SIGCONT              |
 * | `partition`       | isolated leader, random minority/majority, or a bridge  | heal every link      |
 * | `transfer-leader` | move leadership to a random other node (admin API)      | nothing to undo      |
 *
 * `member` (remove and re-add a node) is not here yet. Every inject and heal is recorded with its
 * time on the run's clock, and what it did.
 */
import { adminChange } from '../src/admin/admin_client.js';
import type { SeededRandom } from '../src/util/random.js';
import type { Cluster, ClusterNode } from './cluster.js';

export interface FaultRecord {
  readonly nemesis: string;
  readonly action: 'inject' | 'heal';
  /** Run clock, ms. */
  readonly time: number;
  readonly detail: string;
  readonly error?: string;
}

export interface Nemesis {
  readonly name: string;
  /** Whether it can inject now (e.g. enough nodes up). */
  available(cluster: Cluster): boolean;
  /** Injects one fault; returns what it did. */
  inject(cluster: Cluster, rng: SeededRandom): Promise<string>;
  /** Undoes it; returns what it did. */
  heal(cluster: Cluster): Promise<string>;
}

function pick<T>(rng: SeededRandom, items: readonly T[]): T {
  return items[rng.intBelow(items.length)]!;
}

function shuffle<T>(rng: SeededRandom, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.intBelow(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const ids = (nodes: readonly ClusterNode[]): string => nodes.map((n) => n.id).join(',');

export function killNemesis(): Nemesis {
  let victims: ClusterNode[] = [];
  return {
    name: 'kill',
    available: (c) => c.upNodes().length === c.nodes.length,
    async inject(c, rng) {
      const victim = pick(rng, c.nodes);
      victims.push(victim);
      await c.kill(victim);
      return `kill -9 ${victim.id}`;
    },
    async heal(c) {
      const restarted = victims;
      victims = [];
      for (const v of restarted) await c.restart(v);
      return restarted.length ? `restart ${ids(restarted)}` : 'nothing to heal';
    },
  };
}

export function killAllNemesis(): Nemesis {
  let victims: ClusterNode[] = [];
  return {
    name: 'kill-all',
    available: (c) => c.upNodes().length === c.nodes.length,
    async inject(c) {
      victims = [...c.nodes];
      await Promise.all(victims.map((n) => c.kill(n)));
      return `kill -9 ${ids(victims)}`;
    },
    async heal(c) {
      const restarted = victims;
      victims = [];
      await Promise.all(restarted.map((n) => c.restart(n)));
      return restarted.length ? `restart ${ids(restarted)}` : 'nothing to heal';
    },
  };
}

export function pauseNemesis(): Nemesis {
  let victims: ClusterNode[] = [];
  return {
    name: 'pause',
    available: (c) => c.upNodes().length === c.nodes.length,
    async inject(c, rng) {
      const leader = rng.intBelow(2) === 0 ? await c.leader() : undefined;
      const victim = leader ?? pick(rng, c.nodes);
      victims.push(victim);
      c.pause(victim);
      return `SIGSTOP ${victim.id}${leader ? ' (leader)' : ''}`;
    },
    async heal(c) {
      const resumed = victims;
      victims = [];
      for (const v of resumed) c.resume(v);
      return resumed.length ? `SIGCONT ${ids(resumed)}` : 'nothing to heal';
    },
  };
}

export function partitionNemesis(): Nemesis {
  return {
    name: 'partition',
    available: (c) => c.nodes.length >= 3,
    async inject(c, rng) {
      const all = c.nodes.map((n) => n.id);
      const shape = rng.intBelow(3);
      if (shape === 0) {
        const leader = (await c.leader())?.id ?? pick(rng, all);
        const rest = all.filter((id) => id !== leader);
        c.partition([leader], rest);
        return `isolated leader: [${leader}] | [${rest.join(',')}]`;
      }
      const order = shuffle(rng, all);
      if (shape === 1) {
        const minority = order.slice(0, Math.floor((order.length - 1) / 2) || 1);
        const majority = order.filter((id) => !minority.includes(id));
        c.partition(minority, majority);
        return `minority/majority: [${minority.join(',')}] | [${majority.join(',')}]`;
      }
      // Bridge: two halves that cannot talk, and one node that talks to both.
      const [bridge, ...others] = order;
      const half = Math.ceil(others.length / 2);
      const left = others.slice(0, half);
      const right = others.slice(half);
      c.partition(left, right);
      return `bridge ${bridge}: [${left.join(',')}] x [${right.join(',')}]`;
    },
    async heal(c) {
      const cut = c.cutLinks().length;
      c.healNetwork();
      return `healed ${cut} cut links`;
    },
  };
}

export function transferLeaderNemesis(): Nemesis {
  return {
    name: 'transfer-leader',
    available: (c) => c.upNodes().length === c.nodes.length,
    async inject(c, rng) {
      const leader = await c.leader();
      if (!leader) return 'no leader to transfer from';
      const to = pick(rng, c.nodes.filter((n) => n !== leader));
      const reply = await adminChange(`127.0.0.1:${leader.grpcPort}`, { kind: 'transfer-leader', to: to.id }, { timeoutMs: 5_000 });
      return `transfer-leader ${leader.id} → ${to.id}: ${reply}`;
    },
    async heal() {
      return 'nothing to heal';
    },
  };
}

export const nemesisNames = ['kill', 'kill-all', 'pause', 'partition', 'transfer-leader'] as const;

export function makeNemesis(name: string): Nemesis {
  switch (name) {
    case 'kill':
      return killNemesis();
    case 'kill-all':
      return killAllNemesis();
    case 'pause':
      return pauseNemesis();
    case 'partition':
      return partitionNemesis();
    case 'transfer-leader':
      return transferLeaderNemesis();
    case 'member':
      throw new Error(`nemesis 'member' is not implemented yet (needs remove/re-add in the harness)`);
    default:
      throw new Error(`unknown nemesis '${name}' (known: ${nemesisNames.join(', ')})`);
  }
}
