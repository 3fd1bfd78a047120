/**
 * A deterministic simulation of one Raft group: nodes, a lossy reordering network, a disk per
 * node that survives crashes (and loses whatever was not persisted), and checkers for the safety
 * properties of the Raft paper (Figure 3), run after every action. The nodes are the in-memory
 * host the scenario scripts use too (support/memory_host.ts); the network and checks are here.
 *
 * Nothing here reads a clock or Math.random: a schedule (a list of actions) and a seed decide
 * everything, so a failing run replays exactly.
 */
import {
  ConfChangeType,
  ProposalDroppedError,
  StateType,
  bootstrapLog,
  defaultRaftConfig,
} from '../../../src/raft/index.js';
import type { ConfChange, Entry, Message } from '../../../src/raft/index.js';
import { SeededRandom } from '../../../src/util/random.js';
import {
  type Disk,
  MemoryNode,
  type MemoryHostOptions,
  type ReadyHandler,
  SafetyViolation,
  bootstrappedDisk,
  emptyDisk,
  hashString,
  reportSnapshotOutcome,
} from '../support/memory_host.js';

export { SafetyViolation };

const enc = new TextEncoder();
const dec = new TextDecoder();

class SimNode extends MemoryNode {
  /** Terms in which this node's leadership was already checked for Leader Completeness. */
  leaderTermChecked = 0;
  /** The incarnation of each peer as this node's host last saw it (node liveness: restarts). */
  readonly seenIncarnations = new Map<string, number>();
}

interface PendingRead {
  readonly node: string;
  readonly incarnation: number;
  /** Highest index committed anywhere when the read was asked for. */
  readonly committedAtInvoke: number;
}

export interface ClusterOptions {
  readonly voters: number;
  readonly seed: number;
  readonly electionTick?: number;
  readonly maxSizePerMsg?: number;
  readonly maxInflightMsgs?: number;
  /** Whether tickAll runs the host's quiescence each tick (quiescence.ts); by default the seed decides. */
  readonly quiesce?: boolean;
}

function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${dec.decode(e.data)}`;
}

export class SimCluster {
  readonly nodes = new Map<string, SimNode>();
  /** Messages in flight, in send order; delivery picks any of them (reordering). */
  inflight: Message[] = [];
  /** Cut links, as "a|b" with a < b. */
  readonly cuts = new Set<string>();
  /** Safety bookkeeping. */
  readonly leaderOfTerm = new Map<number, string>();
  readonly committed = new Map<number, string>();
  maxCommitted = 0;
  readonly appliedAt = new Map<number, string>();
  readonly reads = new Map<string, PendingRead>();
  readsServed = 0;
  private readonly servedReads = new Set<string>();
  proposalsAppended = 0;
  /** Times a leader went quiet, and times liveness (the host's or a schedule's) woke a quiet member. */
  quiesced = 0;
  wokenByHost = 0;
  log: string[] = [];
  private nextNodeNumber: number;
  private nextValue = 1;
  private nextRead = 1;
  private readonly options: Required<ClusterOptions>;
  private readonly host: MemoryHostOptions;
  private readonly handler: ReadyHandler<SimNode>;

  constructor(options: ClusterOptions) {
    // Unless the test fixes them, the batching limits vary with the seed: one entry per MsgApp
    // and a window of one exercise the paths (Figure 8, probing) that big batches hide.
    const pick = new SeededRandom(options.seed ^ 0x5eed);
    this.options = {
      electionTick: 10,
      maxSizePerMsg: [1, 64, 256, 4096][pick.intBelow(4)],
      maxInflightMsgs: [1, 2, 4, 16][pick.intBelow(4)],
      quiesce: pick.intBelow(2) === 0,
      ...options,
    };
    this.host = {
      raftConfig: (id, incarnation, applied) => ({
        ...defaultRaftConfig,
        id,
        electionTick: this.options.electionTick,
        heartbeatTick: 1,
        maxSizePerMsg: this.options.maxSizePerMsg,
        maxInflightMsgs: this.options.maxInflightMsgs,
        maxCommittedSizePerReady: 512,
        applied,
        random: new SeededRandom((this.options.seed ^ hashString(`${id}#${incarnation}`)) >>> 0),
      }),
      keyOf: entryKey,
    };
    this.handler = {
      persisted: (n, rd) => {
        this.recordCommits(n);
        this.enqueue(rd.persistedMessages);
      },
      applying: (n, index, key) => this.checkApplied(n, index, key),
      readState: (n, rs) => this.serveRead(n, rs.index, dec.decode(rs.context)),
      advanced: (n, rd) => {
        if (rd.softState?.state === StateType.Leader) this.checkLeaderCompleteness(n);
      },
    };
    const ids = Array.from({ length: options.voters }, (_, i) => `n${i + 1}`);
    this.nextNodeNumber = options.voters + 1;
    const boot = bootstrapLog(ids);
    for (const id of ids) this.nodes.set(id, this.startNode(id, bootstrappedDisk(boot), 0));
  }

  // ------------------------------------------------------------------ node lifecycle

  private startNode(id: string, disk: Disk, incarnation: number): SimNode {
    return new SimNode(id, disk, incarnation, this.host);
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  nodeAt(i: number): SimNode {
    const all = [...this.nodes.values()];
    return all[((i % all.length) + all.length) % all.length];
  }

  crash(n: SimNode): void {
    if (!n.up) return;
    n.crash();
    this.log.push(`crash ${n.id}`);
  }

  restart(n: SimNode): void {
    if (n.up) return;
    const fresh = this.startNode(n.id, n.disk, n.incarnation + 1);
    this.nodes.set(n.id, fresh);
    this.log.push(`restart ${n.id}`);
  }

  // ------------------------------------------------------------------ network

  private linkCut(a: string, b: string): boolean {
    return this.cuts.has(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  /** Cuts every link between `group` and the rest. */
  partition(group: readonly string[]): void {
    const inside = new Set(group);
    for (const a of this.ids()) {
      for (const b of this.ids()) {
        if (a < b && inside.has(a) !== inside.has(b)) this.cuts.add(`${a}|${b}`);
      }
    }
    this.log.push(`partition [${group.join(',')}]`);
  }

  heal(): void {
    this.cuts.clear();
    this.log.push('heal');
  }

  private enqueue(msgs: readonly Message[]): void {
    for (const m of msgs) this.inflight.push(m);
  }

  deliver(i: number): void {
    if (this.inflight.length === 0) return;
    const pos = i % this.inflight.length;
    const [m] = this.inflight.splice(pos, 1);
    this.deliverMessage(m);
  }

  drop(i: number): void {
    if (this.inflight.length === 0) return;
    const pos = i % this.inflight.length;
    const [m] = this.inflight.splice(pos, 1);
    this.reportLost(m);
  }

  duplicate(i: number): void {
    if (this.inflight.length === 0) return;
    this.inflight.push(this.inflight[i % this.inflight.length]);
  }

  private reportLost(m: Message): void {
    reportSnapshotOutcome(this.nodes.get(m.from), m, false);
  }

  private deliverMessage(m: Message): void {
    const target = this.nodes.get(m.to);
    if (!target || !target.up || this.linkCut(m.from, m.to)) {
      this.reportLost(m);
      return;
    }
    target.deliver(m);
    reportSnapshotOutcome(this.nodes.get(m.from), m, true);
  }

  /** Delivers every message in flight (and whatever they cause), in order, until quiet. */
  deliverAll(maxRounds = 50): void {
    for (let round = 0; round < maxRounds; round++) {
      this.processAll();
      if (this.inflight.length === 0) return;
      const batch = this.inflight;
      this.inflight = [];
      for (const m of batch) this.deliverMessage(m);
    }
    this.processAll();
  }

  /**
   * Rounds of: every node takes a Ready and sends what it may send before persisting, then every
   * message in flight is delivered, with nothing persisted. Leaves nodes with pending Readies,
   * so that a following crash loses exactly what a real crash would.
   */
  exchangeUnpersisted(rounds: number): void {
    for (let round = 0; round < rounds; round++) {
      for (const n of this.upNodes()) this.readyPhase1(n);
      const batch = this.inflight;
      this.inflight = [];
      for (const m of batch) this.deliverMessage(m);
    }
  }

  // ------------------------------------------------------------------ client operations

  tick(n: SimNode): void {
    if (n.up) n.raw.tick();
  }

  campaign(n: SimNode): void {
    if (n.up) n.raw.campaign();
  }

  tickAll(): void {
    for (const n of this.upNodes()) {
      if (this.options.quiesce) this.hostTick(n);
      else n.raw.tick();
    }
  }

  /**
   * One tick as a host with node liveness gives it (src/node/quiescence.ts), with a perfect
   * oracle: a peer is live when it is up and the link to it is not cut, and a restart is seen as
   * a new incarnation. Wrong liveness is exercised by the quiesce, wake and leaderLost actions.
   */
  private hostTick(n: SimNode): void {
    const isLive = (id: string): boolean => {
      const p = this.nodes.get(id);
      return id === n.id || (p !== undefined && p.up && !this.linkCut(n.id, id));
    };
    const restarted = (id: string): boolean => {
      const p = this.nodes.get(id);
      if (!p || !isLive(id)) return false;
      const seen = n.seenIncarnations.get(id);
      n.seenIncarnations.set(id, p.incarnation);
      return seen !== undefined && seen !== p.incarnation;
    };
    const raw = n.raw;
    const { state, lead } = raw.softState();
    if (state === StateType.Leader) {
      if (raw.isQuiet()) {
        const excluded = raw.quietExcluded();
        const { voters, learners } = raw.basicStatus().config;
        if ([...voters, ...learners].some((id) => id !== n.id && (restarted(id) || isLive(id) === excluded.includes(id)))) {
          raw.wake();
          this.wokenByHost++;
        }
      }
    } else if (lead !== '' && lead !== n.id && (restarted(lead) || !isLive(lead))) {
      if (raw.isQuiet()) this.wokenByHost++;
      raw.leaderLost();
    }
    if (raw.isQuiet()) return;
    if (state === StateType.Leader && raw.quiesce(isLive)) {
      this.quiesced++;
      return;
    }
    raw.tick();
  }

  /** The host's quiescence with liveness that may lie: `down` says which members it claims are down. */
  quiesce(n: SimNode, down: (id: string) => boolean): void {
    if (n.up && !n.raw.isQuiet() && n.raw.quiesce((id) => !down(id))) this.quiesced++;
  }

  /** A wake from the host, rightly or wrongly (leaderLost: it claims the leader's node is down). */
  wake(n: SimNode, leaderLost: boolean): void {
    if (!n.up) return;
    if (n.raw.isQuiet()) this.wokenByHost++;
    if (leaderLost) n.raw.leaderLost();
    else n.raw.wake();
  }

  propose(n: SimNode): void {
    if (!n.up) return;
    const value = `v${this.nextValue++}`;
    try {
      n.raw.propose(enc.encode(value));
      this.proposalsAppended++;
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
    }
  }

  read(n: SimNode): void {
    if (!n.up) return;
    const ctx = `r${this.nextRead++}`;
    this.reads.set(ctx, { node: n.id, incarnation: n.incarnation, committedAtInvoke: this.maxCommitted });
    n.raw.readIndex(enc.encode(ctx));
  }

  transferLeader(n: SimNode, to: SimNode): void {
    if (!n.up) return;
    n.raw.transferLeader(to.id);
  }

  private proposeConfChange(n: SimNode, cc: ConfChange): boolean {
    if (!n.up) return false;
    try {
      n.raw.proposeConfChange(cc);
      this.log.push(`propose ${JSON.stringify(cc)} on ${n.id}`);
      return true;
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      return false;
    }
  }

  /** Adds a brand-new node (ids are never reused) as a learner, and starts it empty. */
  addNode(leaderHint: SimNode): void {
    if (this.nodes.size >= this.options.voters + 3) return;
    const id = `n${this.nextNodeNumber}`;
    if (!this.proposeConfChange(leaderHint, { type: ConfChangeType.AddLearner, nodeId: id })) return;
    this.nextNodeNumber++;
    this.nodes.set(id, this.startNode(id, emptyDisk(), 0));
  }

  promote(leaderHint: SimNode, target: SimNode): void {
    this.proposeConfChange(leaderHint, { type: ConfChangeType.AddVoter, nodeId: target.id });
  }

  remove(leaderHint: SimNode, target: SimNode): void {
    this.proposeConfChange(leaderHint, { type: ConfChangeType.RemoveNode, nodeId: target.id });
  }

  /** Takes a snapshot of the applied state and compacts the log up to it. */
  compact(n: SimNode): void {
    if (!n.up || n.pending) return;
    const index = n.appliedIndex;
    if (index <= n.storage.firstIndex()) return;
    n.compact();
  }

  // ------------------------------------------------------------------ the Ready loop

  /** Phase 1: take a Ready and send what may go before persisting. */
  readyPhase1(n: SimNode): void {
    const rd = n.takeReady();
    if (rd) this.enqueue(rd.messages);
  }

  /** Phase 2: persist, send the rest, apply, serve reads, advance. */
  readyPhase2(n: SimNode): void {
    n.finishPending(this.handler);
  }

  process(n: SimNode): void {
    this.readyPhase1(n);
    this.readyPhase2(n);
  }

  processAll(): void {
    for (let i = 0; i < 10; i++) {
      let any = false;
      for (const n of this.upNodes()) {
        if (n.pending || n.raw.hasReady()) {
          any = true;
          this.process(n);
        }
      }
      if (!any) return;
    }
  }

  private serveRead(n: MemoryNode, index: number, ctx: string): void {
    const read = this.reads.get(ctx);
    if (!read) {
      // A duplicated MsgReadIndexResp releases a read twice; a host ignores contexts it has
      // already answered. A context never asked for is a bug.
      if (!this.servedReads.has(ctx)) throw new SafetyViolation(`${n.id} released unknown read ${ctx}`);
      return;
    }
    this.reads.delete(ctx);
    this.servedReads.add(ctx);
    if (read.node !== n.id) throw new SafetyViolation(`read ${ctx} of ${read.node} released on ${n.id}`);
    if (read.incarnation !== n.incarnation) return; // asked before a restart: the host is gone
    // Linearizability of ReadIndex: the read must observe every write committed before it was
    // asked for. A deposed leader serving with its stale commit index fails this.
    if (index < read.committedAtInvoke) {
      throw new SafetyViolation(
        `stale read ${ctx} on ${n.id}: read index ${index} < ${read.committedAtInvoke} committed before the read`,
      );
    }
    if (index > this.maxCommitted) {
      throw new SafetyViolation(`read ${ctx} on ${n.id} at uncommitted index ${index} (max committed ${this.maxCommitted})`);
    }
    this.readsServed++;
  }

  // ------------------------------------------------------------------ safety checks

  private checkApplied(n: MemoryNode, index: number, key: string): void {
    const seen = this.appliedAt.get(index);
    if (seen === undefined) this.appliedAt.set(index, key);
    else if (seen !== key) {
      throw new SafetyViolation(`State Machine Safety: ${n.id} applied ${key} at ${index}, another node applied ${seen}`);
    }
    const committed = this.committed.get(index);
    if (committed !== undefined && committed !== key) {
      throw new SafetyViolation(`${n.id} applied ${key} at ${index} but ${committed} was committed there`);
    }
  }

  /** Records the entries this node now considers committed; two different ones at an index is fatal. */
  private recordCommits(n: MemoryNode): void {
    const st = n.raw.basicStatus();
    const commit = st.hardState.commit;
    const from = Math.max(n.recordedCommit + 1, st.firstIndex);
    const entries = from <= commit ? n.raw.entries(from, commit + 1) : [];
    for (let i = from; i <= commit; i++) {
      const key = entryKey(entries[i - from]);
      const seen = this.committed.get(i);
      if (seen === undefined) this.committed.set(i, key);
      else if (seen !== key) throw new SafetyViolation(`committed entries differ at ${i}: ${seen} vs ${key} on ${n.id}`);
    }
    if (commit > n.recordedCommit) n.recordedCommit = commit;
    if (commit > this.maxCommitted) this.maxCommitted = commit;
  }

  /** Leader Completeness (§5.4): a new leader holds every entry committed in earlier terms. */
  private checkLeaderCompleteness(n: SimNode): void {
    const leaderTerm = n.raw.term();
    if (n.leaderTermChecked === leaderTerm) return;
    n.leaderTermChecked = leaderTerm;
    const { firstIndex: first, lastIndex: last } = n.raw.basicStatus();
    const log = n.raw.entries(first, last + 1);
    for (const [index, key] of this.committed) {
      const term = Number(key.slice(0, key.indexOf('/')));
      if (term >= leaderTerm || index < first) continue;
      if (index > last) {
        throw new SafetyViolation(`Leader Completeness: leader ${n.id} (term ${leaderTerm}) lacks committed entry ${index}`);
      }
      const e = log[index - first];
      if (entryKey(e) !== key) {
        throw new SafetyViolation(`Leader Completeness: leader ${n.id} (term ${leaderTerm}) has ${entryKey(e)} at ${index}, committed ${key}`);
      }
    }
  }

  /** Checks run after every action. */
  checkInvariants(): void {
    const up = this.upNodes();
    for (const n of up) {
      if (n.raw.softState().state === StateType.Leader) {
        const term = n.raw.term();
        const seen = this.leaderOfTerm.get(term);
        if (seen === undefined) this.leaderOfTerm.set(term, n.id);
        else if (seen !== n.id) throw new SafetyViolation(`Election Safety: ${seen} and ${n.id} both lead term ${term}`);
        this.checkLeaderCompleteness(n);
      }
    }
    this.checkLogMatching(up);
  }

  /** Log Matching (§5.3): same index and term implies identical logs up to there. */
  private checkLogMatching(up: readonly SimNode[]): void {
    const logs = up.map((n) => {
      const { firstIndex, lastIndex } = n.raw.basicStatus();
      return { first: firstIndex, last: lastIndex, entries: n.raw.entries(firstIndex, lastIndex + 1) };
    });
    for (let a = 0; a < up.length; a++) {
      for (let b = a + 1; b < up.length; b++) {
        const la = logs[a];
        const lb = logs[b];
        const lo = Math.max(la.first, lb.first);
        const hi = Math.min(la.last, lb.last);
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const ea = la.entries[i - la.first];
          const eb = lb.entries[i - lb.first];
          const ta = ea.term;
          const tb = eb.term;
          if (!matched) {
            if (ta === tb) matched = true;
            else continue;
          }
          if (ta !== tb) {
            throw new SafetyViolation(`Log Matching: ${up[a].id} and ${up[b].id} agree at a later index but differ at ${i}`);
          }
          if (entryKey(ea) !== entryKey(eb)) {
            throw new SafetyViolation(`Log Matching: ${up[a].id} and ${up[b].id} hold different entries at ${i} with term ${ta}`);
          }
        }
      }
    }
  }

  // ------------------------------------------------------------------ liveness

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.upNodes()) {
      if (n.raw.softState().state === StateType.Leader && (!best || n.raw.term() > best.raw.term())) best = n;
    }
    return best;
  }

  /** Ticks a healthy cluster until it has a leader (so schedules start from a working group). */
  warmUp(maxTicks = 200): void {
    for (let t = 0; t < maxTicks; t++) {
      this.tickAll();
      this.deliverAll();
      this.checkInvariants();
      const leader = this.leader();
      if (!leader) continue;
      const { hardState, lastIndex } = leader.raw.basicStatus();
      if (hardState.commit >= lastIndex) return;
    }
    throw new SafetyViolation(`no leader within ${maxTicks} ticks of a healthy start: ${this.describe()}`);
  }

  /**
   * Heals every fault, then requires that within `maxTicks` ticks a leader is elected, a fresh
   * proposal commits, and every member has applied everything committed.
   */
  healAndConverge(maxTicks: number): { ticks: number } {
    this.heal();
    for (const n of this.nodes.values()) if (!n.up) this.restart(n);
    for (const n of this.nodes.values()) if (n.pending) this.readyPhase2(n);
    this.deliverAll();
    let proposed: string | null = null;
    let proposedIndex = 0;
    for (let t = 0; t < maxTicks; t++) {
      this.tickAll();
      this.deliverAll();
      this.checkInvariants();
      const leader = this.leader();
      if (!leader) continue;
      if (proposed === null) {
        proposed = `final-${this.nextValue++}`;
        try {
          leader.raw.propose(enc.encode(proposed));
          proposedIndex = leader.raw.basicStatus().lastIndex;
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
          proposed = null;
        }
        continue;
      }
      const committedKey = this.committed.get(proposedIndex);
      if (committedKey === undefined || !committedKey.endsWith(`/${proposed}`)) {
        // The proposal may have been lost with a leader change: propose again.
        if (committedKey !== undefined) proposed = null;
        continue;
      }
      const allApplied = [...leader.raw.status().progress.keys()].every((id) => {
        const node = this.nodes.get(id);
        return node !== undefined && node.appliedIndex >= this.maxCommitted;
      });
      if (allApplied) return { ticks: t };
    }
    throw new SafetyViolation(`no progress within ${maxTicks} ticks after healing: ${this.describe()}`);
  }

  describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        const st = n.raw.basicStatus();
        return `${n.id}${n.up ? '' : '(down)'}${n.up && n.raw.isQuiet() ? '(quiet)' : ''}: ${st.softState.state} term=${st.hardState.term} lead=${st.softState.lead} commit=${st.hardState.commit} applied=${n.appliedIndex} last=${st.lastIndex} voters=${st.config.voters.join(',')} learners=${st.config.learners.join(',')}`;
      })
      .join('; ');
  }
}
