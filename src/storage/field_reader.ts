/**
 * Reads little-endian fields from a byte range with bounds checks: the one reader behind the Raft
 * log's records and the snapshot format. Each user passes the error it throws on an overrun, so
 * that damage is reported in its own terms (a torn log record, a corrupt snapshot).
 */
export class FieldReader {
  constructor(
    protected readonly buf: Buffer,
    protected pos = 0,
    protected readonly end = buf.length,
    private readonly fail: (message: string) => Error = (message) => new RangeError(message),
  ) {}

  private take(size: number): number {
    if (this.pos + size > this.end) throw this.fail(`ends ${this.pos + size - this.end} bytes early`);
    const at = this.pos;
    this.pos += size;
    return at;
  }

  u8(): number {
    return this.buf[this.take(1)]!;
  }

  u16(): number {
    return this.buf.readUInt16LE(this.take(2));
  }

  u32(): number {
    return this.buf.readUInt32LE(this.take(4));
  }

  u48(): number {
    return this.buf.readUIntLE(this.take(6), 6);
  }

  f64(): number {
    return this.buf.readDoubleLE(this.take(8));
  }

  str16(): string {
    const length = this.buf.readUInt16LE(this.take(2));
    const at = this.take(length);
    return this.buf.toString('utf8', at, at + length);
  }

  list16(): string[] {
    const count = this.buf.readUInt16LE(this.take(2));
    const values: string[] = [];
    for (let i = 0; i < count; i++) values.push(this.str16());
    return values;
  }

  /** The unread bytes (a view, not a copy). */
  rest(): Buffer {
    const at = this.take(this.end - this.pos);
    return this.buf.subarray(at, this.end);
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) throw this.fail(`${what} has ${this.end - this.pos} trailing bytes`);
  }
}
