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
 * | `member`          | remove a node (the leader half of the time), stop it,   | wait until it is a   |
 * |                   | start a replacement with a new id and an empty data dir | voter with lag 0 and |
 * |                   | (`--join`) and `add-node` it (it joins as a learner)    | every member votes   |
 *
 * Every nemesis works on the cluster's current members (`member` changes who they are). Every
 * inject and heal is recorded with its time on the run's clock, and what it did.
 */
import { adminChange } from '../src/admin/admin_client.js';
import type { MembershipCall } from '../src/admin/membership_call.js';
import { pick, shuffle, type SeededRandom } from '../src/util/random.js';
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
  /** Whether it can inject now (e.g. enough nodes up, or the cluster healthy). */
  available(cluster: Cluster): boolean | Promise<boolean>;
  /** Injects one fault; returns what it did. */
  inject(cluster: Cluster, rng: SeededRandom): Promise<string>;
  /** Undoes it; returns what it did. */
  heal(cluster: Cluster): Promise<string>;
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

/**
 * Replaces a member as an operator would. Ids are never reused by the cluster, so "re-add" is
 * a new node:
 *
 * ```
 *   remove-node X (via the leader; a leader X hands off first) ─▶ X gone from the voters
 *     ─▶ SIGTERM X ─▶ start nK --join (new id, empty data dir, its own links)
 *     ─▶ add-node nK --grpc <nK's address> ─▶ learner ─▶ (caught up, promoter) ─▶ voter
 * ```
 *
 * Heal waits for the end of that chain: nK a voter with lag 0 and the voters exactly the
 * current members. It is only offered on a healthy cluster with every link up, so that the
 * replacement never starts from a cluster that could not finish it.
 */
export function memberNemesis(options: { readonly healTimeoutMs?: number } = {}): Nemesis {
  const healTimeoutMs = options.healTimeoutMs ?? 30_000;
  let added: ClusterNode | null = null;
  const change = async (c: Cluster, call: MembershipCall): Promise<string> => {
    const leader = await c.leader();
    const via = leader ?? c.upNodes()[0];
    if (!via) throw new Error('no member up to take the change');
    return adminChange(c.grpcAddress(via), call, { timeoutMs: 15_000 });
  };
  return {
    name: 'member',
    available: async (c) => added === null && c.nodes.length >= 3 && c.upNodes().length === c.nodes.length && c.cutLinks().length === 0 && (await c.healthProblem()) === '',
    async inject(c, rng) {
      const leader = await c.leader();
      if (!leader) throw new Error('no leader');
      const victim = rng.intBelow(2) === 0 ? leader : pick(rng, c.nodes.filter((n) => n !== leader));
      let removed: string;
      try {
        removed = await change(c, { kind: 'remove-node', nodeId: victim.id });
      } catch (err) {
        // An unknown outcome: the removal may have happened anyway; go on only if it did.
        const status = await c.memberStatus().catch(() => undefined);
        if (!status || status.members.some((m) => m.nodeId === victim.id)) throw err;
        removed = `${(err as Error).message}, but ${victim.id} is no longer a member`;
      }
      await c.retire(victim);
      const fresh = await c.addNode();
      added = fresh;
      const reply = await change(c, { kind: 'add-node', nodeId: fresh.id, address: c.grpcAddress(fresh) });
      return `remove-node ${victim.id}${victim === leader ? ' (leader)' : ''}: ${removed}; stopped ${victim.id}; started ${fresh.id} --join; add-node ${fresh.id} --grpc ${c.grpcAddress(fresh)}: ${reply}`;
    },
    async heal(c) {
      const fresh = added;
      if (!fresh) return 'nothing to heal';
      const start = performance.now();
      const deadline = start + healTimeoutMs;
      let detail = 'not checked';
      let addAgain = false;
      while (performance.now() < deadline) {
        try {
          const status = await c.memberStatus();
          const me = status?.members.find((m) => m.nodeId === fresh.id);
          const voters = status?.members.filter((m) => m.role === 'voter') ?? [];
          if (status && !me && addAgain) {
            // The add-node of inject failed (or was lost with a leader): an operator retries it.
            await change(c, { kind: 'add-node', nodeId: fresh.id, address: c.grpcAddress(fresh) }).catch(() => '');
          }
          addAgain = true;
          detail = status ? `${status.members.map((m) => `${m.nodeId}:${m.role}/lag ${m.lag ?? '?'}`).join(' ')}` : 'no leader';
          if (me?.role === 'voter' && me.lag === 0 && voters.length === c.nodes.length) {
            added = null;
            return `${fresh.id} is a voter with lag 0 after ${Math.round(performance.now() - start)} ms (${detail})`;
          }
        } catch (err) {
          detail = (err as Error).message;
        }
        await sleep(100);
      }
      added = null;
      throw new Error(`${fresh.id} not a caught-up voter after ${healTimeoutMs} ms: ${detail}`);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const nemesisNames = ['kill', 'kill-all', 'pause', 'partition', 'transfer-leader', 'member'] as const;

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
      return memberNemesis();
    default:
      throw new Error(`unknown nemesis '${name}' (known: ${nemesisNames.join(', ')})`);
  }
}
