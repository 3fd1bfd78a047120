import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeServer } from './support/harness.js';
import { RawRedis } from './support/real_redis.js';

/**
 * Raw bytes, well-formed or not, sent to a real redis-server 7.0 and to the in-process path of
 * parser + connection commands + encoder: the bytes written back, and whether the connection was
 * closed, must be the same. Only a client id differs (masked).
 */

const multibulk = (...args: (string | Buffer)[]): string =>
  `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg as string, 'latin1')}\r\n${arg}\r\n`).join('')}`;

const cases: [name: string, bytes: string][] = [
  ['PING', 'PING\r\n'],
  ['PING message', '*2\r\n$4\r\nPING\r\n$5\r\nhello\r\n'],
  ['PING empty message', 'PING ""\r\n'],
  ['PING with two messages', 'PING a b\r\n'],
  ['ping in lower case, LF only', 'ping\n'],
  ['ECHO', 'ECHO "a\\x00b"\r\n'],
  ['ECHO without message', 'ECHO\r\n'],
  ['ECHO with two', 'ECHO a b\r\n'],
  ['ECHO of a large payload', multibulk('ECHO', 'x'.repeat(200_000))],
  ['SELECT 0', 'SELECT 0\r\n'],
  ['SELECT 1', 'SELECT 1\r\n'],
  ['SELECT -1', 'SELECT -1\r\n'],
  ['SELECT not a number', 'SELECT x\r\n'],
  ['SELECT +1', 'SELECT +1\r\n'],
  ['SELECT out of int range', 'SELECT 99999999999\r\n'],
  ['SELECT arity', 'SELECT 1 2\r\n'],
  ['QUIT closes after +OK, nothing after runs', 'QUIT\r\nPING\r\n'],
  ['QUIT with arguments', 'quit a b\r\n'],
  ['TIME arity', 'TIME x\r\n'],
  ['HELLO', 'HELLO\r\n'],
  ['HELLO 2', 'HELLO 2\r\n'],
  ['HELLO 3, then replies in RESP3', 'HELLO 3\r\nPING\r\nPING x\r\nCLIENT GETNAME\r\nGET nosuchkey\r\nHELLO 2\r\nCLIENT GETNAME\r\n'],
  ['HELLO 4', 'HELLO 4\r\n'],
  ['HELLO 1', 'HELLO 1\r\n'],
  ['HELLO not a number', 'HELLO x\r\n'],
  ['HELLO SETNAME', 'HELLO 3 SETNAME foo\r\nCLIENT GETNAME\r\n'],
  ['HELLO SETNAME twice', 'HELLO 2 SETNAME a setname b\r\nCLIENT GETNAME\r\n'],
  ['HELLO SETNAME with a space', 'HELLO 3 SETNAME "a b"\r\n'],
  ['HELLO SETNAME missing', 'HELLO 3 SETNAME\r\n'],
  ['HELLO unknown option', 'HELLO 2 FOO\r\n'],
  ['HELLO AUTH short', 'HELLO 2 AUTH a\r\n'],
  ['HELLO AUTH default', 'HELLO 3 AUTH default anything\r\n'],
  ['HELLO AUTH other user', 'HELLO 3 AUTH someone secret\r\n'],
  ['HELLO bad option before bad name', 'HELLO 3 SETNAME "a b" FOO\r\n'],
  ['GET arity', 'GET\r\n'],
  ['get arity, lower-case name in the error', 'GeT a b\r\n'],
  ['GET of a missing key', 'GET k\r\n'],
  ['unknown command', 'FOO a b c\r\n'],
  ['unknown command without args', 'foo\r\n'],
  ['unknown command, long name', `${'n'.repeat(200)} x\r\n`],
  ['unknown command, args past 128 bytes', `FOO ${'a'.repeat(100)} ${'b'.repeat(100)} c\r\n`],
  ['unknown command, many short args', `FOO ${'ab '.repeat(60)}\r\n`],
  ['unknown command, NUL and CRLF in args', multibulk('foo', 'a\0b', 'c\r\nd', '\r\n')],
  ['unknown command, high bytes', multibulk('f\xe9', '\xff')],
  ['CLIENT alone', 'CLIENT\r\n'],
  ['CLIENT unknown subcommand', 'client foo bar\r\n'],
  ['CLIENT SETNAME arity', 'client setname\r\n'],
  ['CLIENT SETNAME and GETNAME', 'CLIENT SETNAME x\r\nCLIENT GETNAME\r\nCLIENT SETNAME ""\r\nclient getname\r\n'],
  ['CLIENT SETNAME with a space', 'CLIENT SETNAME "a b"\r\n'],
  ['CLIENT SETNAME with a high byte', 'CLIENT SETNAME "\\xe9"\r\n'],
  ['CLIENT KILL ID unknown', 'CLIENT KILL ID 99999\r\n'],
  ['CLIENT KILL ID not a number', 'CLIENT KILL ID x\r\n'],
  ['CLIENT KILL ID 0', 'CLIENT KILL ID 0\r\n'],
  ['CLIENT KILL old form, no such client', 'CLIENT KILL 1.2.3.4:5\r\n'],
  ['CLIENT KILL ID alone is the old form', 'CLIENT KILL ID\r\n'],
  ['CLIENT KILL odd arguments', 'CLIENT KILL ID 1 foo\r\n'],
  ['CLIENT KILL unknown filter', 'CLIENT KILL foo bar\r\n'],
  ['CLIENT KILL TYPE unknown', 'CLIENT KILL TYPE foo\r\n'],
  ['CLIENT KILL TYPE master', 'CLIENT KILL TYPE master\r\n'],
  ['CLIENT KILL USER unknown', 'CLIENT KILL USER nobody\r\n'],
  ['CLIENT KILL SKIPME bad', 'CLIENT KILL SKIPME x\r\n'],
  ['CLIENT KILL USER default skips me', 'CLIENT KILL USER default SKIPME yes ADDR 1.2.3.4:1\r\n'],
  ['CLIENT LIST bad option', 'CLIENT LIST foo\r\n'],
  ['CLIENT LIST ID not a number', 'CLIENT LIST ID x\r\n'],
  ['CLIENT LIST ID unknown', 'CLIENT LIST ID 99999 99998\r\n'],
  ['CLIENT LIST TYPE pubsub', 'CLIENT LIST TYPE pubsub\r\n'],
  ['CLIENT LIST TYPE unknown', 'CLIENT LIST TYPE x\r\n'],
  ['CLIENT HELP arity', 'CLIENT help x\r\n'],
  ['COMMAND unknown subcommand', 'command foo\r\n'],
  ['COMMAND COUNT arity', 'COMMAND COUNT x\r\n'],
  ['COMMAND INFO of connection commands', 'COMMAND INFO ping echo select quit hello time info nosuch GET\r\n'],
  ['COMMAND INFO in RESP3', 'HELLO 3\r\nCOMMAND INFO ping echo select quit hello time info nosuch\r\n'],
  ['COMMAND INFO of subcommands', 'COMMAND INFO client|setname CLIENT|GETNAME client|id client|info client|list client|kill client|help command|count command|info command|docs command|help client|nope\r\n'],
  ['COMMAND DOCS of connection commands', 'COMMAND DOCS ping echo select quit hello time info nosuch\r\n'],
  ['COMMAND DOCS in RESP3', 'HELLO 3\r\nCOMMAND DOCS ping hello info\r\n'],
  ['COMMAND DOCS of subcommands', 'COMMAND DOCS client|setname client|getname client|id client|info client|list client|kill client|help command|count command|info command|docs command|help\r\n'],
  ['INFO of unknown sections', 'INFO foo bar\r\n'],
  // Cluster mode off, as a redis-server without cluster support: the family exists (existence and
  // arity are checked first), and every call of it is refused.
  ['CLUSTER without cluster support', 'CLUSTER INFO\r\nCLUSTER SLOTS\r\nCLUSTER KEYSLOT foo\r\nCLUSTER HELP\r\ncluster countkeysinslot x\r\n'],
  ['READONLY, READWRITE, ASKING without cluster support', 'READONLY\r\nREADWRITE\r\nASKING\r\n'],
  ['CLUSTER alone', 'CLUSTER\r\n'],
  ['CLUSTER unknown subcommand', 'CLUSTER foo bar\r\n'],
  ['CLUSTER KEYSLOT arity', 'CLUSTER KEYSLOT\r\ncluster keyslot a b\r\n'],
  ['READONLY arity', 'READONLY x\r\nasking x\r\n'],
  [
    'COMMAND INFO of the cluster commands',
    'COMMAND INFO cluster|slots cluster|shards cluster|nodes cluster|info cluster|myid cluster|keyslot cluster|countkeysinslot cluster|getkeysinslot cluster|help readonly readwrite asking\r\n',
  ],
  [
    'COMMAND DOCS of the cluster commands',
    'COMMAND DOCS cluster|slots cluster|shards cluster|nodes cluster|info cluster|myid cluster|keyslot cluster|countkeysinslot cluster|getkeysinslot cluster|help readonly readwrite asking\r\n',
  ],
  ['COMMAND DOCS of the cluster commands in RESP3', 'HELLO 3\r\nCOMMAND DOCS cluster|slots cluster|getkeysinslot readonly\r\n'],
  ['pipeline of both forms', `PING\r\n${multibulk('ECHO', 'x')}ping\r\n*0\r\n*-1\r\n\r\n\r\nECHO y\r\n`],
  ['no CRLF check after a payload', '*1\r\n$4\r\nPINGxx'],
  ['no LF check after a header CR', '*1\rX$4\r\nPING\r\n'],
  ['a NUL stalls an inline line', 'PING\0\r\n'],
  ['a NUL stalls a header', '*1\0\r\n$4\r\nPING\r\n'],
  ['invalid multibulk length', 'PING\r\n*x\r\nPING\r\n'],
  ['multibulk count -0', '*-0\r\n'],
  ['multibulk count above INT_MAX', '*2147483648\r\n'],
  ['expected $', '*1\r\n%4\r\n'],
  ['expected $, a high byte', '*1\r\n\xe9abc\r\n'],
  ['invalid bulk length', '*1\r\n$-1\r\n'],
  ['bulk length over proto-max-bulk-len', '*1\r\n$536870913\r\n'],
  ['unbalanced quotes', 'ECHO "abc\r\n'],
  ['closing quote followed by a letter', 'ECHO "a"b\r\n'],
  ['too big inline request', 'a'.repeat(70_000)],
  ['too big mbulk count string', `*${'1'.repeat(70_000)}`],
  ['too big bulk count string', `*1\r\n$${'1'.repeat(70_000)}`],
];

/** Client ids differ between the two servers. */
function mask(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/\$2\r\nid\r\n:\d+\r\n/g, '$2\r\nid\r\n:<id>\r\n');
}

describe('connection layer against redis-server 7.0', () => {
  let redis: RawRedis;
  let version = '';
  /** Redis's answer to each case, all sent at once (each on its own connection). */
  const answers = new Map<string, { bytes: Buffer; closed: boolean }>();

  beforeAll(async () => {
    redis = await RawRedis.start();
    const hello = (await redis.send(Buffer.from('HELLO 3\r\n'))).bytes.toString('latin1');
    version = /\$7\r\nversion\r\n\$\d+\r\n([^\r]+)\r\n/.exec(hello)![1]!;
    await Promise.all(cases.map(async ([name, text]) => answers.set(name, await redis.send(Buffer.from(text, 'latin1')))));
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it.each(cases)('%s', (name, text) => {
    const bytes = Buffer.from(text, 'latin1');
    const real = answers.get(name)!;
    const connection = new FakeServer(version).connect();
    const ours = connection.receive(bytes);
    expect(mask(ours)).toBe(mask(real.bytes));
    expect(connection.closed).toBe(real.closed);
  });

  it('describes every command of the table as Redis does in COMMAND INFO, in RESP2 and RESP3', async () => {
    const server = new FakeServer(version);
    // Containers offer fewer subcommands than Redis (in another order): their subcommands are compared one by one above.
    const requests = server.specs.filter((spec) => !('subcommands' in spec)).flatMap((spec) => [`COMMAND INFO ${spec.name}\r\n`, `HELLO 3\r\nCOMMAND INFO ${spec.name}\r\n`]);
    // One reply per command: the exchange ends when they are complete, however slow the machine.
    const real = await Promise.all(requests.map((request) => redis.send(Buffer.from(request), undefined, request.startsWith('HELLO') ? 2 : 1)));
    const differing = requests.filter(
      (request, i) => mask(server.connect().receive(Buffer.from(request))) !== mask(real[i]!.bytes),
    );
    expect(differing).toEqual([]);
  });

  it('prints CLIENT INFO and CLIENT LIST with the same fields, in the same order', async () => {
    const fields = (line: string) => line.split(' ').map((field) => field.slice(0, field.indexOf('=') + 1));
    const real = (await redis.send(Buffer.from('CLIENT SETNAME me\r\nCLIENT INFO\r\nHELLO 3\r\nCLIENT LIST ID 1\r\nCLIENT INFO\r\n'))).bytes.toString('latin1');
    const connection = new FakeServer(version).connect();
    const ours = connection.receive(Buffer.from('CLIENT SETNAME me\r\nCLIENT INFO\r\nHELLO 3\r\nCLIENT LIST ID 1\r\nCLIENT INFO\r\n')).toString('latin1');
    const realLines = [...real.matchAll(/(id=[^\n]*)\n/g)].map((m) => m[1]!);
    const ourLines = [...ours.matchAll(/(id=[^\n]*)\n/g)].map((m) => m[1]!);
    expect(ourLines.length).toBe(3);
    expect(realLines.length).toBe(2);
    expect(fields(ourLines[0]!)).toEqual(fields(realLines[0]!));
    for (const [ourLine, realLine] of [
      [ourLines[0]!, realLines[0]!],
      [ourLines[2]!, realLines[1]!],
    ]) {
      for (const field of ['name=', 'flags=', 'db=', 'cmd=', 'user=', 'resp=', 'multi=', 'events=']) {
        const value = (line: string) => line.split(' ').find((f) => f.startsWith(field));
        expect(value(ourLine)).toBe(value(realLine));
      }
    }
    // The RESP3 form is a verbatim string of the same length rule.
    expect(ours).toMatch(/=\d+\r\ntxt:id=/);
    expect(real).toMatch(/=\d+\r\ntxt:id=/);
  });

  it('writes doubles as Redis does (ZSCORE), in RESP2 and RESP3', async () => {
    const { encodeReply } = await import('../../../src/resp/encoder.js');
    const { double } = await import('../../../src/resp/reply.js');
    // (-0 is left out: ZADD stores it as 0, which is the sorted set's business, not the encoder's.)
    const values = [0.1, 1.5, -2.5, 1e17, 2 ** -25, 123456.789, 1e-5, 3.0000000000000004, 5e-324, 1.7976931348623157e308, Infinity, -Infinity];
    const key = `doubles-${process.pid}-${Date.now()}`;
    const script = values
      .map((value, i) => {
        const score = value === Infinity ? 'inf' : value === -Infinity ? '-inf' : String(value);
        return multibulk('ZADD', key, score, `m${i}`) + multibulk('ZSCORE', key, `m${i}`);
      })
      .join('');
    const reply = (await redis.send(Buffer.from(`${script}HELLO 3\r\n${values.map((_, i) => multibulk('ZSCORE', key, `m${i}`)).join('')}`, 'latin1'))).bytes.toString('latin1');
    const expected2 = values.map((value) => `:1\r\n${encodeReply(double(value), 2).toString('latin1')}`).join('');
    const expected3 = values.map((value) => encodeReply(double(value), 3).toString('latin1')).join('');
    expect(reply.startsWith(expected2)).toBe(true);
    expect(reply.endsWith(expected3)).toBe(true);
  });
});
