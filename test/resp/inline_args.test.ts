import { describe, expect, it } from 'vitest';
import { splitInlineArgs } from '../../src/resp/inline_args.js';

const split = (line: string) => splitInlineArgs(Buffer.from(line, 'latin1'))?.map((arg) => arg.toString('latin1')) ?? null;

describe('splitInlineArgs (sdssplitargs rules)', () => {
  it.each([
    ['', []],
    ['   \t ', []],
    ['a b  c', ['a', 'b', 'c']],
    ['\x0b a', ['a']],
    ['a\x0bb', ['a\x0bb']],
    ['a\x0cb c', ['a\x0cb', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['""', ['']],
    ["''", ['']],
    ['a"b c"', ['ab c']],
    ['"\\x41\\x42\\x4"', ['ABx4']],
    ['"\\xzz"', ['xzz']],
    ['"\\n\\r\\t\\b\\a\\z\\\\\\""', ['\n\r\t\b\x07z\\"']],
    ["'a\\'b'", ["a'b"]],
    ["'a\\nb'", ['a\\nb']],
    ['"a"\x0bb', ['a', 'b']],
    ['a\0b', ['a']],
    ['"ab"', ['ab']],
  ] as const)('%j -> %j', (line, expected) => {
    expect(split(line)).toEqual(expected);
  });

  it.each(['"abc', "'abc", '"a"b', "'a'b", '"abc\\', '"a\0"'])('%j is unbalanced', (line) => {
    expect(split(line)).toBeNull();
  });

  it('slices unquoted arguments without copying', () => {
    const line = Buffer.from('GET key');
    const args = splitInlineArgs(line)!;
    expect(args[1]!.buffer).toBe(line.buffer);
  });
});
