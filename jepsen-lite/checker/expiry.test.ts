import { describe, expect, it } from 'vitest';
import { HistoryBuilder, operations } from '../history.js';
import { checkExpiry, expiringWrite, type ExpiryOptions } from './expiry.js';

function check(build: (h: HistoryBuilder) => void, options: ExpiryOptions = {}) {
  const builder = new HistoryBuilder(options.timeUnit ?? 'ms');
  build(builder);
  return checkExpiry(operations(builder.build()), { boundMs: 50, ...options });
}

const kinds = (result: ReturnType<typeof check>): string[] => result.anomalies.map((a) => a.kind);

describe('expiry histories known to be good', () => {
  it('a value visible before its TTL and gone after it', () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 1000), [0, 10]);
      h.read(2, 'k', 'a', [500, 510]);
      h.read(2, 'k', null, [1100, 1110]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats).toMatchObject({ checkedReads: 1, maxLatenessMs: -510 });
  });

  it('a value seen after complete + ttl but within the bound', () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 1000), [0, 10]);
      h.read(2, 'k', 'a', [1040, 1050]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.maxLatenessMs).toBe(30);
  });

  it('a read that began before the deadline may see the value however long it takes', () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 1000), [0, 10]);
      h.read(2, 'k', 'a', [1000, 5000]);
    });
    expect(result.valid).toBe(true);
  });

  it("an info write's value seen long after: unbounded, so not checked", () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 100), [0, 10], 'info');
      h.read(2, 'k', 'a', [5000, 5010]);
    });
    expect(result.valid).toBe(true);
    expect(result.stats.unboundedReads).toBe(1);
  });

  it('a write without a TTL never expires; an overwrite hides nothing from this check', () => {
    const result = check((h) => {
      h.write(1, 'k', 'a', [0, 10]);
      h.read(2, 'k', 'a', [5000, 5010]);
    });
    expect(result.valid).toBe(true);
  });

  it('an early-looking miss is not flagged when another write could have come between', () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 1000), [0, 10]);
      h.write(3, 'k', expiringWrite('b', 1000), [5, 100], 'info');
      h.read(2, 'k', null, [20, 30]);
    });
    expect(kinds(result)).toEqual([]);
  });
});

describe('expiry histories known to be bad', () => {
  it('a read after expiry plus the bound', () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 1000), [0, 10]);
      h.read(2, 'k', 'a', [1061, 1070]);
    });
    expect(kinds(result)).toEqual(['read-after-expiry']);
    expect(result.anomalies[0]!.message).toContain('51 ms late, the bound is 50 ms');
    expect(result.smallestFailingSlice!.ops.map((op) => op.id)).toEqual([0, 1]);
  });

  it('an info write bounded by its recorded completion when asked', () => {
    const result = check(
      (h) => {
        h.write(1, 'k', expiringWrite('a', 100), [0, 10], 'info');
        h.read(2, 'k', 'a', [5000, 5010]);
      },
      { infoWrites: 'bounded' },
    );
    expect(kinds(result)).toEqual(['read-after-expiry']);
  });

  it('a value gone before its TTL', () => {
    const result = check((h) => {
      h.write(1, 'k', expiringWrite('a', 1000), [0, 10]);
      h.read(2, 'k', null, [20, 30]);
    });
    expect(kinds(result)).toEqual(['early-expiry']);
  });

  it('a value never written', () => {
    const result = check((h) => h.read(2, 'k', 'zzz', [20, 30]));
    expect(kinds(result)).toEqual(['phantom-read']);
  });

  it('works in nanoseconds, with TTL and bound still in ms', () => {
    const ms = 1e6;
    const result = check(
      (h) => {
        h.write(1, 'k', expiringWrite('a', 1000), [0, 10 * ms]);
        h.read(2, 'k', 'a', [1040 * ms, 1050 * ms]);
        h.write(1, 'k', expiringWrite('b', 1000), [2000 * ms, 2010 * ms]);
        h.read(2, 'k', 'b', [3100 * ms, 3110 * ms]);
      },
      { timeUnit: 'ns' },
    );
    expect(kinds(result)).toEqual(['read-after-expiry']);
    expect(result.anomalies[0]!.message).toContain('90 ms late');
  });
});
