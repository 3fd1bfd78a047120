/**
 * Deterministic Raft scenarios, in the style of etcd-io/raft's `testdata/*.txt`: a text script of
 * commands runs against a small in-memory group of RawNodes, and what it prints is compared with
 * the output saved in the script itself.
 *
 * ## File format
 *
 * A script is a sequence of lines:
 *
 *   # a comment                      kept as is
 *                                    (blank lines are kept as is and end an output block)
 *   campaign n1                      a command
 *   stabilize                        a command with output: `----`, then its output lines,
 *   ----                             up to the next blank line (output lines are never blank)
 *   n1->n2 MsgVote term=2 logTerm=1 index=3
 *
 * To check a script, the interpreter runs its commands, renders the script again with the actual
 * output under each command (a command that prints nothing gets no `----` block), and the test
 * compares that rendering with the file. `REWRITE=1 npx vitest run test/raft/scenarios.test.ts`
 * writes the rendering back: write the commands, rewrite, then READ the output, because it is
 * the assertion. The `expect-*` commands are assertions that hold whatever the saved output says;
 * they fail the test even while rewriting. scenarios.test.ts also asserts each scenario's point on
 * the interpreter's history (leaders by term, committed and applied entries, delivered messages).
 *
 * ## The model
 *
 * Each node is a MemoryNode (support/memory_host.ts, the host the simulation runs too): a Disk
 * that survives crashes (exactly what its Readies persisted), a MemoryStorage rebuilt from the
 * Disk on restart, and a state machine that records applied entries. The network is one FIFO queue: a node's Ready puts its messages on it, `stabilize` and
 * `deliver-msgs` take them off. A partition is checked when a message is delivered. Election
 * jitter comes from a SeededRandom per node and incarnation; nothing reads a clock or Math.random.
 *
 * Host rules the interpreter follows (and checks): `messages` leave when the Ready is taken,
 * `persistedMessages` only after the Ready is persisted; a granted MsgVoteResp may leave only if
 * the voter's disk holds that vote, an accepting MsgAppResp only if its disk holds the entries.
 * After every command it also checks Election Safety, Log Matching, that committed entries never
 * differ, and that no voter's granted vote reached two candidates of one term.
 *
 * ## Commands (node ids are n1, n2, ...; `[x]` is optional)
 *
 *   cluster voters=3 [prevote=true] [checkquorum=true] [election=10] [heartbeat=1]
 *           [maxsize=1048576] [maxinflight=256] [seed=1]     first command: bootstraps n1..nN
 *   add-node n4                       starts an empty node (to be added with propose-conf)
 *   tick n1 [count=1]                 ticks one node; its messages wait for a Ready
 *   tick-all [count=1]                count times: tick every up node once, then stabilize
 *   campaign n1 | propose n1 value [expect=ok|dropped] | read-index n1 ctx
 *   propose-conf n1 add-learner|add-voter|remove n4 [expect=ok|dropped]
 *   transfer-leader n1 n2             asks n1 (the leader) to hand leadership to n2
 *   quiesce n1 [down=n3,n4]           n1 (a leader) goes quiet if idle, leaving out the members
 *                                     the host's node liveness says are down
 *   wake n2 [leader-lost=true]        the host wakes n2 (leader-lost: its leader's node looks down)
 *   stabilize [n1 n2 ...]             process Readies (finishing held ones) and deliver messages
 *                                     until quiet; with ids, only those nodes' Readies and the
 *                                     messages addressed to them (the others stay queued)
 *   deliver-msgs [from=n1] [to=n2] [type=MsgApp] [drop=true]   delivers (or drops) the queued
 *                                     messages that match, in order, without processing Readies
 *   process-ready n1 [persist=false]  takes n1's Ready and prints it; persists, sends, applies
 *                                     and advances, or with persist=false only sends `messages`
 *                                     and holds the rest until `persist n1` (a crash loses it)
 *   persist n1                        finishes a held Ready
 *   (process-ready n1 persist=false unsafe-send-all=true plays a broken host that sends
 *   persistedMessages before persisting; only the test of the checks uses it)
 *   partition n1 n2 | n3 n4 n5        cuts links between groups (unlisted nodes form one more
 *                                     group); isolate n1 = partition n1 | everyone else
 *   heal | crash n1 | compact n1 (snapshot at applied index, drop the log up to it)
 *   restart n1                        rebuilds n1 from its disk; like a real host it knows its
 *                                     membership only after applying its committed log again
 *                                     (process-ready or stabilize), so campaign first says so
 *   status | log [n1 ...] | progress n1
 *   hide-msgs MsgHeartbeat ...        stop printing those types (a command still prints how many
 *                                     it hid); show-msgs prints everything again
 *   counts                            prints the messages sent since the last `counts`, by type
 *                                     (rejections also as e.g. MsgAppResp(reject))
 *
 * Assertions:
 *
 *   expect n1 state=leader term=2 lead=n1 vote=n1 commit=6 applied=6 last=7 first=1
 *             voters=n1,n2,n3 learners=n4 up=true quiet=false
 *   expect-leader n2 [term=3]         n2 is up and leader (of that term)
 *   expect-no-leader [term=3]         with term: nobody ever led that term; without: no up leader
 *   expect-committed 3/7 | expect-never-committed 2/7 | expect-never-applied 2/7  (term/index)
 *   expect-read r1 index=7 | expect-read r1 released=false
 *   expect-counts MsgHeartbeat=2 ...  messages sent since the last `counts`
 *
 * ## Output
 *
 *   n1->n2 MsgApp term=2 logTerm=2 index=5 commit=5 entries=[2/6:v]   a delivered message
 *   n1->n2 MsgHeartbeat term=2 commit=5 (dropped: partitioned)        one that was not
 *   n2 is follower term=2 lead=n1      a change of role, term or known leader
 *   n1 applies add-learner(n4): voters=n1,n2,n3 learners=n4
 *   n1 read r1 index=7                 a ReadState handed to the host
 *   n1 warns: ...                      a warning the core logged
 *
 * Entries print as term/index[:data]; a conf change as add-voter(n4), add-learner(n4),
 * remove(n4); an empty entry (a leader's no-op) as term/index alone. `log` prints `|` after the
 * last committed entry when uncommitted entries follow.
 */
import {
  ConfChangeType,
  EntryType,
  MessageType,
  ProgressState,
  ProposalDroppedError,
  StateType,
  bootstrapLog,
  decodeConfChange,
  defaultRaftConfig,
} from '../../../src/raft/index.js';
import type { ConfChange, Entry, Message, Ready, Snapshot, StateType as Role } from '../../../src/raft/index.js';
import { SeededRandom } from '../../../src/util/random.js';
import {
  type Disk,
  MemoryNode,
  type MemoryHostOptions,
  type ReadyHandler,
  SafetyViolation,
  bootstrappedDisk,
  diskLastIndex,
  emptyDisk,
  hashString,
  reportSnapshotOutcome,
} from '../support/memory_host.js';

export { SafetyViolation };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A script line that could not be run, or an `expect-*` that did not hold. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

// ------------------------------------------------------------------ script files

export interface ScriptLine {
  readonly kind: 'comment' | 'blank' | 'command';
  readonly text: string;
  readonly lineNo: number;
}

/** Splits a script into comments, blank lines and commands; saved output blocks are skipped. */
export function parseScript(text: string): ScriptLine[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const items: ScriptLine[] = [];
  let inOutput = false;
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (inOutput) {
      if (line.trim() === '') {
        inOutput = false;
        items.push({ kind: 'blank', text: '', lineNo });
      }
      return;
    }
    if (line.trim() === '') items.push({ kind: 'blank', text: '', lineNo });
    else if (line.startsWith('#')) items.push({ kind: 'comment', text: line, lineNo });
    else if (line === '----') {
      if (items[items.length - 1]?.kind !== 'command') throw new ScenarioError(`line ${lineNo}: ---- must follow a command`);
      inOutput = true;
    } else items.push({ kind: 'command', text: line.trim(), lineNo });
  });
  return items;
}

/** The script with each command's output under it (see the file format above). */
export function renderScript(items: readonly ScriptLine[], outputs: ReadonlyMap<number, readonly string[]>): string {
  const out: string[] = [];
  items.forEach((item, i) => {
    out.push(item.text);
    if (item.kind !== 'command') return;
    const lines = outputs.get(i) ?? [];
    if (lines.length === 0) return;
    out.push('----', ...lines);
    const next = items[i + 1];
    if (next !== undefined && next.kind !== 'blank') out.push('');
  });
  return `${out.join('\n')}\n`;
}

/** Runs a whole script; returns its rendering (to compare with the file) and the final state. */
export function runScript(text: string): { rendered: string; interpreter: ScenarioInterpreter } {
  const items = parseScript(text);
  const interpreter = new ScenarioInterpreter();
  const outputs = new Map<number, string[]>();
  items.forEach((item, i) => {
    if (item.kind !== 'command') return;
    try {
      outputs.set(i, interpreter.run(item.text));
    } catch (err) {
      // Show what the script printed up to the failing command: that is where to look.
      outputs.set(i, interpreter.partialOutput());
      const soFar = renderScript(items.slice(0, i + 1), outputs);
      const e = err as Error;
      const Kind = e instanceof SafetyViolation ? SafetyViolation : ScenarioError;
      throw new Kind(`line ${item.lineNo} (${item.text}): ${e.message}\n--- the script up to there:\n${soFar}`);
    }
  });
  return { rendered: renderScript(items, outputs), interpreter };
}

// ------------------------------------------------------------------ formatting

function formatConfChange(cc: ConfChange): string {
  const kind = cc.type === ConfChangeType.AddVoter ? 'add-voter' : cc.type === ConfChangeType.AddLearner ? 'add-learner' : 'remove';
  return `${kind}(${cc.nodeId})`;
}

/** term/index, then `:data`, or `:add-voter(n4)` for a membership change. */
export function formatEntry(e: Entry): string {
  const id = `${e.term}/${e.index}`;
  if (e.type === EntryType.ConfChange) return `${id}:${formatConfChange(decodeConfChange(e.data))}`;
  return e.data.length === 0 ? id : `${id}:${dec.decode(e.data)}`;
}

/** A ReadIndex round context (read_only.ts: 'R' then a float64 round id) or the host's text. */
function formatContext(ctx: Uint8Array): string {
  if (ctx.length === 9 && ctx[0] === 0x52) {
    return `round#${new DataView(ctx.buffer, ctx.byteOffset, ctx.byteLength).getFloat64(1)}`;
  }
  return dec.decode(ctx);
}

function formatSnapshotMeta(s: Snapshot): string {
  const { index, term, confState } = s.metadata;
  const learners = confState.learners.length > 0 ? ` learners=${confState.learners.join(',')}` : '';
  return `${term}/${index} voters=${confState.voters.join(',')}${learners}`;
}

/** One message on one line, with the fields its type uses. */
export function formatMessage(m: Message): string {
  const parts = [`${m.from}->${m.to} ${m.type} term=${m.term}`];
  const ctx = m.context && m.context.length > 0 ? ` ctx=${formatContext(m.context)}` : '';
  switch (m.type) {
    case MessageType.MsgApp:
      parts.push(`logTerm=${m.logTerm} index=${m.index} commit=${m.commit} entries=[${m.entries.map(formatEntry).join(' ')}]`);
      break;
    case MessageType.MsgAppResp:
      parts.push(`index=${m.index}`);
      if (m.reject) parts.push(`reject rejectHint=${m.rejectHint} logTerm=${m.logTerm}`);
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      parts.push(`logTerm=${m.logTerm} index=${m.index}${ctx}`);
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      // A rejection also tells the candidate how far the voter knows the log is committed.
      if (m.reject) parts.push(`reject commit=${m.commit} logTerm=${m.logTerm}`);
      break;
    case MessageType.MsgHeartbeat:
      parts.push(`commit=${m.commit}${ctx}`);
      if (m.quiesce) parts.push(`quiesce index=${m.index} logTerm=${m.logTerm}`);
      break;
    case MessageType.MsgHeartbeatResp:
      if (m.reject) parts.push('reject');
      if (ctx) parts.push(ctx.trim());
      break;
    case MessageType.MsgSnap:
      if (m.snapshot) parts.push(`snapshot=${formatSnapshotMeta(m.snapshot)}`);
      break;
    case MessageType.MsgProp:
      parts.push(`entries=[${m.entries.map(formatEntry).join(' ')}]`);
      break;
    case MessageType.MsgReadIndexResp:
      parts.push(`index=${m.index}${ctx}`);
      break;
    default:
      if (ctx) parts.push(ctx.trim());
      break;
  }
  return parts.join(' ');
}

/** What the safety checks compare: two entries are the same entry when their keys are equal. */
const entryKey = formatEntry;

function byNodeId(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

// ------------------------------------------------------------------ the group

/** A node of the group; a Ready taken with persist=false stays `pending` until `persist`. */
class ScenarioNode extends MemoryNode {
  /** Last printed role, term and leader. */
  seen = '';
}

interface GroupOptions {
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly seed: number;
}

interface ReadRecord {
  readonly node: string;
  index: number | null;
}

/** One event in the history the assertions read. */
export interface AppliedEvent {
  readonly node: string;
  readonly incarnation: number;
  readonly index: number;
  readonly key: string;
}

type Args = ReadonlyMap<string, string>;

export class ScenarioInterpreter {
  readonly nodes = new Map<string, ScenarioNode>();
  /** Messages sent and not yet delivered or dropped, in send order. */
  queue: Message[] = [];
  private groups: Map<string, number> | null = null;
  private options: GroupOptions | null = null;

  // History, for the checks and for the assertions of scenarios.test.ts.
  /** Every node that was ever leader, by term. */
  readonly leaderOfTerm = new Map<number, string>();
  /** The entry committed at each index (by any node, at any time). */
  readonly committedAt = new Map<number, string>();
  /** Every entry any node ever applied, in order. */
  readonly appliedHistory: AppliedEvent[] = [];
  /** Granted votes that left a node: term -> voter -> candidate. */
  readonly votesSent = new Map<number, Map<string, string>>();
  /** Every message handed to the network, by type (never reset). */
  readonly sentTotal = new Map<string, number>();
  /** Every message delivered to a node, in order (never reset). */
  readonly delivered: Message[] = [];
  readonly reads = new Map<string, ReadRecord>();
  private sentSinceCounts = new Map<string, number>();
  private hidden = new Set<string>();
  private hiddenCounts = new Map<string, { delivered: number; dropped: number }>();
  private out: string[] = [];
  /** Applying the bootstrap entries prints nothing: every script starts from that group. */
  private quiet = false;

  /** What the command that failed printed before it failed. */
  partialOutput(): string[] {
    return this.out;
  }

  /** Runs one command line and returns what it printed. */
  run(line: string): string[] {
    this.out = [];
    this.hiddenCounts = new Map();
    const [name, ...rest] = line.split(/\s+/);
    const args = new Map<string, string>();
    const positional: string[] = [];
    for (const token of rest) {
      const eq = token.indexOf('=');
      if (eq > 0) args.set(token.slice(0, eq), token.slice(eq + 1));
      else positional.push(token);
    }
    if (name !== 'cluster' && this.options === null) throw new ScenarioError('the first command must be `cluster`');
    this.dispatch(name, positional, args);
    this.checkInvariants();
    if (this.hiddenCounts.size > 0) {
      const parts = [...this.hiddenCounts].map(([type, c]) => `${c.delivered + c.dropped} ${type}${c.dropped > 0 ? ` (${c.dropped} dropped)` : ''}`);
      this.out.push(`(hidden: ${parts.join(', ')})`);
    }
    return this.out;
  }

  private dispatch(name: string, pos: readonly string[], args: Args): void {
    switch (name) {
      case 'cluster':
        return this.cluster(args);
      case 'add-node':
        return this.addNode(this.arg(pos, 0, 'node id'));
      case 'tick': {
        const n = this.upNode(pos[0]);
        for (let i = 0; i < this.intArg(args, 'count', 1); i++) {
          n.raw.tick();
          this.noteChanges(n);
        }
        return;
      }
      case 'tick-all':
        for (let i = 0; i < this.intArg(args, 'count', 1); i++) {
          for (const n of this.upNodes()) {
            n.raw.tick();
            this.noteChanges(n);
          }
          this.stabilize(null);
        }
        return;
      case 'campaign': {
        const n = this.upNode(pos[0]);
        // The core ignores a campaign silently; say so, or a script could test nothing.
        if (!n.raw.basicStatus().config.voters.includes(n.id)) this.out.push(`${n.id} cannot campaign: not a voter in its configuration (yet)`);
        n.raw.campaign();
        this.noteChanges(n);
        return;
      }
      case 'propose': {
        const n = this.upNode(pos[0]);
        const value = this.arg(pos, 1, 'value');
        return this.tryPropose(n, args, () => n.raw.propose(enc.encode(value)));
      }
      case 'propose-conf': {
        const n = this.upNode(pos[0]);
        const cc = this.parseConfChange(pos);
        return this.tryPropose(n, args, () => n.raw.proposeConfChange(cc));
      }
      case 'read-index': {
        const n = this.upNode(pos[0]);
        const ctx = this.arg(pos, 1, 'context');
        if (this.reads.has(ctx)) throw new ScenarioError(`read context ${ctx} was used already`);
        this.reads.set(ctx, { node: n.id, index: null });
        n.raw.readIndex(enc.encode(ctx));
        return;
      }
      case 'quiesce': {
        // As the host does it: the leader goes quiet if idle; `down=` names the members node
        // liveness reports down (left out).
        const n = this.upNode(pos[0]);
        const down = new Set((args.get('down') ?? '').split(',').filter((id) => id !== ''));
        const quiet = n.raw.quiesce((id) => !down.has(id));
        if (!quiet) this.out.push(`${n.id} stays awake`);
        else if (n.raw.quietExcluded().length > 0) this.out.push(`${n.id} left out ${n.raw.quietExcluded().join(',')}`);
        this.noteChanges(n);
        return;
      }
      case 'wake': {
        // As the host does it: `leader-lost=true` when node liveness says the leader's node is down.
        const n = this.upNode(pos[0]);
        if (this.boolArg(args, 'leader-lost', false)) n.raw.leaderLost();
        else n.raw.wake();
        this.noteChanges(n);
        return;
      }
      case 'transfer-leader': {
        const n = this.upNode(pos[0]);
        n.raw.transferLeader(this.arg(pos, 1, 'target'));
        this.noteChanges(n);
        return;
      }
      case 'stabilize':
        return this.stabilize(pos.length > 0 ? new Set(pos.map((id) => this.node(id).id)) : null);
      case 'deliver-msgs':
        return this.deliverMsgs(args);
      case 'process-ready': {
        const n = this.upNode(pos[0]);
        if (n.pending) throw new ScenarioError(`${n.id} holds a Ready: persist it first`);
        const rd = n.takeReady();
        if (!rd) {
          this.out.push(`${n.id}: no Ready`);
          return;
        }
        this.printReady(n, rd);
        this.sendMessages(n, rd.messages);
        if (args.get('persist') === 'false') {
          // A broken host, for the test that shows the vote checks catch it.
          if (this.boolArg(args, 'unsafe-send-all', false)) this.sendMessages(n, rd.persistedMessages);
          this.out.push(`  (${n.id} holds it: not persisted yet)`);
          return;
        }
        n.finishPending(this.handler);
        return;
      }
      case 'persist': {
        const n = this.upNode(pos[0]);
        if (!n.finishPending(this.handler)) throw new ScenarioError(`${n.id} holds no Ready`);
        return;
      }
      case 'partition':
        return this.partition(pos);
      case 'isolate': {
        const n = this.node(pos[0]);
        return this.partition([n.id, '|', ...this.ids().filter((id) => id !== n.id)]);
      }
      case 'heal':
        this.groups = null;
        return;
      case 'crash':
        return this.crash(this.upNode(pos[0]));
      case 'restart':
        return this.restart(this.node(pos[0]));
      case 'compact':
        return this.compact(this.upNode(pos[0]));
      case 'status':
        for (const id of this.ids()) this.out.push(this.statusLine(this.node(id)));
        return;
      case 'log':
        for (const id of pos.length > 0 ? pos : this.ids()) this.out.push(this.logLine(this.node(id)));
        return;
      case 'progress':
        return this.printProgress(this.upNode(pos[0]));
      case 'hide-msgs':
        for (const t of pos) this.hidden.add(t);
        return;
      case 'show-msgs':
        this.hidden.clear();
        return;
      case 'counts': {
        const parts = [...this.sentSinceCounts].sort(([a], [b]) => a.localeCompare(b)).map(([t, c]) => `${t}=${c}`);
        this.out.push(parts.length > 0 ? `sent: ${parts.join(' ')}` : 'sent: nothing');
        this.sentSinceCounts = new Map();
        return;
      }
      case 'expect':
        return this.expectFields(this.node(pos[0]), args);
      case 'expect-leader': {
        const n = this.node(pos[0]);
        if (!n.up || n.raw.softState().state !== StateType.Leader) throw new ScenarioError(`expected ${n.id} to lead, it is ${this.statusLine(n)}`);
        if (args.has('term') && n.raw.term() !== Number(args.get('term'))) {
          throw new ScenarioError(`expected ${n.id} to lead term ${args.get('term')}, it leads term ${n.raw.term()}`);
        }
        return;
      }
      case 'expect-no-leader': {
        if (args.has('term')) {
          const term = Number(args.get('term'));
          const leader = this.leaderOfTerm.get(term);
          if (leader !== undefined) throw new ScenarioError(`expected no leader of term ${term}, ${leader} led it`);
          return;
        }
        const leaders = this.upNodes().filter((n) => n.raw.softState().state === StateType.Leader);
        if (leaders.length > 0) throw new ScenarioError(`expected no leader, ${leaders.map((n) => n.id).join(',')} lead`);
        return;
      }
      case 'expect-committed': {
        const [term, index] = this.entryId(pos[0]);
        const seen = this.committedAt.get(index);
        if (seen === undefined || !seen.startsWith(`${term}/${index}`)) {
          throw new ScenarioError(`expected ${term}/${index} committed, index ${index} holds ${seen ?? 'nothing committed'}`);
        }
        return;
      }
      case 'expect-never-committed': {
        const [term, index] = this.entryId(pos[0]);
        const seen = this.committedAt.get(index);
        if (seen !== undefined && seen.startsWith(`${term}/${index}`)) throw new ScenarioError(`${seen} was committed`);
        return;
      }
      case 'expect-never-applied': {
        const [term, index] = this.entryId(pos[0]);
        const hit = this.appliedHistory.find((a) => a.index === index && a.key.startsWith(`${term}/${index}`));
        if (hit) throw new ScenarioError(`${hit.node} applied ${hit.key}`);
        return;
      }
      case 'expect-read': {
        const ctx = this.arg(pos, 0, 'context');
        const read = this.reads.get(ctx);
        if (!read) throw new ScenarioError(`no read ${ctx} was asked for`);
        if (args.get('released') === 'false') {
          if (read.index !== null) throw new ScenarioError(`read ${ctx} was released at index ${read.index}`);
        } else if (read.index === null || (args.has('index') && read.index !== Number(args.get('index')))) {
          throw new ScenarioError(`expected read ${ctx} released at ${args.get('index') ?? 'any index'}, got ${read.index ?? 'not released'}`);
        }
        return;
      }
      case 'expect-counts':
        for (const [type, want] of args) {
          const got = this.sentSinceCounts.get(type) ?? 0;
          if (got !== Number(want)) throw new ScenarioError(`expected ${want} ${type} sent since the last counts, got ${got}`);
        }
        return;
      default:
        throw new ScenarioError(`unknown command ${name}`);
    }
  }

  // ------------------------------------------------------------------ argument helpers

  private arg(pos: readonly string[], i: number, what: string): string {
    const v = pos[i];
    if (v === undefined) throw new ScenarioError(`missing ${what}`);
    return v;
  }

  private intArg(args: Args, key: string, dflt: number): number {
    const v = args.get(key);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ScenarioError(`${key}=${v} is not a count`);
    return n;
  }

  private boolArg(args: Args, key: string, dflt: boolean): boolean {
    const v = args.get(key);
    if (v === undefined) return dflt;
    if (v !== 'true' && v !== 'false') throw new ScenarioError(`${key}=${v}: want true or false`);
    return v === 'true';
  }

  private entryId(s: string | undefined): [number, number] {
    const m = /^(\d+)\/(\d+)$/.exec(s ?? '');
    if (!m) throw new ScenarioError(`want an entry as term/index, got ${s}`);
    return [Number(m[1]), Number(m[2])];
  }

  private parseConfChange(pos: readonly string[]): ConfChange {
    const kind = this.arg(pos, 1, 'change kind');
    const nodeId = this.arg(pos, 2, 'node id');
    const type = { 'add-learner': ConfChangeType.AddLearner, 'add-voter': ConfChangeType.AddVoter, remove: ConfChangeType.RemoveNode }[kind];
    if (type === undefined) throw new ScenarioError(`unknown change ${kind}`);
    return { type, nodeId };
  }

  private node(id: string | undefined): ScenarioNode {
    const n = id === undefined ? undefined : this.nodes.get(id);
    if (!n) throw new ScenarioError(`no node ${id}`);
    return n;
  }

  private upNode(id: string | undefined): ScenarioNode {
    const n = this.node(id);
    if (!n.up) throw new ScenarioError(`${n.id} is down`);
    return n;
  }

  ids(): string[] {
    return [...this.nodes.keys()].sort(byNodeId);
  }

  upNodes(): ScenarioNode[] {
    return this.ids()
      .map((id) => this.node(id))
      .filter((n) => n.up);
  }

  // ------------------------------------------------------------------ lifecycle

  private cluster(args: Args): void {
    if (this.options !== null) throw new ScenarioError('cluster exists already');
    const voters = this.intArg(args, 'voters', 3);
    this.options = {
      preVote: this.boolArg(args, 'prevote', defaultRaftConfig.preVote),
      checkQuorum: this.boolArg(args, 'checkquorum', defaultRaftConfig.checkQuorum),
      electionTick: this.intArg(args, 'election', 10),
      heartbeatTick: this.intArg(args, 'heartbeat', 1),
      maxSizePerMsg: this.intArg(args, 'maxsize', defaultRaftConfig.maxSizePerMsg),
      maxInflightMsgs: this.intArg(args, 'maxinflight', defaultRaftConfig.maxInflightMsgs),
      seed: this.intArg(args, 'seed', 1),
    };
    const ids = Array.from({ length: voters }, (_, i) => `n${i + 1}`);
    const boot = bootstrapLog(ids);
    for (const id of ids) this.nodes.set(id, this.startNode(id, bootstrappedDisk(boot), 0));
    // Apply the bootstrap entries, as a host does on its first Ready, so that scripts start from
    // a group that knows its members.
    this.quiet = true;
    for (const id of ids) {
      const n = this.node(id);
      while (n.takeReady()) n.finishPending(this.handler);
    }
    this.quiet = false;
  }

  private addNode(id: string): void {
    if (this.nodes.has(id)) throw new ScenarioError(`${id} exists already`);
    this.nodes.set(id, this.startNode(id, emptyDisk(), 0));
  }

  private startNode(id: string, disk: Disk, incarnation: number): ScenarioNode {
    const node = new ScenarioNode(id, disk, incarnation, this.host);
    node.seen = this.roleOf(node);
    return node;
  }

  /** How this group's nodes are configured (set by `cluster`). */
  private readonly host: MemoryHostOptions = {
    raftConfig: (id, incarnation, applied) => {
      const o = this.options as GroupOptions;
      return {
        ...defaultRaftConfig,
        id,
        electionTick: o.electionTick,
        heartbeatTick: o.heartbeatTick,
        maxSizePerMsg: o.maxSizePerMsg,
        maxInflightMsgs: o.maxInflightMsgs,
        preVote: o.preVote,
        checkQuorum: o.checkQuorum,
        applied,
        random: new SeededRandom(hashString(`${o.seed}:${id}#${incarnation}`)),
        // The core's warnings are events worth seeing in a scenario; its info and debug lines
        // repeat what the role changes already show.
        logger: {
          debug() {},
          info() {},
          warn: (msg: string) => this.out.push(`${id} warns: ${msg}`),
        },
      };
    },
    keyOf: entryKey,
  };

  private crash(n: ScenarioNode): void {
    n.crash();
  }

  private restart(n: ScenarioNode): void {
    if (n.up) throw new ScenarioError(`${n.id} is up`);
    const fresh = this.startNode(n.id, n.disk, n.incarnation + 1);
    this.nodes.set(n.id, fresh);
    const st = fresh.raw.basicStatus();
    this.out.push(`${n.id} restarts: ${this.roleOf(fresh)} commit=${st.hardState.commit} applied=${fresh.appliedIndex} last=${st.lastIndex}`);
  }

  /** Snapshots the applied state and drops the log up to the applied index. */
  private compact(n: ScenarioNode): void {
    if (n.pending) throw new ScenarioError(`${n.id} holds a Ready`);
    const snap = n.compact();
    this.out.push(`${n.id} compacted: snapshot ${formatSnapshotMeta(snap)}, log starts at ${n.storage.firstIndex()}`);
  }

  private tryPropose(n: ScenarioNode, args: Args, propose: () => void): void {
    const want = args.get('expect');
    try {
      propose();
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.out.push(`${n.id}: ${err.message}`);
      if (want === 'ok') throw new ScenarioError(`expected the proposal to be accepted: ${err.message}`);
      return;
    }
    if (want === 'dropped') throw new ScenarioError('expected the proposal to be dropped');
    this.noteChanges(n);
  }

  // ------------------------------------------------------------------ network

  private partition(pos: readonly string[]): void {
    const groups = new Map<string, number>();
    let g = 0;
    for (const token of pos) {
      if (token === '|') g++;
      else groups.set(this.node(token).id, g);
    }
    this.groups = groups;
  }

  private groupOf(id: string): number {
    return this.groups?.get(id) ?? -1;
  }

  private linkCut(a: string, b: string): boolean {
    return this.groups !== null && this.groupOf(a) !== this.groupOf(b);
  }

  /** Puts messages on the network, checking the host rules for what may leave a node. */
  private sendMessages(n: ScenarioNode, msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.type === MessageType.MsgVoteResp && !m.reject) {
        // A granted vote may leave only once it is durable (Figure 2: votedFor is persistent).
        if (n.disk.hardState.term !== m.term || n.disk.hardState.vote !== m.to) {
          throw new SafetyViolation(`${n.id} sends a vote for ${m.to} in term ${m.term} its disk does not hold`);
        }
        let byVoter = this.votesSent.get(m.term);
        if (!byVoter) this.votesSent.set(m.term, (byVoter = new Map()));
        const earlier = byVoter.get(n.id);
        if (earlier !== undefined && earlier !== m.to) {
          throw new SafetyViolation(`${n.id} voted for ${earlier} and for ${m.to} in term ${m.term}`);
        }
        byVoter.set(n.id, m.to);
      }
      if (m.type === MessageType.MsgAppResp && !m.reject && m.index > diskLastIndex(n.disk)) {
        throw new SafetyViolation(`${n.id} acknowledges index ${m.index} but its disk ends at ${diskLastIndex(n.disk)}`);
      }
      this.queue.push(m);
      // Rejections also count under their own key, e.g. MsgAppResp(reject).
      for (const key of m.reject ? [m.type, `${m.type}(reject)`] : [m.type]) {
        this.sentTotal.set(key, (this.sentTotal.get(key) ?? 0) + 1);
        this.sentSinceCounts.set(key, (this.sentSinceCounts.get(key) ?? 0) + 1);
      }
    }
  }

  private print(line: string, type: string, dropped: boolean): void {
    if (this.hidden.has(type)) {
      const c = this.hiddenCounts.get(type) ?? { delivered: 0, dropped: 0 };
      if (dropped) c.dropped++;
      else c.delivered++;
      this.hiddenCounts.set(type, c);
      return;
    }
    this.out.push(line);
  }

  private deliver(m: Message, drop: boolean): void {
    const target = this.nodes.get(m.to);
    let why: string | null = null;
    if (drop) why = 'dropped';
    else if (!target) why = 'dropped: no such node';
    else if (!target.up) why = `dropped: ${m.to} is down`;
    else if (this.linkCut(m.from, m.to)) why = 'dropped: partitioned';
    const line = formatMessage(m);
    this.print(why ? `${line} (${why})` : line, m.type, why !== null);
    const sender = this.nodes.get(m.from);
    if (why !== null || !target) {
      // The host learns that a snapshot did not get through, so the leader can try again.
      reportSnapshotOutcome(sender, m, false);
      return;
    }
    this.delivered.push(m);
    const refused = target.deliver(m);
    if (refused) this.out.push(`${target.id}: ${refused.message}`);
    this.noteChanges(target);
    reportSnapshotOutcome(sender, m, true);
  }

  private deliverMsgs(args: Args): void {
    const drop = this.boolArg(args, 'drop', false);
    const matches = (m: Message): boolean =>
      (!args.has('from') || m.from === args.get('from')) &&
      (!args.has('to') || m.to === args.get('to')) &&
      (!args.has('type') || m.type === args.get('type'));
    const picked = this.queue.filter(matches);
    this.queue = this.queue.filter((m) => !matches(m));
    if (picked.length === 0) this.out.push('no messages');
    for (const m of picked) this.deliver(m, drop);
  }

  /**
   * Rounds of: every node (in scope) processes its Readies, then every queued message (to a node
   * in scope) is delivered; until a round does nothing.
   */
  private stabilize(scope: ReadonlySet<string> | null): void {
    for (let round = 0; ; round++) {
      if (round > 1000) throw new ScenarioError('stabilize: no quiet point after 1000 rounds');
      let busy = false;
      for (const n of this.upNodes()) {
        if (scope && !scope.has(n.id)) continue;
        if (n.finishPending(this.handler)) busy = true;
        for (let rd = n.takeReady(); rd; rd = n.takeReady()) {
          this.sendMessages(n, rd.messages);
          n.finishPending(this.handler);
          busy = true;
        }
      }
      const batch = this.queue.filter((m) => !scope || scope.has(m.to));
      this.queue = this.queue.filter((m) => scope !== null && !scope.has(m.to));
      for (const m of batch) this.deliver(m, false);
      if (batch.length > 0) busy = true;
      if (!busy) return;
    }
  }

  // ------------------------------------------------------------------ the Ready loop (host)

  /** What this host does at each step of finishing a Ready (see MemoryNode.finishPending). */
  private readonly handler: ReadyHandler<ScenarioNode> = {
    persisted: (n, rd) => {
      this.recordCommits(n);
      this.sendMessages(n, rd.persistedMessages);
    },
    applying: (n, index, key) => this.checkApplied(n, index, key),
    appliedSnapshot: (n, snap) => this.out.push(`${n.id} applies snapshot ${formatSnapshotMeta(snap)}`),
    appliedEntry: (n, e, key) => this.appliedHistory.push({ node: n.id, incarnation: n.incarnation, index: e.index, key }),
    appliedConfChange: (n, cc, cs) => {
      if (this.quiet) return;
      const learners = cs.learners.length > 0 ? ` learners=${[...cs.learners].sort(byNodeId).join(',')}` : '';
      this.out.push(`${n.id} applies ${formatConfChange(cc)}: voters=${[...cs.voters].sort(byNodeId).join(',')}${learners}`);
    },
    readState: (n, rs) => {
      const ctx = dec.decode(rs.context);
      const read = this.reads.get(ctx);
      if (!read || read.node !== n.id) throw new SafetyViolation(`${n.id} got a ReadState for ${ctx}, which it did not ask for`);
      if (read.index === null) read.index = rs.index;
      this.out.push(`${n.id} read ${ctx} index=${rs.index}`);
    },
    advanced: (n) => this.noteChanges(n),
  };

  private printReady(n: ScenarioNode, rd: Ready): void {
    this.out.push(`${n.id} Ready:`);
    if (rd.softState) this.out.push(`  SoftState: ${rd.softState.state} lead=${rd.softState.lead || 'none'}`);
    if (rd.hardState) this.out.push(`  HardState: term=${rd.hardState.term} vote=${rd.hardState.vote || 'none'} commit=${rd.hardState.commit}`);
    if (rd.snapshot) this.out.push(`  Snapshot: ${formatSnapshotMeta(rd.snapshot)}`);
    if (rd.entries.length > 0) this.out.push(`  Entries: ${rd.entries.map(formatEntry).join(' ')}`);
    if (rd.committedEntries.length > 0) this.out.push(`  CommittedEntries: ${rd.committedEntries.map(formatEntry).join(' ')}`);
    if (rd.messages.length > 0) {
      this.out.push('  Messages:');
      for (const m of rd.messages) this.out.push(`    ${formatMessage(m)}`);
    }
    if (rd.persistedMessages.length > 0) {
      this.out.push('  PersistedMessages (sent after persisting):');
      for (const m of rd.persistedMessages) this.out.push(`    ${formatMessage(m)}`);
    }
    if (rd.readStates.length > 0) this.out.push(`  ReadStates: ${rd.readStates.map((rs) => `${dec.decode(rs.context)}@${rs.index}`).join(' ')}`);
  }

  // ------------------------------------------------------------------ printing state

  private roleOf(n: ScenarioNode): string {
    const ss = n.raw.softState();
    return `${ss.state} term=${n.raw.term()} lead=${ss.lead || 'none'}${n.raw.isQuiet() ? ' quiet' : ''}`;
  }

  /** Prints a change of role, term or leader, and records leaders for Election Safety. */
  private noteChanges(n: ScenarioNode): void {
    this.noteLeader(n);
    const now = this.roleOf(n);
    if (now !== n.seen) {
      n.seen = now;
      this.out.push(`${n.id} is ${now}`);
    }
  }

  private statusLine(n: ScenarioNode): string {
    if (!n.up) {
      const hs = n.disk.hardState;
      return `${n.id}: down (disk: term=${hs.term} vote=${hs.vote || 'none'} commit=${hs.commit} last=${diskLastIndex(n.disk)})`;
    }
    const st = n.raw.basicStatus();
    const t = st.config;
    const learners = t.learners.length > 0 ? ` learners=${[...t.learners].sort(byNodeId).join(',')}` : '';
    return (
      `${n.id}: ${st.softState.state} term=${st.hardState.term} lead=${st.softState.lead || 'none'} vote=${st.hardState.vote || 'none'} ` +
      `commit=${st.hardState.commit} applied=${n.appliedIndex} last=${st.lastIndex} ` +
      `voters=${[...t.voters].sort(byNodeId).join(',')}${learners}`
    );
  }

  private logLine(n: ScenarioNode): string {
    let entries: Entry[];
    let commit: number;
    let snapshot: { index: number; term: number } | null;
    if (n.up) {
      const st = n.raw.basicStatus();
      entries = n.raw.entries(st.firstIndex, st.lastIndex + 1);
      commit = st.hardState.commit;
      // A log that starts past 1 starts after a snapshot, whose term the log still knows.
      snapshot = st.firstIndex > 1 ? { index: st.firstIndex - 1, term: n.raw.logTerm(st.firstIndex - 1) } : null;
    } else {
      entries = n.disk.entries;
      commit = n.disk.hardState.commit;
      snapshot = n.disk.snapshot ? n.disk.snapshot.metadata : null;
    }
    const parts: string[] = [];
    if (snapshot) parts.push(`[snapshot ${snapshot.term}/${snapshot.index}]`);
    let barDone = false;
    for (const e of entries) {
      if (!barDone && e.index > commit) {
        parts.push('|');
        barDone = true;
      }
      parts.push(formatEntry(e));
    }
    if (parts.length === 0) parts.push('(empty)');
    return `${n.id}${n.up ? '' : ' (down, disk)'}: ${parts.join(' ')}`;
  }

  private printProgress(n: ScenarioNode): void {
    const st = n.raw.status();
    if (st.softState.state !== StateType.Leader) throw new ScenarioError(`${n.id} is not the leader`);
    for (const id of [...st.progress.keys()].sort(byNodeId)) {
      const pr = st.progress.get(id)!;
      const extra = pr.state === ProgressState.Snapshot ? ` pendingSnapshot=${pr.pendingSnapshot}` : '';
      const learner = pr.isLearner ? ' learner' : '';
      const paused = id !== n.id && pr.paused ? ' paused' : '';
      this.out.push(`${id}: ${pr.state} match=${pr.matchIndex} next=${pr.nextIndex}${extra}${paused}${learner}`);
    }
  }

  private expectFields(n: ScenarioNode, args: Args): void {
    const st = n.raw.basicStatus();
    const actual: Record<string, string> = {
      up: String(n.up),
      state: st.softState.state,
      term: String(st.hardState.term),
      lead: st.softState.lead || 'none',
      vote: st.hardState.vote || 'none',
      commit: String(st.hardState.commit),
      applied: String(n.appliedIndex),
      last: String(st.lastIndex),
      first: String(st.firstIndex),
      voters: [...st.config.voters].sort(byNodeId).join(','),
      learners: [...st.config.learners].sort(byNodeId).join(','),
      quiet: String(n.up && n.raw.isQuiet()),
    };
    if (!n.up) {
      actual.term = String(n.disk.hardState.term);
      actual.vote = n.disk.hardState.vote || 'none';
      actual.commit = String(n.disk.hardState.commit);
    }
    for (const [key, want] of args) {
      if (!(key in actual)) throw new ScenarioError(`expect: unknown field ${key}`);
      if (actual[key] !== want) throw new ScenarioError(`expected ${n.id} ${key}=${want}, got ${actual[key]} (${this.statusLine(n)})`);
    }
  }

  // ------------------------------------------------------------------ safety checks

  private recordCommits(n: ScenarioNode): void {
    const st = n.raw.basicStatus();
    const commit = st.hardState.commit;
    const from = Math.max(n.recordedCommit + 1, st.firstIndex);
    const entries = from <= commit ? n.raw.entries(from, commit + 1) : [];
    for (let i = from; i <= commit; i++) {
      const key = entryKey(entries[i - from]);
      const seen = this.committedAt.get(i);
      if (seen === undefined) this.committedAt.set(i, key);
      else if (seen !== key) throw new SafetyViolation(`committed entries differ at ${i}: ${seen} vs ${key} on ${n.id}`);
    }
    if (commit > n.recordedCommit) n.recordedCommit = commit;
  }

  private checkApplied(n: ScenarioNode, index: number, key: string): void {
    const committed = this.committedAt.get(index);
    if (committed !== undefined && committed !== key) {
      throw new SafetyViolation(`State Machine Safety: ${n.id} applied ${key} at ${index}, ${committed} was committed there`);
    }
    if (committed === undefined) this.committedAt.set(index, key);
  }

  private checkInvariants(): void {
    const up = this.upNodes();
    for (const n of up) this.noteLeader(n);
    // Log Matching (§5.3): two logs with an entry of the same index and term agree up to it.
    for (let a = 0; a < up.length; a++) {
      for (let b = a + 1; b < up.length; b++) {
        const sa = up[a].raw.basicStatus();
        const sb = up[b].raw.basicStatus();
        const lo = Math.max(sa.firstIndex, sb.firstIndex);
        const hi = Math.min(sa.lastIndex, sb.lastIndex);
        if (hi < lo) continue;
        const la = up[a].raw.entries(lo, hi + 1);
        const lb = up[b].raw.entries(lo, hi + 1);
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const ea = la[i - lo];
          const eb = lb[i - lo];
          if (!matched && ea.term === eb.term) matched = true;
          if (matched && entryKey(ea) !== entryKey(eb)) {
            throw new SafetyViolation(`Log Matching: ${up[a].id} and ${up[b].id} differ at ${i} below a common entry`);
          }
        }
      }
    }
  }

  private noteLeader(n: ScenarioNode): void {
    if (n.raw.softState().state !== StateType.Leader) return;
    const term = n.raw.term();
    const seen = this.leaderOfTerm.get(term);
    if (seen === undefined) this.leaderOfTerm.set(term, n.id);
    else if (seen !== n.id) throw new SafetyViolation(`Election Safety: ${seen} and ${n.id} both led term ${term}`);
  }

  /** The current role of a node (for tests). */
  role(id: string): Role {
    return this.node(id).raw.softState().state;
  }
}

