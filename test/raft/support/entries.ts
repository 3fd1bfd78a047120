import { EntryType } from '../../../src/raft/index.js';
import type { Entry, Snapshot } from '../../../src/raft/index.js';

/**
 * Entries for table-driven log tests, as etcd's `index(i).terms(...)`: consecutive indexes from
 * `first`, one per term given. Payloads are empty, so every entry is entrySize() = 24 bytes.
 */
export function ents(first: number, ...terms: number[]): Entry[] {
  return terms.map((term, i) => ({ term, index: first + i, type: EntryType.Normal, data: new Uint8Array(0) }));
}

/** Entries lo..hi-1 whose term equals their index (etcd's termRange), handy for long logs. */
export function ownTerms(lo: number, hi: number): Entry[] {
  return ents(lo, ...Array.from({ length: hi - lo }, (_, i) => lo + i));
}

/** index/term pairs, which is what the tables compare. */
export function ids(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}`);
}

export function snapshotAt(index: number, term: number, voters: readonly string[] = ['n1']): Snapshot {
  return { metadata: { index, term, confState: { voters, learners: [] } }, data: new Uint8Array(0) };
}
