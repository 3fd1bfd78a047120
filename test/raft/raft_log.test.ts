/**
 * RaftLog (src/raft/raft_log.ts): the stable entries in a LogStorage followed by the unstable ones,
 * with the commit and apply marks. Table-driven, in the manner of etcd-io/raft's log_test.go.
 */
import { describe, expect, it } from 'vitest';
import { CompactedError, MemoryStorage, RaftInvariantError, UnavailableError } from '../../src/raft/index.js';
import type { Entry } from '../../src/raft/index.js';
import { RaftLog } from '../../src/raft/raft_log.js';
import { ents, ids, ownTerms, snapshotAt } from './support/entries.js';

const noLimit = Number.POSITIVE_INFINITY;
/** entrySize() of an entry with an empty payload. */
const entryBytes = 24;

/** A log over an empty storage holding `unstable` (appended, not yet persisted). */
function logWith(unstable: readonly Entry[], maxApplyBytes = noLimit): RaftLog {
  const log = new RaftLog(new MemoryStorage(), maxApplyBytes);
  log.append(unstable);
  return log;
}

describe('RaftLog.findConflict', () => {
  // The log holds 1/1 2/2 3/3.
  const cases: Array<[string, Entry[], number]> = [
    ['nothing given', [], 0],
    ['all present', ents(1, 1, 2, 3), 0],
    ['a present suffix', ents(2, 2, 3), 0],
    ['the last entry', ents(3, 3), 0],
    ['present, then new entries', ents(1, 1, 2, 3, 4, 4), 4],
    ['a suffix, then new entries', ents(2, 2, 3, 4, 5), 4],
    ['the last, then new', ents(3, 3, 4, 4), 4],
    ['only new entries', ents(4, 4, 4), 4],
    ['conflict at the first entry', ents(1, 4, 4), 1],
    ['conflict in the middle', ents(2, 1, 4, 4), 2],
    ['conflict at the last entry', ents(3, 1, 2, 4, 4), 3],
  ];
  it.each(cases)('%s', (_, given, want) => {
    expect(logWith(ents(1, 1, 2, 3)).findConflict(given)).toBe(want);
  });
});

describe('RaftLog.findConflictByTerm', () => {
  // [index, term] -> [index, term] of the last entry at or below index whose term is <= term.
  const fromOne: Array<[number, number, number, number]> = [
    [100, 2, 100, 0], // past the end: the term is unknown, so it may match
    [5, 6, 5, 5],
    [5, 5, 5, 5],
    [5, 4, 2, 2],
    [5, 2, 2, 2],
    [5, 1, 0, 0],
    [1, 2, 1, 2],
    [1, 1, 0, 0],
    [0, 0, 0, 0],
  ];
  it.each(fromOne)('log 2,2,5,5,5 from index 1: (%i, term %i) -> %i/%i', (index, term, wantIndex, wantTerm) => {
    expect(logWith(ents(1, 2, 2, 5, 5, 5)).findConflictByTerm(index, term)).toEqual([wantIndex, wantTerm]);
  });

  // A snapshot at 10/3, then 11..15 with terms 3,3,4,4,4.
  const compacted: Array<[number, number, number, number]> = [
    [30, 3, 30, 0], // past the end
    [14, 9, 14, 4],
    [14, 4, 14, 4],
    [14, 3, 12, 3],
    [14, 2, 9, 0], // runs past the snapshot: below it the term is unknown
    [11, 5, 11, 3],
    [10, 5, 10, 3], // the snapshot's own index still has its term
    [10, 3, 10, 3],
    [10, 2, 9, 0],
    [9, 2, 9, 0], // compacted
    [4, 2, 4, 0],
    [0, 0, 0, 0],
  ];
  it.each(compacted)('compacted log: (%i, term %i) -> %i/%i', (index, term, wantIndex, wantTerm) => {
    const storage = new MemoryStorage();
    storage.applySnapshot(snapshotAt(10, 3));
    const log = new RaftLog(storage, noLimit);
    log.append(ents(11, 3, 3, 4, 4, 4));
    expect(log.findConflictByTerm(index, term)).toEqual([wantIndex, wantTerm]);
    // The term it reports is the log's own term at that index (0 where unknown).
    expect(log.term(wantIndex)).toBe(wantTerm);
  });
});

describe('RaftLog.isUpToDate (§5.4.1: later last term wins, then the longer log)', () => {
  // The log ends at 3/3.
  const cases: Array<[number, number, boolean]> = [
    [2, 4, true],
    [3, 4, true],
    [4, 4, true],
    [2, 2, false],
    [3, 2, false],
    [4, 2, false],
    [2, 3, false],
    [3, 3, true],
    [4, 3, true],
  ];
  it.each(cases)('candidate last index %i term %i: %s', (lastIndex, lastTerm, want) => {
    expect(logWith(ents(1, 1, 2, 3)).isUpToDate(lastIndex, lastTerm)).toBe(want);
  });
});

describe('RaftLog.append', () => {
  // Storage holds 1/1 2/2 (stable); the appended entries become unstable.
  const cases: Array<[string, Entry[], number, string[], number]> = [
    ['nothing', [], 2, ['1/1', '2/2'], 3],
    ['after the end', ents(3, 2), 3, ['1/1', '2/2', '3/2'], 3],
    ['replacing everything from index 1', ents(1, 2), 1, ['1/2'], 1],
    ['replacing from index 2', ents(2, 3, 3), 3, ['1/1', '2/3', '3/3'], 2],
  ];
  it.each(cases)('%s', (_, given, wantLast, wantLog, wantUnstableOffset) => {
    const storage = new MemoryStorage();
    storage.append(ents(1, 1, 2));
    const log = new RaftLog(storage, noLimit);
    expect(log.append(given)).toBe(wantLast);
    expect(ids(log.allEntries())).toEqual(wantLog);
    expect(log.unstable.offset).toBe(wantUnstableOffset);
    // What is stable ends where the unstable entries begin, whatever storage still holds.
    expect(log.stableLastIndex()).toBe(wantUnstableOffset - 1);
  });

  it('refuses to overwrite a committed entry', () => {
    const log = logWith(ents(1, 1, 2, 3));
    log.commitTo(2);
    expect(() => log.append(ents(2, 4))).toThrow(RaftInvariantError);
    expect(ids(log.allEntries())).toEqual(['1/1', '2/2', '3/3']);
    // Right after the commit index is fine.
    expect(log.append(ents(3, 4))).toBe(3);
  });

  it('refuses entries that would leave a gap after the last index', () => {
    const log = logWith(ents(1, 1, 2));
    expect(() => log.append(ents(4, 2))).toThrow(RaftInvariantError);
    expect(ids(log.allEntries())).toEqual(['1/1', '2/2']);
    const stableOnly = new RaftLog(storageWith(ents(1, 1, 2)), noLimit);
    expect(() => stableOnly.append(ents(4, 2))).toThrow(RaftInvariantError);
    expect(stableOnly.lastIndex()).toBe(2);
  });
});

function storageWith(entries: readonly Entry[]): MemoryStorage {
  const storage = new MemoryStorage();
  storage.append(entries);
  return storage;
}

describe('RaftLog.maybeAppend (§5.3 AppendEntries on the follower)', () => {
  // The log holds 1/1 2/2 3/3, committed up to 1. Cases: [prev index, prev term, leader commit,
  // entries, want return (null: rejected), want commit, want tail].
  type Case = [string, number, number, number, Entry[], number | null, number];
  const cases: Case[] = [
    ['prev term differs', 3, 2, 3, ents(4, 4), null, 1],
    ['prev index past the end', 4, 3, 3, ents(5, 4), null, 1],
    ['matches the last entry, nothing new', 3, 3, 3, [], 3, 3],
    ['commit is capped at the last new index', 3, 3, 4, [], 3, 3],
    ['commit follows the leader', 3, 3, 2, [], 3, 2],
    ['commit never decreases', 3, 3, 0, [], 3, 1],
    ['the empty prefix always matches', 0, 0, 3, [], 0, 1],
    ['appends after the last entry', 3, 3, 3, ents(4, 4), 4, 3],
    ['commit up to the new entry', 3, 3, 4, ents(4, 4), 4, 4],
    ['commit capped at the new entry', 3, 3, 5, ents(4, 4), 4, 4],
    ['two new entries', 3, 3, 5, ents(4, 4, 4), 5, 5],
    ['replaces the last entry', 2, 2, 3, ents(3, 4), 3, 3],
    ['replaces from the middle', 1, 1, 3, ents(2, 4), 2, 2],
    ['replaces from the middle, longer', 1, 1, 3, ents(2, 4, 4), 3, 3],
    // The entries past what this message covers may not be the leader's: commit stops at it.
    ['a message covering a prefix commits only that prefix', 1, 1, 3, ents(2, 2), 2, 2],
    ['an empty probe commits only up to its index', 2, 2, 3, [], 2, 2],
  ];
  it.each(cases)('%s', (_, prevIndex, prevTerm, commit, given, want, wantCommit) => {
    const log = logWith(ents(1, 1, 2, 3));
    log.commitTo(1);
    expect(log.maybeAppend(prevIndex, prevTerm, commit, given)).toBe(want);
    expect(log.committed).toBe(wantCommit);
    if (want !== null && given.length > 0) {
      expect(ids(log.slice(given[0].index, given[given.length - 1].index + 1, noLimit))).toEqual(ids(given));
    }
    if (want === null) expect(ids(log.allEntries())).toEqual(['1/1', '2/2', '3/3']);
  });

  it('keeps a longer matching tail: entries it already has are not a conflict', () => {
    const log = logWith(ents(1, 1, 2, 3));
    // A delayed MsgApp carrying only 2/2: the log keeps 3/3 after it.
    expect(log.maybeAppend(1, 1, 0, ents(2, 2))).toBe(2);
    expect(ids(log.allEntries())).toEqual(['1/1', '2/2', '3/3']);
  });

  it('refuses a conflict with a committed entry', () => {
    const log = logWith(ents(1, 1, 2, 3));
    log.commitTo(1);
    expect(() => log.maybeAppend(0, 0, 3, ents(1, 4))).toThrow(RaftInvariantError);
  });
});

describe('RaftLog.commitTo', () => {
  const cases: Array<[number, number | 'throws']> = [
    [3, 3],
    [1, 2], // never decreases
    [4, 'throws'], // past the last index
  ];
  it.each(cases)('commitTo(%i) from 2 -> %s', (index, want) => {
    const log = logWith(ents(1, 1, 2, 3));
    log.commitTo(2);
    if (want === 'throws') {
      expect(() => log.commitTo(index)).toThrow(RaftInvariantError);
      expect(log.committed).toBe(2);
    } else {
      log.commitTo(index);
      expect(log.committed).toBe(want);
    }
  });
});

describe('RaftLog.term', () => {
  // A storage snapshot at 100/1, then 101..199 with term = index - 100.
  function log(): RaftLog {
    const storage = new MemoryStorage();
    storage.applySnapshot(snapshotAt(100, 1));
    const l = new RaftLog(storage, noLimit);
    l.append(Array.from({ length: 99 }, (_, i) => ents(101 + i, 1 + i)[0]));
    return l;
  }
  const cases: Array<[string, number, number]> = [
    ['compacted', 99, 0],
    ['the snapshot index', 100, 1],
    ['in the middle', 150, 50],
    ['the last index', 199, 99],
    ['past the end', 200, 0],
  ];
  it.each(cases)('%s (%i) -> %i', (_, index, want) => {
    expect(log().term(index)).toBe(want);
  });

  it('with an unstable snapshot ahead of the storage, knows only that snapshot', () => {
    const storage = new MemoryStorage();
    storage.applySnapshot(snapshotAt(100, 1));
    const l = new RaftLog(storage, noLimit);
    l.restore(snapshotAt(105, 2));
    expect(l.term(100)).toBe(0); // the storage's snapshot is no longer part of the log
    expect(l.term(101)).toBe(0); // the gap between the two snapshots
    expect(l.term(104)).toBe(0);
    expect(l.term(105)).toBe(2);
    expect(l.term(106)).toBe(0);
    expect([l.firstIndex(), l.lastIndex()]).toEqual([106, 105]);
  });
});

describe('RaftLog.slice', () => {
  // Snapshot at 100; storage holds 101..149, unstable 150..199; term = index.
  const offset = 100;
  const half = 150;
  const last = 200;
  function log(): RaftLog {
    const storage = new MemoryStorage();
    storage.applySnapshot(snapshotAt(offset, 1));
    storage.append(ownTerms(offset + 1, half));
    const l = new RaftLog(storage, noLimit);
    l.append(ownTerms(half, last));
    return l;
  }
  const range = (lo: number, hi: number): string[] => ids(ownTerms(lo, hi));

  it('refuses a compacted low bound and a high bound past the end', () => {
    expect(() => log().slice(offset - 1, offset + 1, noLimit)).toThrow(CompactedError);
    expect(() => log().slice(offset, offset + 1, noLimit)).toThrow(CompactedError);
    expect(() => log().slice(last - 1, last + 1, noLimit)).toThrow(UnavailableError);
    expect(() => log().slice(last, last + 1, noLimit)).toThrow(UnavailableError);
  });

  const unlimited: Array<[number, number]> = [
    [offset + 1, offset + 1],
    [offset + 1, half - 1],
    [offset + 1, half],
    [offset + 1, half + 1],
    [offset + 1, last],
    [half - 1, half],
    [half - 1, half + 1],
    [half - 1, last],
    [half, half + 1],
    [half, last],
    [last - 1, last],
  ];
  it.each(unlimited)('[%i, %i) without a limit, across the stable/unstable boundary', (lo, hi) => {
    expect(ids(log().slice(lo, hi, noLimit))).toEqual(range(lo, hi));
  });

  // [lo, hi, maxBytes, want hi]: every entry is 24 bytes; at least one is always returned.
  const limited: Array<[number, number, number, number]> = [
    [offset + 1, last, 0, offset + 2],
    [half - 1, half + 1, 0, half],
    [half, last, 0, half + 1],
    [half + 1, last, 0, half + 2],
    [offset + 1, last, entryBytes - 1, offset + 2],
    [half - 1, half + 1, entryBytes - 1, half],
    [half, last, entryBytes, half + 1],
    [offset + 1, last, entryBytes + 1, offset + 2],
    [half - 1, half + 1, entryBytes + 1, half],
    [offset + 1, last, entryBytes * 2, offset + 3],
    [half - 2, half + 1, entryBytes * 2, half], // both from storage
    [half - 1, half + 1, entryBytes * 2, half + 1], // one stable, one unstable
    [half, last, entryBytes * 2, half + 2],
    [half - 2, half + 1, entryBytes * 3 - 1, half],
    [half - 1, half + 2, entryBytes * 3, half + 2],
  ];
  it.each(limited)('[%i, %i) within %i bytes -> up to %i', (lo, hi, maxBytes, wantHi) => {
    expect(ids(log().slice(lo, hi, maxBytes))).toEqual(range(lo, wantHi));
  });

  it('when storage stops at the byte limit, adds no unstable entry after the gap', () => {
    // Storage's entries() stops before the boundary: the unstable part must not be glued on.
    const got = log().slice(half - 3, half + 2, entryBytes * 2);
    expect(ids(got)).toEqual(range(half - 3, half - 1));
  });

  it('an empty range is empty wherever it is', () => {
    expect(log().slice(half, half, noLimit)).toEqual([]);
    expect(log().slice(last, last, noLimit)).toEqual([]);
  });
});

describe('RaftLog: compaction under it', () => {
  it('keeps answering terms, unstable entries and appends after the storage compacts', () => {
    // 1..750 stable, 751..1000 unstable, term = index; everything committed and applied.
    const storage = storageWith(ownTerms(1, 751));
    const log = new RaftLog(storage, noLimit);
    log.append(ownTerms(751, 1001));
    expect(log.maybeCommit(1000, 1000)).toBe(true);
    log.appliedTo(log.committed);

    storage.compact(500);
    expect(log.firstIndex()).toBe(501);
    expect(log.lastIndex()).toBe(1000);
    for (let i = 500; i <= 1000; i++) {
      expect(log.term(i)).toBe(i);
      expect(log.matchTerm(i, i)).toBe(true);
    }
    expect(log.term(499)).toBe(0);
    expect(log.matchTerm(499, 499)).toBe(false);
    expect(() => log.slice(500, 501, noLimit)).toThrow(CompactedError);

    const unstable = log.unstableEntries();
    expect(unstable).toHaveLength(250);
    expect(unstable[0].index).toBe(751);

    expect(log.append(ents(1001, 1001))).toBe(1001);
    expect(ids(log.entriesFrom(1001, noLimit))).toEqual(['1001/1001']);
  });
});

describe('RaftLog: stable and unstable hand-off', () => {
  const cases: Array<[string, number, number, number]> = [
    ['the first entry', 1, 1, 2],
    ['both entries', 2, 2, 3],
    ['a term that does not match (the entry was replaced)', 2, 1, 1],
    ['an index past the end', 3, 1, 1],
  ];
  it.each(cases)('stableTo %s', (_, index, term, wantOffset) => {
    const log = logWith(ents(1, 1, 2));
    log.stableTo(index, term);
    expect(log.unstable.offset).toBe(wantOffset);
  });

  // A storage snapshot at 5/2; [stable index, term, appended, want unstable offset].
  const withSnapshot: Array<[number, number, Entry[], number]> = [
    [6, 2, [], 6],
    [5, 2, [], 6],
    [4, 2, [], 6],
    [6, 3, [], 6],
    [5, 3, [], 6],
    [4, 3, [], 6],
    [6, 2, ents(6, 2), 7],
    [5, 2, ents(6, 2), 6],
    [4, 2, ents(6, 2), 6],
    [6, 3, ents(6, 2), 6],
    [5, 3, ents(6, 2), 6],
    [4, 3, ents(6, 2), 6],
  ];
  it.each(withSnapshot)('after a snapshot at 5/2: stableTo(%i, %i) -> offset %i', (index, term, appended, wantOffset) => {
    const storage = new MemoryStorage();
    storage.applySnapshot(snapshotAt(5, 2));
    const log = new RaftLog(storage, noLimit);
    log.append(appended);
    log.stableTo(index, term);
    expect(log.unstable.offset).toBe(wantOffset);
  });

  it('unstable entries are those not yet persisted, and only those', () => {
    const storage = storageWith(ents(1, 1));
    const log = new RaftLog(storage, noLimit);
    log.append(ents(2, 2, 2));
    expect(ids(log.unstableEntries())).toEqual(['2/2', '3/2']);
    expect(log.stableLastIndex()).toBe(1);
    storage.append(log.unstableEntries());
    log.stableTo(3, 2);
    expect(log.unstableEntries()).toEqual([]);
    expect(log.stableLastIndex()).toBe(3);
    // A follower's conflicting append below the stable end makes the replaced part unstable
    // again, and the stale stable tail no longer counts as stable.
    log.append(ents(3, 3));
    expect(log.stableLastIndex()).toBe(2);
    expect(ids(log.allEntries())).toEqual(['1/1', '2/2', '3/3']);
  });
});

describe('RaftLog: committed entries handed out for applying', () => {
  // A snapshot at 3/1 in storage; 4 stable; 5, 6 unstable; committed up to 5.
  function log(applied: number, applying: number, maxApplyBytes = noLimit, storage = new MemoryStorage()): RaftLog {
    storage.applySnapshot(snapshotAt(3, 1));
    storage.append(ents(4, 1));
    const l = new RaftLog(storage, maxApplyBytes);
    l.append(ents(4, 1, 1, 1));
    l.stableTo(4, 1);
    expect(l.maybeCommit(5, 1)).toBe(true);
    l.appliedTo(applied);
    l.acceptApplying(applying);
    return l;
  }

  // [applied, applying, next committed entries, durable ones]
  const cases: Array<[number, number, string[], string[]]> = [
    [3, 3, ['4/1', '5/1'], ['4/1']],
    [3, 4, ['5/1'], []],
    [3, 5, [], []],
    [4, 4, ['5/1'], []],
    [4, 5, [], []],
    [5, 5, [], []],
  ];
  it.each(cases)('applied %i, applying %i', (applied, applying, wantNext, wantDurable) => {
    const l = log(applied, applying);
    expect(ids(l.nextCommittedEntries())).toEqual(wantNext);
    expect(l.hasNextCommittedEntries()).toBe(wantNext.length > 0);
    // Only persisted entries may be applied while a newer Ready's fsync is in flight.
    expect(ids(l.durableCommittedEntries())).toEqual(wantDurable);
  });

  it('none while a snapshot waits to be persisted', () => {
    const l = log(3, 3);
    l.restore(snapshotAt(6, 1));
    expect(l.nextCommittedEntries()).toEqual([]);
    expect(l.hasNextCommittedEntries()).toBe(false);
    expect(l.durableCommittedEntries()).toEqual([]);
    expect(l.stableLastIndex()).toBe(0);
  });

  it('bounds a batch in bytes, but always hands out at least one entry', () => {
    expect(ids(log(3, 3, 0).nextCommittedEntries())).toEqual(['4/1']);
    expect(ids(log(3, 3, entryBytes * 2 - 1).nextCommittedEntries())).toEqual(['4/1']);
    expect(ids(log(3, 3, entryBytes * 2).nextCommittedEntries())).toEqual(['4/1', '5/1']);
  });

  it('durable entries follow the stable mark', () => {
    const storage = new MemoryStorage();
    const l = log(3, 4, noLimit, storage);
    expect(l.durableCommittedEntries()).toEqual([]);
    // The host persists first, then reports the entries stable.
    storage.append(ents(5, 1, 1));
    expect(l.durableCommittedEntries()).toEqual([]);
    l.stableTo(6, 1);
    // 5 is now stable and committed; 6 is stable but not committed.
    expect(ids(l.durableCommittedEntries())).toEqual(['5/1']);
  });

  it('appliedTo stays within [applied, committed] and pulls applying along', () => {
    const l = log(3, 3);
    expect(() => l.appliedTo(6)).toThrow(RaftInvariantError); // past commit
    l.appliedTo(5);
    expect([l.applied, l.applying]).toEqual([5, 5]);
    expect(() => l.appliedTo(4)).toThrow(RaftInvariantError); // backwards
    l.appliedTo(0); // nothing to report
    expect(l.applied).toBe(5);
  });
});

describe('RaftLog: snapshots', () => {
  it('starts after the storage snapshot, committed and applied up to it', () => {
    const storage = new MemoryStorage();
    storage.applySnapshot(snapshotAt(1000, 1000));
    const log = new RaftLog(storage, noLimit);
    expect(log.allEntries()).toEqual([]);
    expect(log.firstIndex()).toBe(1001);
    expect([log.committed, log.applied, log.applying]).toEqual([1000, 1000, 1000]);
    expect(log.unstable.offset).toBe(1001);
    expect(log.term(1000)).toBe(1000);
  });

  it('restore replaces the whole log with an unstable snapshot until it is persisted', () => {
    const log = new RaftLog(storageWith(ents(1, 1, 1, 2)), noLimit);
    log.commitTo(2);
    log.restore(snapshotAt(10, 3));
    expect([log.firstIndex(), log.lastIndex(), log.committed]).toEqual([11, 10, 10]);
    expect(log.term(10)).toBe(3);
    expect(log.term(2)).toBe(0);
    expect(log.snapshot().metadata.index).toBe(10);
    expect(log.matchTerm(10, 3)).toBe(true);
    // Entries after it are unstable as usual.
    expect(log.append(ents(11, 3))).toBe(11);
    expect(ids(log.unstableEntries())).toEqual(['11/3']);
    log.stableSnapTo(9); // another snapshot: nothing happens
    expect(log.unstable.snapshot).not.toBeNull();
    log.stableSnapTo(10);
    expect(log.unstable.snapshot).toBeNull();
  });
});
