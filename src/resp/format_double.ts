/**
 * C's printf("%.17g", d) as glibc prints it, which is how Redis 7.0 writes a double reply in
 * both protocols (addReplyDouble): 17 significant digits, correctly rounded from the exact
 * binary value with ties to even, trailing zeros removed, exponent form below 1e-4 and from
 * 1e17 on (`2.9802322387695312e-08`), `inf`/`-inf`, `-0` for negative zero.
 *
 * Number#toExponential(16) rounds an exact tie up rather than to even, and it disagrees with
 * glibc on those values only. A tie needs the exact decimal expansion to have exactly 18
 * significant digits, the last a 5. Written as odd × 2^e, a value with e >= 0 cannot (its odd
 * part is below 2^53 < 10^17), and one with e = -k has the significant digits of odd × 5^k:
 * only when that product is near 18 digits long is the value expanded exactly with BigInt;
 * every other value takes the fast path.
 */
export function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (d === Infinity) return 'inf';
  if (d === -Infinity) return '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  if (Number.isSafeInteger(d)) return String(d);

  const sign = d < 0 ? '-' : '';
  return sign + styleG(significantDigits(Math.abs(d)));
}

const PRECISION = 17;

interface Digits {
  /** Significant digits, at most PRECISION, possibly with trailing zeros. */
  readonly digits: string;
  readonly exponent: number;
}

/** 17 significant digits and the decimal exponent of the first, from toExponential. */
function fastDigits(value: number): Digits {
  const text = value.toExponential(PRECISION - 1);
  const e = text.indexOf('e');
  return { digits: text[0]! + text.slice(2, e), exponent: Number(text.slice(e + 1)) };
}

const bits = new DataView(new ArrayBuffer(8));

/** value = mantissa × 2^exponent with an odd mantissa (below 2^53, so exact as a number). */
function decompose(value: number): { mantissa: number; exponent: number } {
  bits.setFloat64(0, value);
  let high = bits.getUint32(0);
  let low = bits.getUint32(4);
  const biased = (high >>> 20) & 0x7ff;
  high = (high & 0xfffff) | (biased !== 0 ? 0x100000 : 0);
  let exponent = biased !== 0 ? biased - 1075 : -1074;
  // Shift out trailing zero bits (value is not zero, so some bit is set).
  if (low === 0) {
    low = high;
    high = 0;
    exponent += 32;
  }
  const zeros = 31 - Math.clz32(low & -low);
  if (zeros > 0) {
    low = ((low >>> zeros) | (high << (32 - zeros))) >>> 0;
    high >>>= zeros;
    exponent += zeros;
  }
  return { mantissa: high * 2 ** 32 + low, exponent };
}

/**
 * At most 17 significant digits of value, correctly rounded, and the decimal exponent of the
 * first. Three ways, cheapest first: an expansion short enough for a double is exact as is;
 * one that may be an 18-digit tie is rounded exactly with BigInt; any other is toExponential's.
 */
function significantDigits(value: number): Digits {
  const { mantissa, exponent } = decompose(value);
  if (exponent < 0) {
    const fives = -exponent;
    const length = Math.log10(mantissa) + fives * Math.log10(5);
    if (length < 15) {
      // mantissa × 5^k < 10^15 < 2^53: exact in a double, and value = that / 10^k.
      const all = String(mantissa * 5 ** fives);
      return { digits: all, exponent: all.length - 1 - fives };
    }
    if (length > 16.9 && length < 18.1) return exactDigits(mantissa, fives);
  }
  return fastDigits(value);
}

/** 17 significant digits of mantissa × 5^fives / 10^fives (exactly the value), rounded half to even. */
function exactDigits(mantissa: number, fives: number): Digits {
  const all = (BigInt(mantissa) * 5n ** BigInt(fives)).toString();
  let decimalExponent = all.length - 1 - fives;
  if (all.length <= PRECISION) return { digits: all, exponent: decimalExponent };

  let kept = BigInt(all.slice(0, PRECISION));
  const rest = all.slice(PRECISION);
  const half = '5'.padEnd(rest.length, '0');
  if (rest > half || (rest === half && (kept & 1n) === 1n)) kept += 1n;
  let digits = kept.toString();
  if (digits.length > PRECISION) {
    digits = digits.slice(0, PRECISION);
    decimalExponent++;
  }
  return { digits, exponent: decimalExponent };
}

/** %g's choice between %e and %f for precision 17, without trailing zeros. */
function styleG({ digits, exponent }: Digits): string {
  const significant = stripTrailingZeros(digits);
  if (exponent < -4 || exponent >= PRECISION) {
    const fraction = significant.slice(1);
    const magnitude = Math.abs(exponent).toString().padStart(2, '0');
    return `${significant[0]}${fraction ? `.${fraction}` : ''}e${exponent < 0 ? '-' : '+'}${magnitude}`;
  }
  if (exponent < 0) return `0.${'0'.repeat(-exponent - 1)}${significant}`;
  if (significant.length <= exponent + 1) return significant.padEnd(exponent + 1, '0');
  return `${significant.slice(0, exponent + 1)}.${significant.slice(exponent + 1)}`;
}

function stripTrailingZeros(digits: string): string {
  let end = digits.length;
  while (end > 1 && digits.charCodeAt(end - 1) === 0x30) end--;
  return digits.slice(0, end);
}
