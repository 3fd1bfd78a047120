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
import { MessageType, StateType } from '../../src/raft/index.js';
import { SafetyViolation, ScenarioError, type ScenarioInterpreter, parseScript, renderScript, runScript } from './scenarios/interpreter.js';

const dir = fileURLToPath(new URL('./scenarios/testdata/', import.meta.url));
const rewrite = process.env.REWRITE === '1';

/** Highest term any node reached. */
function maxTerm(s: ScenarioInterpreter): number {
  return Math.max(...[...s.nodes.values()].map((n) => n.raw.term()));
}

/** Delivered messages of a type, optionally only those to or from a node. */
function deliveredOf(s: ScenarioInterpreter, type: string, filter: { to?: string; from?: string } = {}) {
  return s.delivered.filter((m) => m.type === type && (!filter.to || m.to === filter.to) && (!filter.from || m.from === filter.from));
}

function appliedValues(s: ScenarioInterpreter): Set<string> {
  return new Set(s.appliedHistory.map((a) => a.key));
}

function voters(s: ScenarioInterpreter, id: string): string {
  return [...s.nodes.get(id)!.raw.basicStatus().config.voters].sort().join(',');
}

/** Per-scenario checks of the property the scenario demonstrates. */
const properties: Record<string, (s: ScenarioInterpreter) => void> = {
  election_basic(s) {
    expect(s.leaderOfTerm.get(2)).toBe('n1');
  },
  election_split_vote(s) {
    expect(s.leaderOfTerm.has(2)).toBe(false);
    expect(s.leaderOfTerm.has(3)).toBe(true);
  },
  election_stale_log(s) {
    // n3 lacked the committed 2/5 and never led; n2, which had it, did.
    expect(s.leaderOfTerm.has(3)).toBe(false);
    expect(s.leaderOfTerm.get(4)).toBe('n2');
    expect(s.committedAt.get(5)).toBe('2/5:x');
  },
  figure8(s) {
    // 2/7:x reached a majority in term 4 but was never committed, so overwriting it was safe.
    expect(s.committedAt.get(7)).toBe('3/7');
    expect(appliedValues(s).has('2/7:x')).toBe(false);
    for (const n of s.nodes.values()) expect(n.raw.logTerm(7)).toBe(3);
  },
  figure8_current_term(s) {
    expect(s.committedAt.get(7)).toBe('2/7:x');
    expect(s.committedAt.get(8)).toBe('4/8');
    expect(s.leaderOfTerm.has(5)).toBe(false);
    expect(appliedValues(s).has('3/7')).toBe(false);
  },
  partitioned_leader(s) {
    const applied = appliedValues(s);
    expect(applied.has('2/8:b') || applied.has('2/9:c')).toBe(false);
    expect(s.committedAt.get(9)).toBe('3/9:d');
    expect(s.role('n1')).toBe(StateType.Follower);
  },
  rejoin_conflicting_tail(s) {
    // One rejection per rejoining follower, and the leader's second MsgApp repaired the tail.
    expect(s.sentTotal.get('MsgAppResp(reject)')).toBe(2);
    for (const id of ['n1', 'n2']) expect(deliveredOf(s, MessageType.MsgApp, { from: 'n4', to: id })).toHaveLength(2);
  },
  removed_node(s) {
    expect(maxTerm(s)).toBe(2);
    expect([...s.leaderOfTerm.keys()]).toEqual([2]);
    expect(deliveredOf(s, MessageType.MsgPreVote, { from: 'n3' }).length).toBeGreaterThan(0);
    expect(deliveredOf(s, MessageType.MsgPreVoteResp, { to: 'n3' })).toHaveLength(0);
  },
  removed_node_prevote_rejected(s) {
    expect(maxTerm(s)).toBe(2);
    expect([...s.leaderOfTerm.keys()]).toEqual([2]);
    const answers = deliveredOf(s, MessageType.MsgPreVoteResp, { to: 'n3' });
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((m) => m.reject)).toBe(true);
  },
  prevote_rejoin(s) {
    expect(maxTerm(s)).toBe(2);
    expect([...s.leaderOfTerm.keys()]).toEqual([2]);
  },
  prevote_disabled_rejoin(s) {
    expect(maxTerm(s)).toBeGreaterThan(2);
    expect(s.role('n1')).toBe(StateType.Follower);
  },
  check_quorum(s) {
    expect(s.role('n1')).toBe(StateType.Follower);
    expect(s.leaderOfTerm.get(3)).toBe('n3');
  },
  quiescence(s) {
    // The false alarm (a PreVote from a follower whose host wrongly thought the leader down) moved
    // no term; the real loss of the quiet leader was repaired in the next term, by a follower.
    expect([...s.leaderOfTerm.keys()].sort()).toEqual([2, 3]);
    expect(s.leaderOfTerm.get(2)).toBe('n1');
    expect(['n2', 'n3']).toContain(s.leaderOfTerm.get(3));
    expect(maxTerm(s)).toBe(3);
    expect(s.reads.get('r1')).toEqual({ node: 'n3', index: 6 });
    // The refusal of a stale quiesce heartbeat reached the leader.
    expect(deliveredOf(s, MessageType.MsgHeartbeatResp, { to: 'n1' }).some((m) => m.reject)).toBe(true);
    for (const v of ['a', 'b', 'c', 'd', 'e']) expect([...appliedValues(s)].some((k) => k.endsWith(`:${v}`))).toBe(true);
  },
  read_index(s) {
    for (const ctx of ['r1', 'r2', 'r3', 'r4', 'r5']) expect(s.reads.get(ctx)).toEqual({ node: 'n1', index: 4 });
    expect(s.reads.get('r6')).toEqual({ node: 'n2', index: 5 });
  },
  read_index_deposed_leader(s) {
    expect(s.reads.get('r1')?.index).toBeNull();
  },
  leader_transfer(s) {
    expect(s.leaderOfTerm.get(3)).toBe('n2');
    expect(s.leaderOfTerm.get(4)).toBe('n3');
  },
  membership(s) {
    for (const id of ['n1', 'n3', 'n4']) expect(voters(s, id)).toBe('n1,n3,n4');
  },
  membership_snapshot(s) {
    expect(deliveredOf(s, MessageType.MsgSnap, { to: 'n4' })).toHaveLength(1);
    expect(voters(s, 'n4')).toBe('n1,n2,n3,n4');
  },
  membership_remove_leader(s) {
    expect(s.leaderOfTerm.get(3)).toBe('n2');
    expect(voters(s, 'n1')).toBe('n2,n3');
    expect(s.role('n1')).toBe(StateType.Follower);
  },
  vote_persist(s) {
    // The only vote of n2 in term 2 that ever left n2 went to n3.
    expect(s.votesSent.get(2)?.get('n2')).toBe('n3');
    expect(s.leaderOfTerm.get(2)).toBe('n3');
  },
  vote_persisted_survives_crash(s) {
    expect(s.votesSent.get(2)?.get('n2')).toBe('n1');
    expect(s.leaderOfTerm.has(2)).toBe(false);
  },
  snapshot(s) {
    expect(s.sentTotal.get(MessageType.MsgSnap)).toBe(3);
    expect(deliveredOf(s, MessageType.MsgSnap, { to: 'n3' })).toHaveLength(1);
    expect(deliveredOf(s, MessageType.MsgSnap, { to: 'n2' })).toHaveLength(1);
  },
};

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

describe('raft scenarios (testdata/*.txt)', () => {
  it('every scenario has a property check, and every check a scenario', () => {
    const names = files.map((f) => f.slice(0, -'.txt'.length)).sort();
    expect(Object.keys(properties).sort()).toEqual(names);
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

describe('the scenario interpreter', () => {
  it('renders a script with its output and reads it back to the same commands', () => {
    const text = '# c\ncluster voters=3\ncampaign n1\nstatus\n\nlog n1\n';
    const { rendered } = runScript(text);
    expect(rendered).toContain('campaign n1\n----\nn1 is pre-candidate term=1 lead=none\n\nstatus\n----\n');
    const again = parseScript(rendered);
    expect(again.filter((l) => l.kind === 'command').map((l) => l.text)).toEqual(['cluster voters=3', 'campaign n1', 'status', 'log n1']);
    // Without outputs, a rendering keeps the commands, comments and blank lines.
    expect(renderScript(parseScript(text), new Map())).toBe(text);
    expect(runScript(rendered).rendered).toBe(rendered);
  });

  it('fails a script whose expectation does not hold, naming the line', () => {
    expect(() => runScript('cluster voters=3\ncampaign n1\nstabilize\nexpect-leader n2\n')).toThrow(/line 4 \(expect-leader n2\): expected n2 to lead/);
    expect(() => runScript('cluster voters=3\nbogus n1\n')).toThrow(ScenarioError);
  });

  it('catches a host that sends a vote before persisting it', () => {
    const script = [
      'cluster voters=3 prevote=false',
      'campaign n1',
      'process-ready n1',
      'deliver-msgs to=n2',
      'process-ready n2 persist=false unsafe-send-all=true',
    ].join('\n');
    expect(() => runScript(script)).toThrow(SafetyViolation);
    expect(() => runScript(script)).toThrow(/n2 sends a vote for n1 in term 2 its disk does not hold/);
  });
});
