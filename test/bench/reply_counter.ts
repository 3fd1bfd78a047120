/**
 * Counts complete RESP replies in a byte stream without decoding them: all a load generator
 * needs to know is how many of its pipelined commands were answered and whether any answer was an
 * error. Incremental: `feed(chunk)` takes the stream cut anywhere, a bulk body is skipped by
 * length, never copied.
 *
 *   header line ──'$n'──> skip n+2 bytes ──> value done
 *        │  └──'*n'/'%n'/'~n'──> push n (2n for maps) elements
 *        └──'+' ':' '-' '_' ',' '#' ...──> value done
 *
 *   value done: pops finished aggregates; a value at depth 0 is one reply.
 */
export class ReplyCounter {
  /** Replies whose top-level value was an error (`-ERR ...`), since construction. */
  errors = 0;
  /** The first error text seen, for the report. */
  firstError: string | null = null;
  private partialLine: Buffer | null = null;
  private bodyLeft = 0;
  /** Elements still expected by each open aggregate, innermost last. */
  private readonly open: number[] = [];
  private completed = 0;

  /** Consumes `chunk`; returns how many top-level replies it completed. */
  feed(chunk: Buffer): number {
    this.completed = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.valueDone(false);
        continue;
      }
      const newline = chunk.indexOf(10, i);
      if (newline < 0) {
        this.partialLine = this.partialLine ? Buffer.concat([this.partialLine, chunk.subarray(i)]) : Buffer.from(chunk.subarray(i));
        break;
      }
      let line = chunk.subarray(i, newline + 1);
      if (this.partialLine) {
        line = Buffer.concat([this.partialLine, line]);
        this.partialLine = null;
      }
      i = newline + 1;
      this.header(line);
    }
    return this.completed;
  }

  private header(line: Buffer): void {
    const type = String.fromCharCode(line[0]!);
    const text = line.toString('latin1', 1, line.length - 2);
    switch (type) {
      case '$':
      case '=':
      case '!': {
        const length = Number(text);
        if (length < 0) this.valueDone(false);
        else this.bodyLeft = length + 2;
        return;
      }
      case '*':
      case '~':
      case '>':
      case '%': {
        const count = Number(text) * (type === '%' ? 2 : 1);
        if (count <= 0) this.valueDone(false);
        else this.open.push(count);
        return;
      }
      case '-':
        if (this.open.length === 0 && this.firstError === null) this.firstError = `-${text}`;
        this.valueDone(true);
        return;
      default:
        this.valueDone(false);
    }
  }

  private valueDone(isError: boolean): void {
    while (this.open.length > 0) {
      const last = this.open.length - 1;
      this.open[last]! -= 1;
      if (this.open[last]! > 0) return;
      this.open.pop();
      isError = false;
    }
    this.completed++;
    if (isError) this.errors++;
  }
}
