import { array, bulk, error, integer, map, type Reply } from '../../resp/reply.js';
import type { Keyspace } from '../../state/keyspace.js';
import { isOption, parseLongLong } from '../arguments.js';
import type { ReadCommandSpec } from '../command_spec.js';
import { keyRange } from '../key_specs.js';
import { notAnInteger, syntaxError } from '../replies.js';
import { PROTO_MAX_BULK_LEN } from './range.js';

/**
 * LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common subsequence,
 * by Redis's dynamic programming table (lcsCommand), walked back from the end in the same order,
 * so that among several subsequences of the same length it picks the same one, and reports the
 * same ranges. The keys are looked up before the options are read: a key of another type is
 * refused first. Missing keys are empty strings.
 */

const notStrings: Reply = Object.freeze(error('ERR The specified keys must contain string values'));
const lenAndIdx: Reply = Object.freeze(error('ERR If you want both the length and indexes, please just use IDX.'));
const tableTooLarge: Reply = Object.freeze(
  error('ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len'),
);

function readLcs(ks: Keyspace, args: readonly Buffer[], nowMs: number): Reply {
  const first = ks.get(args[1]!, nowMs);
  const second = ks.get(args[2]!, nowMs);
  if ((first !== undefined && first.type !== 'string') || (second !== undefined && second.type !== 'string')) {
    return notStrings;
  }
  const a = first?.value ?? Buffer.alloc(0);
  const b = second?.value ?? Buffer.alloc(0);
  let getLen = false;
  let getIdx = false;
  let withMatchLen = false;
  let minMatchLen = 0n;
  for (let j = 3; j < args.length; j++) {
    const option = args[j]!;
    const more = args.length - 1 - j;
    if (isOption(option, 'idx')) getIdx = true;
    else if (isOption(option, 'len')) getLen = true;
    else if (isOption(option, 'withmatchlen')) withMatchLen = true;
    else if (isOption(option, 'minmatchlen') && more > 0) {
      const parsed = parseLongLong(args[++j]!);
      if (parsed === null) return notAnInteger;
      minMatchLen = parsed < 0n ? 0n : parsed;
    } else {
      return syntaxError;
    }
  }
  if (getLen && getIdx) return lenAndIdx;
  const aLength = a.length;
  const bLength = b.length;
  if ((aLength + 1) * (bLength + 1) * 4 > PROTO_MAX_BULK_LEN) return tableTooLarge;

  // lcs[j + (bLength + 1) * i]: the LCS length of a[0, i) and b[0, j).
  const width = bLength + 1;
  const lcs = new Uint32Array((aLength + 1) * width);
  for (let i = 1; i <= aLength; i++) {
    const row = i * width;
    const above = row - width;
    for (let j = 1; j <= bLength; j++) {
      if (a[i - 1] === b[j - 1]) lcs[row + j] = lcs[above + j - 1]! + 1;
      else lcs[row + j] = Math.max(lcs[above + j]!, lcs[row + j - 1]!);
    }
  }
  const length = lcs[aLength * width + bLength]!;
  if (getLen && !getIdx) return integer(length);

  // Walk back from the end, collecting the subsequence and its ranges of adjacent matches.
  const result = Buffer.alloc(length);
  const matches: Reply[] = [];
  let idx = length;
  let aStart = aLength; // aLength: no range open
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  let i = aLength;
  let j = bLength;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a[i - 1] === b[j - 1]) {
      result[idx - 1] = a[i - 1]!;
      if (aStart === aLength) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else {
        emit = true;
      }
      if (aStart === 0 || bStart === 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      if (lcs[(i - 1) * width + j]! > lcs[i * width + j - 1]!) i--;
      else j--;
      if (aStart !== aLength) emit = true;
    }
    if (emit) {
      const matchLength = aEnd - aStart + 1;
      if (getIdx && (minMatchLen === 0n || BigInt(matchLength) >= minMatchLen)) {
        const range = [array([integer(aStart), integer(aEnd)]), array([integer(bStart), integer(bEnd)])];
        if (withMatchLen) range.push(integer(matchLength));
        matches.push(array(range));
      }
      aStart = aLength;
    }
  }
  if (!getIdx) return bulk(result);
  return map([
    [bulk('matches'), array(matches)],
    [bulk('len'), integer(length)],
  ]);
}

export const lcs = {
  name: 'lcs',
  kind: 'read',
  arity: -3,
  flags: ['readonly'],
  firstKey: 1,
  lastKey: 2,
  keyStep: 1,
  categories: ['read', 'string', 'slow'],
  summary: 'Find longest common substring',
  since: '7.0.0',
  group: 'string',
  complexity: 'O(N*M) where N and M are the lengths of s1 and s2, respectively',
  keySpecs: [keyRange(1, 1, 1, ['RO', 'access'])],
  validate: () => null,
  read: readLcs,
} as const satisfies ReadCommandSpec;
