/**
 * `server` flags and `--config FILE` (docs/contract.md): defaults, every flag from the command line and
 * from a file (kebab-case or camelCase keys, flags winning), and a one-line ConfigError for each
 * kind of bad input, including what a lenient parse would have let through silently.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseServerConfig, serverDefaults } from '../../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'qkv-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configFile(content: unknown): string {
  const path = join(dir, `c${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** Every integer setting: its flag, its field, a valid value other than the default. */
const integers = [
  ['resp-port', 'respPort', 6400],
  ['grpc-port', 'grpcPort', 7400],
  ['tick-ms', 'tickMs', 50],
  ['election-ticks', 'electionTicks', 20],
  ['heartbeat-ticks', 'heartbeatTicks', 2],
  ['maxclients', 'maxClients', 77],
  ['leader-wait-ms', 'leaderWaitMs', 1234],
  ['snapshot-entries', 'snapshotEntries', 500],
  ['snapshot-bytes', 'snapshotBytes', 1 << 20],
  ['snapshot-catchup-entries', 'snapshotCatchupEntries', 0],
  ['snapshot-catchup-bytes', 'snapshotCatchupBytes', 4096],
  ['log-cache-bytes', 'logCacheBytes', 0],
] as const;

describe('server configuration', () => {
  it('has the documented defaults', () => {
    const c = parseServerConfig(['--id', 'n1']);
    expect(c).toMatchObject({
      id: 'n1',
      host: serverDefaults.host,
      dataDir: './data/n1',
      join: false,
      prettyLogs: false,
      quiesce: true,
      logLevel: serverDefaults.logLevel,
      logCacheBytes: 4 * 1024 * 1024,
      clusterMode: false,
      zone: '',
    });
    for (const [, field] of integers) expect(c[field], field).toBe(serverDefaults[field]);
    expect(c.peers.size).toBe(0);
  });

  it('takes every integer flag from the command line, and from a file by either spelling', () => {
    for (const [flag, field, value] of integers) {
      expect(parseServerConfig(['--id', 'n1', `--${flag}`, String(value)])[field], flag).toBe(value);
      expect(parseServerConfig(['--id', 'n1', '--config', configFile({ [flag]: value })])[field], flag).toBe(value);
      const camel = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      expect(parseServerConfig(['--id', 'n1', '--config', configFile({ [camel]: String(value) })])[field], camel).toBe(value);
    }
  });

  it('keeps idle groups quiet unless --no-quiesce (flag or file) says not to', () => {
    expect(parseServerConfig(['--id', 'n1', '--no-quiesce']).quiesce).toBe(false);
    expect(parseServerConfig(['--id', 'n1', '--config', configFile({ noQuiesce: true })]).quiesce).toBe(false);
    expect(parseServerConfig(['--id', 'n1', '--config', configFile({ 'no-quiesce': false })]).quiesce).toBe(true);
  });

  it('lets flags win over the file, and reads peers and id from it', () => {
    const file = configFile({ id: 'n2', peers: ['n1=127.0.0.1:7001', 'n2=127.0.0.1:7002'], tickMs: 40, pretty: true });
    const c = parseServerConfig(['--config', file, '--tick-ms', '60']);
    expect(c.id).toBe('n2');
    expect([...c.peers]).toEqual([
      ['n1', '127.0.0.1:7001'],
      ['n2', '127.0.0.1:7002'],
    ]);
    expect(c.tickMs).toBe(60);
    expect(c.prettyLogs).toBe(true);
  });

  it('turns Redis Cluster mode on by the flag, or by either spelling in a file', () => {
    expect(parseServerConfig(['--id', 'n1', '--cluster-mode']).clusterMode).toBe(true);
    expect(parseServerConfig(['--id', 'n1', '--config', configFile({ 'cluster-mode': true })]).clusterMode).toBe(true);
    expect(parseServerConfig(['--id', 'n1', '--config', configFile({ clusterMode: 'true' })]).clusterMode).toBe(true);
    expect(parseServerConfig(['--id', 'n1', '--config', configFile({ clusterMode: false })]).clusterMode).toBe(false);
    // A value that is no switch would otherwise leave the mode silently off.
    expect(() => parseServerConfig(['--id', 'n1', '--config', configFile({ clusterMode: 'yes' })])).toThrow(/--cluster-mode is a switch/);
  });

  it('takes the zone from the flag or a file, and refuses one that is no plain name', () => {
    expect(parseServerConfig(['--id', 'n1', '--zone', 'eu-west-1a']).zone).toBe('eu-west-1a');
    expect(parseServerConfig(['--id', 'n1', '--config', configFile({ zone: 'rack.7' })]).zone).toBe('rack.7');
    expect(() => parseServerConfig(['--id', 'n1', '--zone', 'a b'])).toThrow(/--zone 'a b' must match/);
    expect(() => parseServerConfig(['--id', 'n1', '--zone', ''])).toThrow(/--zone '' must match/);
    expect(() => parseServerConfig(['--id', 'n1', '--config', configFile({ zone: 3 })])).toThrow(/--zone '3' must match/);
  });

  const refusals: [string, string[], RegExp][] = [
    ['no id', [], /--id is required/],
    ['a bad id', ['--id', 'N_1'], /must match/],
    ['an unknown flag', ['--id', 'n1', '--bogus', '1'], /bogus/],
    ['equal ports', ['--id', 'n1', '--resp-port', '7000', '--grpc-port', '7000'], /must differ/],
    ['peers without this node', ['--id', 'n3', '--peers', 'n1=h:1,n2=h:2'], /must include this node/],
    ['join with peers', ['--id', 'n1', '--join', '--peers', 'n1=h:1'], /exclude each other/],
    ['a peer twice', ['--id', 'n1', '--peers', 'n1=h:1,n1=h:2'], /appears twice/],
    ['a malformed peer', ['--id', 'n1', '--peers', 'n1=h'], /is not ID=HOST:PORT/],
    ['a port out of range', ['--id', 'n1', '--resp-port', '70000'], /from 0 to 65535/],
    ['a negative count', ['--id', 'n1', '--snapshot-entries=-5'], /from 1 to/],
    ['an empty number', ['--id', 'n1', '--log-cache-bytes='], /integer/],
    ['a fraction', ['--id', 'n1', '--tick-ms', '1.5'], /integer/],
    ['hexadecimal', ['--id', 'n1', '--maxclients', '0x10'], /integer/],
    ['an exponent', ['--id', 'n1', '--snapshot-bytes', '1e6'], /integer/],
    ['padding', ['--id', 'n1', '--tick-ms', ' 12 '], /integer/],
    ['an unknown log level', ['--id', 'n1', '--log-level', 'verbose'], /--log-level must be one of trace, debug, info, warn, error, fatal, silent/],
  ];
  for (const [what, argv, message] of refusals) {
    it(`refuses ${what} with one line`, () => {
      let error: unknown;
      try {
        parseServerConfig(argv);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    });
  }

  it('refuses a file that is missing, not JSON, not an object, or holds a misspelt or mistyped key', () => {
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.json'), /ENOENT/],
      [configFile('{ not json'), /not valid JSON/],
      [configFile([1, 2]), /expected a JSON object/],
      [configFile({ tickMS: 50 }), /unknown key 'tickMS'/],
      [configFile({ config: 'other.json' }), /unknown key 'config'/],
      [configFile({ tickMs: { value: 5 } }), /must be a string, number or boolean/],
      [configFile({ tickMs: true }), /--tick-ms must be an integer/],
    ];
    for (const [path, message] of cases) {
      expect(() => parseServerConfig(['--id', 'n1', '--config', path]), path).toThrow(message);
    }
  });
});
