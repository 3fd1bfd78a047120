/**
 * UnstableLog (src/raft/log_unstable.ts): entries and a snapshot accepted by the core and not yet
 * persisted by the host. Table-driven, in the manner of etcd-io/raft's log_unstable_test.go.
 */
import { describe, expect, it } from 'vitest';
import { RaftInvariantError } from '../../src/raft/index.js';
import type { Entry, Snapshot } from '../../src/raft/index.js';
import { UnstableLog } from '../../src/raft/log_unstable.js';
import { ents, ids, snapshotAt } from './support/entries.js';

function unstable(offset: number, entries: Entry[], snapshot: Snapshot | null = null): UnstableLog {
  const u = new UnstableLog(offset);
  u.entries = entries;
  u.snapshot = snapshot;
  return u;
}

describe('UnstableLog first and last index', () => {
  // [entries from offset 5, snapshot index (0: none), want first, want last]
  const cases: Array<[string, Entry[], number, number | null, number | null]> = [
    ['entries, no snapshot', ents(5, 1), 0, null, 5],
    ['nothing at all', [], 0, null, null],
    ['entries after a snapshot', ents(5, 1), 4, 5, 5],
    ['a snapshot alone', [], 4, 5, 4],
  ];
  it.each(cases)('%s', (_, entries, snapIndex, wantFirst, wantLast) => {
    const u = unstable(5, entries, snapIndex > 0 ? snapshotAt(snapIndex, 1) : null);
    // The first index is known only from a snapshot: without one, storage has the first entry.
    expect(u.maybeFirstIndex()).toBe(wantFirst);
    expect(u.maybeLastIndex()).toBe(wantLast);
  });
});

describe('UnstableLog.maybeTerm', () => {
  // [entries from offset 5, snapshot 4/1 or none, index, want term]
  const cases: Array<[string, Entry[], boolean, number, number | null]> = [
    ['an unstable entry', ents(5, 1), false, 5, 1],
    ['past the end', ents(5, 1), false, 6, null],
    ['before the offset (stable)', ents(5, 1), false, 4, null],
    ['an entry after a snapshot', ents(5, 1), true, 5, 1],
    ['past the end, after a snapshot', ents(5, 1), true, 6, null],
    ['the snapshot index', ents(5, 1), true, 4, 1],
    ['before the snapshot', ents(5, 1), true, 3, null],
    ['the snapshot index, no entries', [], true, 4, 1],
    ['nothing unstable', [], false, 5, null],
  ];
  it.each(cases)('%s', (_, entries, withSnap, index, want) => {
    expect(unstable(5, entries, withSnap ? snapshotAt(4, 1) : null).maybeTerm(index)).toBe(want);
  });
});

describe('UnstableLog.stableTo', () => {
  // [entries from offset, snapshot, stable (index, term), want offset, want entries left]
  const cases: Array<[string, number, Entry[], Snapshot | null, number, number, number, number]> = [
    ['nothing unstable', 0, [], null, 5, 1, 0, 0],
    ['the only entry', 5, ents(5, 1), null, 5, 1, 6, 0],
    ['the first of two', 5, ents(5, 1, 1), null, 5, 1, 6, 1],
    ['a term that does not match (replaced meanwhile)', 6, ents(6, 2), null, 6, 1, 6, 1],
    ['an index already stable', 5, ents(5, 1), null, 4, 1, 5, 1],
    ['an index already stable, other term', 5, ents(5, 1), null, 4, 2, 5, 1],
    ['the first entry after a snapshot', 5, ents(5, 1), snapshotAt(4, 1), 5, 1, 6, 0],
    ['the first of two after a snapshot', 5, ents(5, 1, 1), snapshotAt(4, 1), 5, 1, 6, 1],
    ['a mismatching term after a snapshot', 6, ents(6, 2), snapshotAt(5, 1), 6, 1, 6, 1],
    ['the snapshot index (stableSnapTo handles that)', 5, ents(5, 1), snapshotAt(4, 1), 4, 1, 5, 1],
    ['the snapshot index with another term', 5, ents(5, 2), snapshotAt(4, 2), 4, 1, 5, 1],
  ];
  it.each(cases)('%s', (_, offset, entries, snap, index, term, wantOffset, wantLen) => {
    const u = unstable(offset, entries, snap);
    u.stableTo(index, term);
    expect(u.offset).toBe(wantOffset);
    expect(u.entries).toHaveLength(wantLen);
    expect(u.snapshot).toBe(snap);
  });
});

describe('UnstableLog.truncateAndAppend', () => {
  // [entries from offset 5, appended, want offset, want entries]
  const cases: Array<[string, Entry[], Entry[], number, string[]]> = [
    ['append at the end', ents(5, 1), ents(6, 1, 1), 5, ['5/1', '6/1', '7/1']],
    ['replace all from the offset', ents(5, 1), ents(5, 2, 2), 5, ['5/2', '6/2']],
    ['replace all from before the offset (into the stable part)', ents(5, 1), ents(4, 2, 2, 2), 4, ['4/2', '5/2', '6/2']],
    ['truncate after the first and append', ents(5, 1, 1, 1), ents(6, 2), 5, ['5/1', '6/2']],
    ['truncate the last and append', ents(5, 1, 1, 1), ents(7, 2, 2), 5, ['5/1', '6/1', '7/2', '8/2']],
    ['nothing unstable, append at the offset', [], ents(5, 1), 5, ['5/1']],
  ];
  it.each(cases)('%s', (_, entries, appended, wantOffset, want) => {
    const u = unstable(5, entries);
    u.truncateAndAppend(appended);
    expect(u.offset).toBe(wantOffset);
    expect(ids(u.entries)).toEqual(want);
  });

  it('refuses a gap after the last entry, and leaves the log as it was', () => {
    const u = unstable(5, ents(5, 1));
    expect(() => u.truncateAndAppend(ents(7, 1))).toThrow(RaftInvariantError);
    expect(ids(u.entries)).toEqual(['5/1']);
    const empty = unstable(5, []);
    expect(() => empty.truncateAndAppend(ents(6, 1))).toThrow(RaftInvariantError);
    expect(empty.entries).toEqual([]);
  });

  it('does not alias the caller array when it replaces everything', () => {
    const u = unstable(5, ents(5, 1));
    const given = ents(5, 2);
    u.truncateAndAppend(given);
    u.truncateAndAppend(ents(6, 2));
    expect(ids(given)).toEqual(['5/2']);
  });
});

describe('UnstableLog snapshots', () => {
  it('restore drops every entry and starts after the snapshot', () => {
    const u = unstable(5, ents(5, 1, 1), snapshotAt(4, 1));
    const snap = snapshotAt(6, 2);
    u.restore(snap);
    expect(u.offset).toBe(7);
    expect(u.entries).toEqual([]);
    expect(u.snapshot).toBe(snap);
    expect([u.maybeFirstIndex(), u.maybeLastIndex(), u.maybeTerm(6)]).toEqual([7, 6, 2]);
  });

  it('stableSnapTo clears only the snapshot it names', () => {
    const u = unstable(5, [], snapshotAt(4, 1));
    u.stableSnapTo(3);
    expect(u.snapshot).not.toBeNull();
    u.stableSnapTo(4);
    expect(u.snapshot).toBeNull();
    u.stableSnapTo(4);
    expect(u.snapshot).toBeNull();
  });
});

describe('UnstableLog.slice', () => {
  it('returns [lo, hi) of the unstable entries by index', () => {
    const u = unstable(5, ents(5, 1, 2, 3));
    expect(ids(u.slice(5, 8))).toEqual(['5/1', '6/2', '7/3']);
    expect(ids(u.slice(6, 7))).toEqual(['6/2']);
    expect(u.slice(6, 6)).toEqual([]);
  });
});
