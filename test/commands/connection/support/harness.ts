import type { CommandSpec } from '../../../../src/commands/command_spec.js';
import { commandTable } from '../../../../src/commands/command_table.js';
import type { ClientState, ClusterContext, ClusterView, ConnectionContext, ServerContext } from '../../../../src/commands/connection_context.js';
import { connectionCommands, commandLookup, resolveCommand } from '../../../../src/commands/connection/registry.js';
import { ReplyWriter } from '../../../../src/resp/encoder.js';
import { ProtocolError } from '../../../../src/resp/errors.js';
import { RespParser } from '../../../../src/resp/parser.js';
import { nullReply, error, type Reply } from '../../../../src/resp/reply.js';

/**
 * A server in-process for tests: a fake ServerContext, and connections that run the path the
 * gateway runs for connection commands (parser ─▶ resolveCommand ─▶ handler ─▶ encoder, a
 * protocol error written then the connection closed, QUIT closing after its reply). Keyspace
 * commands are resolved from the real command table but not run: they answer a null (enough
 * for their arity and lookup to be compared with Redis on an empty database).
 */
export class FakeServer implements ServerContext {
  readonly serverName = 'redis';
  readonly connections: FakeConnection[] = [];
  readonly killed: number[] = [];
  nowMsValue = 1_700_000_000_123;
  private nextId = 1;
  readonly specs: readonly CommandSpec[] = [...commandTable, ...[...connectionCommands.values()].map((c) => c.spec)];
  readonly lookup = commandLookup(this.specs);
  sections: [string, string[]][] = [
    ['server', ['redis_version:7.0.15', 'redis_mode:standalone']],
    ['clients', ['connected_clients:1']],
    ['cpu', ['used_cpu_sys:0.1']],
    ['commandstats', ['cmdstat_ping:calls=1']],
    ['raft', ['raft_node_id:n1', 'raft_role:leader']],
    ['keyspace', []],
  ];

  /** Cluster mode off, as a plain redis-server; tests of the CLUSTER family give it a view. */
  cluster: ClusterContext = {
    enabled: false,
    view: (): ClusterView => {
      throw new Error('no cluster view in this test');
    },
    keysInSlot: () => Promise.resolve({ error: 'ERR no keys in this test' }),
  };

  constructor(readonly redisVersion = '7.0.15') {}

  connect(addr = `127.0.0.1:${40000 + this.nextId}`): FakeConnection {
    const connection = new FakeConnection(this, {
      id: this.nextId++,
      addr,
      laddr: '127.0.0.1:6379',
      createdAtMs: this.nowMsValue,
      lastInteractionMs: this.nowMsValue,
      name: '',
      protocol: 2,
      db: 0,
      lastCommand: '',
      closeAfterReply: false,
      readOnly: false,
    });
    this.connections.push(connection);
    return connection;
  }

  nowMs(): number {
    return this.nowMsValue;
  }
  nowMicros(): bigint {
    return BigInt(this.nowMsValue) * 1000n + 456n;
  }
  clients(): readonly ClientState[] {
    return this.connections.filter((c) => !c.closed).map((c) => c.client);
  }
  killClient(id: number): boolean {
    const connection = this.connections.find((c) => c.client.id === id && !c.closed);
    if (connection === undefined) return false;
    connection.closed = true;
    this.killed.push(id);
    return true;
  }
  commandTable(): readonly CommandSpec[] {
    return this.specs;
  }
  infoSectionNames(): readonly string[] {
    return this.sections.map(([name]) => name);
  }
  infoSection(name: string): readonly string[] {
    return this.sections.find(([section]) => section === name)?.[1] ?? [];
  }
  role(): 'master' | 'replica' {
    return 'master';
  }
}

export class FakeConnection {
  readonly parser = new RespParser();
  private readonly writer = new ReplyWriter();
  closed = false;

  constructor(
    private readonly server: FakeServer,
    readonly client: ClientState,
  ) {}

  get context(): ConnectionContext {
    return { client: this.client, server: this.server };
  }

  /** Feeds bytes as one chunk and returns every byte written back. */
  receive(bytes: Buffer): Buffer {
    if (this.closed) return Buffer.alloc(0);
    this.parser.feed(Buffer.from(bytes));
    for (let request = this.parser.next(); request !== null && !this.closed; request = this.parser.next()) {
      if (request instanceof ProtocolError) {
        if (request.reply !== null) this.writer.write(request.reply, this.client.protocol);
        this.closed = true;
        break;
      }
      this.writer.write(this.run(request), this.client.protocol);
      if (this.client.closeAfterReply) this.closed = true;
    }
    return this.writer.take();
  }

  /** Runs one command and returns its reply (without writing it); a command that answers later is an error here (see runAsync). */
  run(args: readonly Buffer[]): Reply {
    const reply = this.runAsync(args);
    if (reply instanceof Promise) throw new Error(`${args[0]} answers later: use callAsync`);
    return reply;
  }

  /** Runs one command; its reply, or a promise of it for a command that reads state (CLUSTER COUNTKEYSINSLOT). */
  runAsync(args: readonly Buffer[]): Reply | Promise<Reply> {
    const resolved = resolveCommand(this.server.lookup, args);
    if (!resolved.ok) return resolved.reply;
    this.client.lastCommand = resolved.fullName;
    this.client.lastInteractionMs = this.server.nowMsValue;
    const connectionCommand = connectionCommands.get(resolved.command.name);
    if (connectionCommand !== undefined) return connectionCommand.handler(this.context, args);
    return resolved.command.kind === 'read' ? nullReply : error('ERR not run in this harness');
  }

  /** Runs a command given as words. */
  call(...words: (string | Buffer)[]): Reply {
    return this.run(words.map((word) => (typeof word === 'string' ? Buffer.from(word, 'latin1') : word)));
  }

  /** Runs a command given as words, waiting for a reply that comes later. */
  async callAsync(...words: (string | Buffer)[]): Promise<Reply> {
    return this.runAsync(words.map((word) => (typeof word === 'string' ? Buffer.from(word, 'latin1') : word)));
  }
}
