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
import { adminChange, adminGroups, adminMoveReplica, adminSplit } from '../src/admin/admin_client.js';
import type { MembershipCall } from '../src/admin/membership_call.js';
import { pick, shuffle, type SeededRandom } from '../src/util/random.js';
import { Cluster, type ClusterNode, type GroupState } from './cluster.js';

export interface FaultRecord {
  readonly nemesis: string;
  readonly action: 'inject' | 'heal';
  /** Run clock, ms: when the inject or heal returned. */
  readonly time: number;
  /** When it began (an inject such as split or move can take seconds; its fault began here). */
  readonly began?: number;
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
      // With several groups, half the time a node leading some data group (with one group the
      // pick stays as it was, so that old seeds replay the same faults).
      const led = c.multiGroup && rng.intBelow(2) === 0 ? await c.someGroupLeader(rng) : undefined;
      const victim = led?.node ?? pick(rng, c.nodes);
      victims.push(victim);
      await c.kill(victim);
      return `kill -9 ${victim.id}${led ? ` (leader of ${led.group})` : ''}`;
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
      const leader = rng.intBelow(2) === 0 ? await leaderOf(c, rng) : undefined;
      const victim = leader?.node ?? pick(rng, c.nodes);
      victims.push(victim);
      c.pause(victim);
      return `SIGSTOP ${victim.id}${leader ? ` (${leader.what})` : ''}`;
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
        const found = await leaderOf(c, rng);
        const leader = found?.node.id ?? pick(rng, all);
        const rest = all.filter((id) => id !== leader);
        c.partition([leader], rest);
        return `isolated ${found?.what ?? 'leader'}: [${leader}] | [${rest.join(',')}]`;
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

/**
 * "The leader": with one group, the node that leads it; with several, the node leading a random
 * data group (every group is cut with the node, but that one loses its leader for sure).
 */
async function leaderOf(c: Cluster, rng: SeededRandom): Promise<{ node: ClusterNode; what: string } | undefined> {
  if (!c.multiGroup) {
    const node = await c.leader();
    return node ? { node, what: 'leader' } : undefined;
  }
  const led = await c.someGroupLeader(rng);
  return led ? { node: led.node, what: `leader of ${led.group}` } : undefined;
}

export function transferLeaderNemesis(): Nemesis {
  return {
    name: 'transfer-leader',
    available: (c) => c.upNodes().length === c.nodes.length,
    async inject(c, rng) {
      if (c.multiGroup) return transferGroupLeader(c, rng);
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
  const groupwise = memberByGroup(healTimeoutMs);
  return {
    name: 'member',
    available: async (c) => added === null && groupwise.idle() && c.nodes.length >= 3 && c.upNodes().length === c.nodes.length && c.cutLinks().length === 0 && (await c.healthProblem()) === '',
    async inject(c, rng) {
      if (c.multiGroup) return groupwise.inject(c, rng);
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
      if (c.multiGroup) return groupwise.heal(c);
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

/**
 * `member` with several groups: a node is replaced in every group it is in. Membership calls
 * without `--group` act on the groups the receiving node hosts, and a node added to "every group"
 * would join groups its predecessor was not in (a group moved to a spare has three voters
 * without it), so each group gets its own calls:
 *
 * ```
 *   for each group G that X is a voter of (the meta group too):
 *     remove-node X --group G (via another voter of G; a leader X hands G off first)
 *   stop X; start nK --join (new id, empty data dir)
 *   for each such G: add-node nK --group G --grpc <nK's address> ─▶ learner ─▶ (caught up) voter
 * ```
 *
 * Heal waits until nK is a voter with lag 0 in each of those groups (an add-node lost with a
 * leader is sent again, as an operator would).
 */
function memberByGroup(healTimeoutMs: number): { idle(): boolean; inject(c: Cluster, rng: SeededRandom): Promise<string>; heal(c: Cluster): Promise<string> } {
  let added: { fresh: ClusterNode; groups: string[] } | null = null;
  const addTo = (c: Cluster, g: string, via: string, fresh: ClusterNode): Promise<string> =>
    adminChange(c.grpcAddress(c.node(via)), { kind: 'add-node', nodeId: fresh.id, address: c.grpcAddress(fresh), group: g }, { timeoutMs: 15_000 });
  return {
    idle: () => added === null,
    async inject(c, rng) {
      const led = rng.intBelow(2) === 0 ? await c.someGroupLeader(rng) : undefined;
      const victim = led?.node ?? pick(rng, c.nodes);
      const view = await c.groupView();
      const groups = [...view.values()].filter((g) => g.voters.includes(victim.id));
      const lines: string[] = [];
      for (const g of groups) {
        const via = g.voters.find((v) => v !== victim.id)!;
        try {
          lines.push(`remove-node ${victim.id} --group ${g.id}${g.leader === victim.id ? ' (leader)' : ''}: ${await adminChange(c.grpcAddress(c.node(via)), { kind: 'remove-node', nodeId: victim.id, group: g.id }, { timeoutMs: 15_000 })}`);
        } catch (err) {
          // An unknown outcome: go on only if the removal happened anyway.
          const now = (await c.groupView()).get(g.id);
          if (!now || now.voters.includes(victim.id) || now.leader === undefined) throw err;
          lines.push(`remove-node ${victim.id} --group ${g.id}: ${(err as Error).message}, but it is no longer a voter`);
        }
      }
      await c.retire(victim);
      const fresh = await c.addNode();
      added = { fresh, groups: groups.map((g) => g.id) };
      lines.push(`stopped ${victim.id}; started ${fresh.id} --join`);
      for (const g of groups) {
        c.everMembers.get(g.id)?.add(fresh.id);
        const via = g.voters.find((v) => v !== victim.id)!;
        lines.push(`add-node ${fresh.id} --group ${g.id}: ${await addTo(c, g.id, via, fresh)}`);
      }
      return lines.join('; ');
    },
    async heal(c) {
      const a = added;
      if (!a) return 'nothing to heal';
      const start = performance.now();
      let detail = '';
      let addAgain = false;
      while (performance.now() < start + healTimeoutMs) {
        const view = await c.groupView();
        const behind: string[] = [];
        for (const id of a.groups) {
          const g = view.get(id);
          const lag = g?.leader !== undefined ? /lag=(\d+)/.exec(g.hosts.get(g.leader)?.[`raft_member_${a.fresh.id}`] ?? '')?.[1] : undefined;
          if (g?.leader !== undefined && g.voters.includes(a.fresh.id) && lag === '0') continue;
          behind.push(`${id}: ${g ? `voters ${g.voters.join(',')} learners ${g.learners.join(',') || 'none'} lag ${lag ?? '?'}` : 'not reported'}`);
          if (addAgain && g?.leader !== undefined && !g.voters.includes(a.fresh.id) && !g.learners.includes(a.fresh.id)) {
            await addTo(c, id, g.leader, a.fresh).catch(() => '');
          }
        }
        if (behind.length === 0) {
          added = null;
          return `${a.fresh.id} is a voter with lag 0 in ${a.groups.join(',') || 'no group'} after ${Math.round(performance.now() - start)} ms`;
        }
        detail = behind.join('; ');
        addAgain = true;
        await sleep(200);
      }
      added = null;
      throw new Error(`${a.fresh.id} not a caught-up voter after ${healTimeoutMs} ms: ${detail}`);
    },
  };
}

/** `transfer-leader --group G --to X`: a random data group's leadership to another of its voters. */
async function transferGroupLeader(c: Cluster, rng: SeededRandom, only?: GroupState): Promise<string> {
  const groups = only ? [only] : Cluster.dataGroups(await c.groupView()).filter((g) => g.leader !== undefined && g.voters.length > 1);
  if (groups.length === 0) return 'no data group with a leader to transfer from';
  const g = pick(rng, groups);
  const to = pick(rng, g.voters.filter((v) => v !== g.leader));
  const reply = await adminChange(c.grpcAddress(c.node(g.leader!)), { kind: 'transfer-leader', to, group: g.id }, { timeoutMs: 10_000 });
  return `transfer-leader --group ${g.id} ${g.leader} → ${to}: ${reply}`;
}

/** The most data groups `split` makes: each group is a Raft group on three nodes of a 2-core machine. */
export const MAX_DATA_GROUPS = 12;

/**
 * `admin split --group G --at-slot S` of a random data group at a random slot inside it (never its
 * first: that would leave it nothing), run on a node hosting G, which passes it on to G's leader
 * and answers once the new group serves. Heal checks the new group has a leader and every slot
 * is routed (the runner's health check then writes to every group through every node).
 */
export function splitNemesis(): Nemesis {
  let made: { parent: string; child: string } | null = null;
  return {
    name: 'split',
    available: async (c) => {
      if (c.upNodes().length !== c.nodes.length) return false;
      const view = await c.groupView();
      return Cluster.dataGroups(view).length < MAX_DATA_GROUPS;
    },
    async inject(c, rng) {
      const view = await c.groupView();
      const routed = (await adminGroups(c.grpcAddress(c.upNodes()[0]!), { timeoutMs: 5_000 })).filter((g) => g.group !== 'meta');
      const splittable = routed.filter((g) => slotsIn(g.slots) >= 2 && view.get(g.group)?.leader !== undefined);
      if (splittable.length === 0) throw new Error('no data group with two slots and a leader to split');
      const g = pick(rng, splittable);
      // A slot of the group other than its first, uniformly.
      const at = nthSlot(g.slots, 1 + rng.intBelow(slotsIn(g.slots) - 1));
      const via = c.node(view.get(g.group)!.leader!);
      const reply = await adminSplit(c.grpcAddress(via), { group: g.group, atSlot: at, wait: true }, { timeoutMs: 70_000 });
      const child = /: (g\d+) serves/.exec(reply)?.[1];
      if (child) {
        // The new group starts on the parent's replicas, and with the ids the parent had.
        c.everMembers.set(child, new Set(c.everMembers.get(g.group) ?? []));
        made = { parent: g.group, child };
      }
      return `split --group ${g.group} --at-slot ${at} via ${via.id}: ${reply}`;
    },
    async heal(c) {
      const m = made;
      made = null;
      if (!m) return 'nothing to heal';
      const deadline = performance.now() + 15_000;
      let detail = '';
      while (performance.now() < deadline) {
        const child = (await c.groupView()).get(m.child);
        if (child?.leader !== undefined) return `${m.child} (from ${m.parent}) led by ${child.leader}, voters ${child.voters.join(',')}`;
        detail = child ? 'no leader' : 'no node reports it';
        await sleep(200);
      }
      throw new Error(`${m.child} (from ${m.parent}) does not serve after 15 s: ${detail}`);
    },
  };
}

/**
 * `admin move-replica --group G --from A --to B --grpc <B>`: a replica of a random data group to a
 * node the group never had (a spare started with --join, or one a group left), from a random voter
 * (its leader half the time: it hands off first); then, half the time, G's leadership goes to the
 * new replica (`transfer-leader --group G`). Heal makes sure the move is done (B a voter, A gone),
 * resuming it as an operator would when the inject was cut short.
 */
export function moveNemesis(): Nemesis {
  let pending: { group: string; from: string; to: string } | null = null;
  const targets = (c: Cluster, g: GroupState): ClusterNode[] => {
    const ever = c.everMembers.get(g.id) ?? new Set(g.voters);
    return c.nodes.filter((n) => !ever.has(n.id) && !g.hosts.has(n.id));
  };
  return {
    name: 'move',
    available: async (c) => {
      if (c.upNodes().length !== c.nodes.length) return false;
      return Cluster.dataGroups(await c.groupView()).some((g) => g.leader !== undefined && g.learners.length === 0 && targets(c, g).length > 0);
    },
    async inject(c, rng) {
      const view = await c.groupView();
      const movable = Cluster.dataGroups(view).filter((g) => g.leader !== undefined && g.learners.length === 0 && targets(c, g).length > 0);
      if (movable.length === 0) throw new Error('no data group has a node to move to');
      const g = pick(rng, movable);
      const from = rng.intBelow(2) === 0 ? g.leader! : pick(rng, g.voters);
      const to = pick(rng, targets(c, g));
      // From now on the group has had `to`, whatever comes of the call.
      c.everMembers.get(g.id)?.add(to.id) ?? c.everMembers.set(g.id, new Set([...g.voters, to.id]));
      pending = { group: g.id, from, to: to.id };
      const via = c.node(g.leader!);
      const reply = await adminMoveReplica(c.grpcAddress(via), { group: g.id, from, to: to.id, address: c.grpcAddress(to), wait: true }, { timeoutMs: 120_000 });
      let line = `move-replica --group ${g.id} --from ${from}${from === g.leader ? ' (leader)' : ''} --to ${to.id} via ${via.id}: ${reply}`;
      if (rng.intBelow(2) === 0) {
        const now = (await c.groupView()).get(g.id);
        if (now?.leader !== undefined && now.leader !== to.id && now.voters.includes(to.id)) {
          const t = await adminChange(c.grpcAddress(c.node(now.leader)), { kind: 'transfer-leader', to: to.id, group: g.id }, { timeoutMs: 10_000 });
          line += `; transfer-leader --group ${g.id} ${now.leader} → ${to.id}: ${t}`;
        }
      }
      return line;
    },
    async heal(c) {
      const p = pending;
      pending = null;
      if (!p) return 'nothing to heal';
      const deadline = performance.now() + 60_000;
      let detail = '';
      let resumed = false;
      while (performance.now() < deadline) {
        const g = (await c.groupView()).get(p.group);
        if (g?.leader !== undefined) {
          if (g.voters.includes(p.to) && !g.voters.includes(p.from) && g.learners.length === 0) {
            return `${p.group}: ${p.to} a voter, ${p.from} gone (voters ${g.voters.join(',')})${resumed ? ', after resuming the move' : ''}`;
          }
          detail = `voters ${g.voters.join(',')}, learners ${g.learners.join(',') || 'none'}`;
          if (!resumed && c.upNodes().length === c.nodes.length) {
            // The inject's call was cut short (a timeout, a leader change): run it again; it resumes.
            resumed = true;
            await adminMoveReplica(c.grpcAddress(c.node(g.leader)), { group: p.group, from: p.from, to: p.to, address: c.grpcAddress(c.node(p.to)), wait: true }, { timeoutMs: 60_000 }).catch(
              (err: unknown) => (detail += `; resuming: ${(err as Error).message}`),
            );
            continue;
          }
        } else detail = 'no leader';
        await sleep(200);
      }
      throw new Error(`the move of ${p.group} from ${p.from} to ${p.to} is not done after 60 s: ${detail}`);
    },
  };
}

/** How many slots a list of ranges holds. */
function slotsIn(ranges: readonly (readonly [number, number])[]): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

/** The n-th slot (0-based) of a list of ranges. */
function nthSlot(ranges: readonly (readonly [number, number])[], n: number): number {
  for (const [a, b] of ranges) {
    if (n <= b - a) return a + n;
    n -= b - a + 1;
  }
  throw new Error(`slot ${n} is past the ranges`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const nemesisNames = ['kill', 'kill-all', 'pause', 'partition', 'transfer-leader', 'member', 'split', 'move'] as const;

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
    case 'split':
      return splitNemesis();
    case 'move':
      return moveNemesis();
    default:
      throw new Error(`unknown nemesis '${name}' (known: ${nemesisNames.join(', ')})`);
  }
}
