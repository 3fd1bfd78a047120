import { describe, expect, it } from 'vitest';
import { Fn, HistoryBuilder, type Outcome, type Span } from '../history.js';
import { checkHistory } from './index.js';

/** SET of a new key, DEL, and a full SCAN returning `keys`, as the scan workload records them. */
class ScanHistory {
  readonly h = new HistoryBuilder();
  add(p: number, key: string, span: Span, outcome: Outcome = 'ok'): this {
    this.h.op(p, Fn.write, key, `v-${key}`, 'OK', span, outcome);
    return this;
  }
  del(p: number, key: string, span: Span, outcome: Outcome = 'ok'): this {
    this.h.op(p, Fn.del, key, null, 1, span, outcome);
    return this;
  }
  scan(p: number, keys: string[], span: Span, outcome: Outcome = 'ok'): this {
    this.h.op(p, Fn.scan, '*', null, keys, span, outcome);
    return this;
  }
  check() {
    return checkHistory('scan', this.h.build());
  }
}

describe('scan checker: histories known to be good', () => {
  it('every key acknowledged before the SCAN and deleted after it is returned', () => {
    const r = new ScanHistory().add(1, 's:1', [0, 5]).add(1, 's:2', [6, 9]).scan(2, ['s:1', 's:2'], [10, 20]).del(1, 's:1', [25, 30]).scan(2, ['s:2'], [31, 40]).check();
    expect(r.valid, r.verdict).toBe(true);
    expect(r.stats).toMatchObject({ scans: 2, keys: 2, requiredPerScan: { max: 2 }, lastScanKeys: 1 });
  });

  it('keys added or deleted while the SCAN runs, or whose SET is unknown, may be missing or present', () => {
    for (const returned of [[], ['s:1', 's:2', 's:3']]) {
      const r = new ScanHistory()
        .add(1, 's:1', [0, 12]) // acknowledged after the SCAN began
        .add(3, 's:2', [0, 2])
        .del(3, 's:2', [15, 30]) // deleted while it ran
        .add(4, 's:3', [1, 3], 'info') // unknown outcome
        .scan(2, returned, [10, 20])
        .check();
      expect(r.valid, r.verdict).toBe(true);
    }
  });

  it('a key deleted before the SCAN whose DEL failed is still required', () => {
    const r = new ScanHistory().add(1, 's:1', [0, 5]).del(1, 's:1', [6, 8], 'fail').scan(2, [], [10, 20]).check();
    expect(r.valid).toBe(false);
    expect(r.anomalyKinds).toEqual([['missing-key', 1]]);
  });
});

describe('scan checker: broken histories are caught', () => {
  it('a SCAN that lost a key present throughout (as a group split mid-SCAN could make it)', () => {
    const r = new ScanHistory().add(1, 's:1', [0, 5]).add(1, 's:2', [6, 9]).scan(2, ['s:2'], [10, 20]).check();
    expect(r.valid).toBe(false);
    expect(r.anomalyKinds).toEqual([['missing-key', 1]]);
    expect(r.anomalies[0]!.key).toBe('s:1');
    expect(r.verdict).toMatch(/^scan: INVALID — 1 anomaly \(missing-key ×1\).*did not return "s:1"/);
    expect(r.smallestFailingSlice?.ops.map((o) => o.f)).toEqual(['write', 'scan']);
  });

  it('a key no operation added, or whose SET failed, or that was added after the SCAN ended', () => {
    const r = new ScanHistory().add(1, 's:2', [0, 5], 'fail').add(1, 's:3', [30, 35]).scan(2, ['s:1', 's:2', 's:3'], [10, 20]).check();
    expect(r.valid).toBe(false);
    expect(r.anomalyKinds).toEqual([['phantom-key', 3]]);
  });

  it('a key deleted (acknowledged) before the SCAN began', () => {
    const r = new ScanHistory().add(1, 's:1', [0, 5]).del(1, 's:1', [6, 8]).scan(2, ['s:1'], [10, 20]).check();
    expect(r.valid).toBe(false);
    expect(r.anomalyKinds).toEqual([['deleted-key-returned', 1]]);
  });

  it('a failed SCAN is not checked, and an unknown function makes the verdict unknown', () => {
    const failed = new ScanHistory().add(1, 's:1', [0, 5]).scan(2, [], [10, 20], 'fail').check();
    expect(failed.valid).toBe(true);
    const odd = new ScanHistory().add(1, 's:1', [0, 5]);
    odd.h.op(3, Fn.incr, 's:1', 1, 2, [6, 7]);
    expect(odd.check().valid).toBe('unknown');
  });
});
