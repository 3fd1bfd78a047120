import { describe, expect, it } from 'vitest';
import type { CommandSpec } from '../../../src/commands/command_spec.js';
import { commandLookup, connectionCommands, resolveCommand } from '../../../src/commands/connection/registry.js';
import { encodeReply, type Protocol } from '../../../src/resp/encoder.js';
import type { Reply } from '../../../src/resp/reply.js';
import { initialLayout } from '../../../src/cluster/layout.js';
import { RoutingTable } from '../../../src/cluster/meta_records.js';
import { clusterNodeId } from '../../../src/cluster/node_ids.js';
import { ClusterTopology } from '../../../src/node/cluster_view.js';
import { FakeServer } from './support/harness.js';

const wire = (reply: Reply, protocol: Protocol = 2) => encodeReply(reply, protocol).toString('latin1');

describe('TIME', () => {
  it('answers seconds and microseconds from the server clock', () => {
    const server = new FakeServer();
    server.nowMsValue = 1_700_000_000_123;
    expect(wire(server.connect().call('TIME'))).toBe('*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n');
  });

  it('also reads nowMicros as the microseconds part of the second', () => {
    const server = new FakeServer();
    server.nowMicros = () => 42n;
    expect(wire(server.connect().call('TIME'))).toBe('*2\r\n$10\r\n1700000000\r\n$2\r\n42\r\n');
  });
});

describe('INFO', () => {
  const info = (...sections: string[]) => {
    const reply = new FakeServer().connect().call('INFO', ...sections);
    return reply.kind === 'verbatim' ? reply.value.toString('latin1') : `not verbatim: ${reply.kind}`;
  };

  it('prints the default sections with titles, CRLF lines and an empty line between', () => {
    expect(info()).toBe(
      '# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Clients\r\nconnected_clients:1\r\n\r\n' +
        '# CPU\r\nused_cpu_sys:0.1\r\n\r\n# Raft\r\nraft_node_id:n1\r\nraft_role:leader\r\n\r\n# Keyspace\r\n',
    );
    expect(info('default')).toBe(info());
  });

  it('keeps the server order, ignores case, duplicates and unknown names', () => {
    expect(info('RAFT', 'server', 'raft', 'nosuch')).toBe(
      '# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Raft\r\nraft_node_id:n1\r\nraft_role:leader\r\n',
    );
    expect(info('nosuch')).toBe('');
  });

  it('adds the per-command statistics for all and everything', () => {
    expect(info('all')).toContain('# Commandstats\r\ncmdstat_ping:calls=1\r\n');
    expect(info('everything')).toBe(info('all'));
    expect(info()).not.toContain('Commandstats');
    expect(info('default', 'commandstats')).toBe(info('all'));
  });

  it('is a bulk string in RESP2 and a verbatim string in RESP3', () => {
    const reply = new FakeServer().connect().call('INFO', 'cpu');
    expect(wire(reply, 2)).toBe('$25\r\n# CPU\r\nused_cpu_sys:0.1\r\n\r\n');
    expect(wire(reply, 3)).toBe('=29\r\ntxt:# CPU\r\nused_cpu_sys:0.1\r\n\r\n');
  });
});

describe('CLIENT', () => {
  it('prints one line per client in Redis 7.0 field order', () => {
    const server = new FakeServer();
    const me = server.connect('10.0.0.1:5000');
    server.nowMsValue += 65_000;
    me.receive(Buffer.from('CLIENT SETNAME worker-1\r\n'));
    server.nowMsValue += 3_000;
    // The caller itself was active just now: idle=0, as in Redis.
    const reply = server.connect().call('CLIENT', 'LIST', 'ID', '1');
    expect(reply.kind === 'verbatim' && reply.value.toString()).toBe(
      'id=1 addr=10.0.0.1:5000 laddr=127.0.0.1:6379 fd=-1 name=worker-1 age=68 idle=3 flags=N db=0 sub=0 psub=0 ssub=0 ' +
        'multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r ' +
        'cmd=client|setname user=default redir=-1 resp=2\n',
    );
    const own = me.call('CLIENT', 'INFO');
    expect(own.kind === 'verbatim' && own.value.toString()).toMatch(/ age=68 idle=0 .* cmd=client\|info /);
  });

  it('lists every client, or those asked for by id, in the order asked', () => {
    const server = new FakeServer();
    const [a, b, c] = [server.connect(), server.connect(), server.connect()];
    const ids = (reply: Reply) =>
      reply.kind === 'verbatim' ? [...reply.value.toString().matchAll(/^id=(\d+) /gm)].map((m) => Number(m[1])) : [];
    expect(ids(a.call('CLIENT', 'LIST'))).toEqual([1, 2, 3]);
    expect(ids(a.call('CLIENT', 'LIST', 'ID', '3', '1', '3', '9'))).toEqual([3, 1, 3]);
    expect(ids(a.call('CLIENT', 'LIST', 'TYPE', 'NORMAL'))).toEqual([1, 2, 3]);
    expect(ids(a.call('CLIENT', 'LIST', 'TYPE', 'replica'))).toEqual([]);
    expect(a.call('CLIENT', 'LIST').kind).toBe('verbatim');
    expect([b.client.id, c.client.id]).toEqual([2, 3]);
  });

  it('kills other clients by id, address or user, skipping itself unless told', () => {
    const server = new FakeServer();
    const me = server.connect('127.0.0.1:1');
    const other = server.connect('127.0.0.1:2');
    const third = server.connect('127.0.0.1:3');
    expect(wire(me.call('CLIENT', 'KILL', 'ID', String(other.client.id)))).toBe(':1\r\n');
    expect(other.closed).toBe(true);
    expect(wire(me.call('CLIENT', 'KILL', 'ID', String(me.client.id)))).toBe(':0\r\n');
    expect(wire(me.call('CLIENT', 'KILL', '127.0.0.1:3'))).toBe('+OK\r\n');
    expect(third.closed).toBe(true);
    expect(wire(me.call('CLIENT', 'KILL', 'USER', 'default', 'SKIPME', 'no'))).toBe(':1\r\n');
    expect(me.client.closeAfterReply).toBe(true);
    expect(server.killed).toEqual([other.client.id, third.client.id]);
  });

  it('kills itself by the old form after replying +OK, as Redis does', () => {
    const server = new FakeServer();
    const me = server.connect('127.0.0.1:7');
    expect(me.receive(Buffer.from('CLIENT KILL 127.0.0.1:7\r\nPING\r\n')).toString()).toBe('+OK\r\n');
    expect(me.closed).toBe(true);
  });

  it('answers HELP with the subcommands it has, naming the container as typed', () => {
    const reply = new FakeServer().connect().call('client', 'help');
    expect(reply.kind).toBe('array');
    const lines = reply.kind === 'array' ? reply.items.map((item) => (item.kind === 'simple' ? item.value : '')) : [];
    expect(lines[0]).toBe('CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
    expect(lines.slice(-2)).toEqual(['HELP', '    Prints this help.']);
    expect(lines).toContain('SETNAME <name>');
  });
});

describe('QUIT', () => {
  it('replies +OK and marks the connection to close', () => {
    const connection = new FakeServer().connect();
    expect(wire(connection.call('QUIT'))).toBe('+OK\r\n');
    expect(connection.client.closeAfterReply).toBe(true);
  });
});

describe('HELLO', () => {
  it('reports the role and switches the protocol', () => {
    const server = new FakeServer('7.0.99');
    server.role = () => 'replica';
    const connection = server.connect();
    expect(wire(connection.call('HELLO', '3'), 3)).toBe(
      '%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.99\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n' +
        '$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$7\r\nmodules\r\n*0\r\n',
    );
    expect(connection.client.protocol).toBe(3);
  });
});

describe('COMMAND', () => {
  it('counts, lists and documents the whole table', () => {
    const server = new FakeServer();
    const connection = server.connect();
    expect(connection.call('COMMAND', 'COUNT')).toEqual({ kind: 'integer', value: server.specs.length });
    const all = connection.call('COMMAND');
    expect(all.kind === 'array' && all.items.length).toBe(server.specs.length);
    expect(connection.call('COMMAND', 'INFO')).toEqual(all);
    const docs = connection.call('COMMAND', 'DOCS');
    expect(docs.kind === 'map' && docs.entries.length).toBe(server.specs.length);
  });

  it('shows a container with its subcommands, in INFO and in DOCS', () => {
    const connection = new FakeServer().connect();
    const text = wire(connection.call('COMMAND', 'INFO', 'client'), 2);
    expect(text).toContain('$6\r\nclient\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*7\r\n*10\r\n$14\r\nclient|getname\r\n');
    const docs = wire(connection.call('COMMAND', 'DOCS', 'command'), 3);
    expect(docs).toContain('$11\r\nsubcommands\r\n%4\r\n$12\r\ncommand|info\r\n');
  });

  it('derives a key spec from the legacy key range of a spec without key specs', () => {
    const spec: CommandSpec = {
      kind: 'connection',
      name: 'legacy',
      arity: -2,
      flags: ['write', 'may_replicate', 'random'],
      firstKey: 1,
      lastKey: -1,
      keyStep: 2,
      categories: ['slow', 'write', 'string'],
      summary: '',
      since: '',
      group: 'string',
      complexity: '',
    };
    const server = new FakeServer();
    server.commandTable = () => [spec];
    const connection = server.connect();
    expect(wire(connection.call('COMMAND', 'INFO', 'legacy'))).toBe(
      '*1\r\n*10\r\n$6\r\nlegacy\r\n:-2\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:2\r\n*3\r\n+@write\r\n+@string\r\n+@slow\r\n' +
        '*1\r\n$23\r\nnondeterministic_output\r\n*1\r\n*6\r\n$5\r\nflags\r\n*1\r\n+RW\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n' +
        '$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n' +
        '*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n*0\r\n',
    );
    expect(wire(connection.call('COMMAND', 'DOCS', 'legacy'))).toBe('*2\r\n$6\r\nlegacy\r\n*2\r\n$5\r\ngroup\r\n$6\r\nstring\r\n');
  });
});

describe('resolveCommand', () => {
  const specs = [...connectionCommands.values()].map((command) => command.spec);
  const resolve = (...words: string[]) => resolveCommand(commandLookup(specs), words.map((word) => Buffer.from(word)));

  it('finds commands and subcommands without regard to case, with their full names', () => {
    expect(resolve('PiNg')).toMatchObject({ ok: true, fullName: 'ping' });
    expect(resolve('Client', 'SetName', 'x')).toMatchObject({ ok: true, fullName: 'client|setname' });
    expect(resolve('client', 'setname', 'x')).toMatchObject({ ok: true, command: { name: 'client' } });
  });

  it('refuses with Redis texts', () => {
    const text = (result: ReturnType<typeof resolve>) => (result.ok ? 'ok' : wire(result.reply));
    expect(text(resolve('nope', 'a'))).toBe("-ERR unknown command 'nope', with args beginning with: 'a' \r\n");
    expect(text(resolve('client', 'nope'))).toBe("-ERR unknown subcommand 'nope'. Try CLIENT HELP.\r\n");
    expect(text(resolve('client'))).toBe("-ERR wrong number of arguments for 'client' command\r\n");
    expect(text(resolve('client', 'id', 'x'))).toBe("-ERR wrong number of arguments for 'client|id' command\r\n");
    expect(text(resolve('ECHO'))).toBe("-ERR wrong number of arguments for 'echo' command\r\n");
  });
});

describe('the handlers', () => {
  it('never throw, whatever arguments reach them', () => {
    const server = new FakeServer();
    const connection = server.connect();
    const samples = ['', 'x', '0', '-1', '3', 'id', 'ID', 'type', 'addr', 'skipme', 'yes', 'auth', 'setname', 'default', '\0', '\xff'];
    for (const command of connectionCommands.values()) {
      for (const first of samples) {
        for (const second of samples) {
          const args = [command.spec.name, first, second, first].map((word) => Buffer.from(word, 'latin1'));
          for (let count = 1; count <= args.length; count++) {
            expect(() => command.handler(connection.context, args.slice(0, count))).not.toThrow();
          }
        }
      }
    }
  });
});

describe('the CLUSTER family in cluster mode', () => {
  /** Three nodes: n1 (this one) leads g1 and g2, n2 leads g3, n3 registered no RESP address. */
  function clusterServer(): FakeServer {
    const server = new FakeServer();
    const routing = RoutingTable.of(initialLayout(['n1', 'n2', 'n3'], 3, 3).data, [
      { id: 'n1', grpc: '10.0.0.1:7001', resp: '10.0.0.1:6001' },
      { id: 'n2', grpc: '10.0.0.2:7002', resp: '10.0.0.2:6002' },
      { id: 'n3', grpc: '10.0.0.3:7003', resp: '' },
    ]);
    const leaders: Record<string, string> = { g1: 'n1', g2: 'n1', g3: 'n2' };
    const topology = new ClusterTopology({ id: 'n1', host: '10.0.0.1', respPort: 6001, grpcPort: 7001 }, routing, (g) => ({
      hosted: true,
      leader: leaders[g.id]!,
      lastLeader: leaders[g.id]!,
      voters: g.voters,
      term: 3,
      appliedIndex: 42,
    }));
    server.cluster = { enabled: true, view: () => topology.view(), keysInSlot: async () => ({ error: 'ERR not here' }) };
    return server;
  }
  const id = (node: string) => clusterNodeId(node);

  it('lists every node in CLUSTER NODES as a master with the slots of the groups it leads', () => {
    const server = clusterServer();
    server.nowMsValue = 1_700_000_000_000;
    const reply = server.connect().call('CLUSTER', 'NODES');
    expect(reply.kind === 'verbatim' && reply.value.toString()).toBe(
      `${id('n1')} 10.0.0.1:6001@7001 myself,master - 0 0 3 connected 0-10922\n` +
        `${id('n2')} 10.0.0.2:6002@7002 master - 0 1700000000000 3 connected 10923-16383\n` +
        `${id('n3')} 10.0.0.3:0@7003 master,noaddr - 0 1700000000000 0 connected\n`,
    );
  });

  it('shows each range with its leader as master and the other voters that have an address as replicas', () => {
    const reply = clusterServer().connect().call('CLUSTER', 'SLOTS');
    const node = (host: string, port: number, who: string) => `*4\r\n$${host.length}\r\n${host}\r\n:${port}\r\n$40\r\n${id(who)}\r\n*0\r\n`;
    expect(wire(reply)).toBe(
      '*3\r\n' +
        `*4\r\n:0\r\n:5460\r\n${node('10.0.0.1', 6001, 'n1')}${node('10.0.0.2', 6002, 'n2')}` +
        `*4\r\n:5461\r\n:10922\r\n${node('10.0.0.1', 6001, 'n1')}${node('10.0.0.2', 6002, 'n2')}` +
        `*4\r\n:10923\r\n:16383\r\n${node('10.0.0.2', 6002, 'n2')}${node('10.0.0.1', 6001, 'n1')}`,
    );
    const shards = wire(clusterServer().connect().call('CLUSTER', 'SHARDS'), 3);
    expect(shards.startsWith('*3\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n%7\r\n$2\r\nid\r\n')).toBe(true);
    expect(shards).toContain('$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n');
  });

  it('reads READONLY into the connection, and shows it in CLIENT LIST as Redis does (flags=r)', () => {
    const connection = clusterServer().connect();
    expect(wire(connection.call('READONLY'))).toBe('+OK\r\n');
    expect(connection.client.readOnly).toBe(true);
    expect(wire(connection.call('CLIENT', 'INFO'))).toContain(' flags=r ');
    expect(wire(connection.call('READWRITE'))).toBe('+OK\r\n');
    expect(connection.client.readOnly).toBe(false);
    expect(wire(connection.call('CLIENT', 'INFO'))).toContain(' flags=N ');
  });

  it("passes the node's refusal of a slot it holds no replica for on to the client", async () => {
    const connection = clusterServer().connect();
    expect(wire(await connection.callAsync('CLUSTER', 'COUNTKEYSINSLOT', '7'))).toBe('-ERR not here\r\n');
    expect(wire(await connection.callAsync('CLUSTER', 'GETKEYSINSLOT', '7', '1'))).toBe('-ERR not here\r\n');
  });
});
