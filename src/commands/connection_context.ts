import type { Reply } from '../resp/reply.js';
import type { CommandSpec } from './command_spec.js';

/** Per-connection state the gateway keeps and connection commands change. */
export interface ClientState {
  readonly id: number;
  /** `ip:port` of the client, and of our end. */
  readonly addr: string;
  readonly laddr: string;
  readonly createdAtMs: number;
  lastInteractionMs: number;
  name: string;
  /** 2 or 3 (HELLO). */
  protocol: 2 | 3;
  /** Always 0: quorumkv has one database (SELECT of any other is refused as Redis Cluster does). */
  db: number;
  lastCommand: string;
  /** Set by QUIT: the gateway closes the connection after writing the reply. */
  closeAfterReply: boolean;
}

/** What connection commands may ask of the server. */
export interface ServerContext {
  /** Wall clock, for TIME and CLIENT LIST ages. */
  nowMs(): number;
  /** Microseconds part for TIME, from the same clock source. */
  nowMicros(): bigint;
  clients(): readonly ClientState[];
  /** Closes another client's connection (CLIENT KILL); false if there is no such client. */
  killClient(id: number): boolean;
  commandTable(): readonly CommandSpec[];
  /** Names of the INFO sections this server has, in order, lower-case. */
  infoSectionNames(): readonly string[];
  /** One INFO section's lines (`key:value`), without its `# Title` header. */
  infoSection(name: string): readonly string[];
  /** For HELLO: server name, version, mode, role. */
  readonly serverName: string;
  readonly redisVersion: string;
  role(): 'master' | 'replica';
}

export interface ConnectionContext {
  readonly client: ClientState;
  readonly server: ServerContext;
}

/** A connection command: PING, ECHO, SELECT, QUIT, HELLO, CLIENT, COMMAND, INFO, TIME. */
export type ConnectionHandler = (ctx: ConnectionContext, args: readonly Buffer[]) => Reply;
