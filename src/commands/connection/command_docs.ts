import type { CommandSpec, ConnectionCommandSpec } from '../command_spec.js';
import type { ConnectionHandler } from '../connection_context.js';

/**
 * What COMMAND DOCS and COMMAND INFO print beyond CommandSpecBase (which has tips, key specs,
 * history and doc flags), in the shape of Redis's commands/*.json. Any CommandSpec may add these
 * fields; COMMAND reads them where present, so the other families can adopt them without a
 * change of contract.
 */
export interface CommandDocs {
  readonly arguments?: readonly ArgumentDoc[];
  /** A container's subcommands; each `name` is the full name, e.g. `client|setname`. */
  readonly subcommands?: readonly DocumentedSpec[];
}

export interface ArgumentDoc {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'double' | 'key' | 'pattern' | 'unix-time' | 'pure-token' | 'oneof' | 'block';
  readonly keySpecIndex?: number;
  readonly token?: string;
  readonly summary?: string;
  readonly since?: string;
  readonly deprecatedSince?: string;
  readonly flags?: readonly ('optional' | 'multiple' | 'multiple_token')[];
  /** The members of a `oneof` or `block`. */
  readonly arguments?: readonly ArgumentDoc[];
}

export type DocumentedSpec = CommandSpec & CommandDocs;

/** A connection command of this folder: its metadata and the function that runs it. */
export interface ConnectionCommand {
  readonly spec: ConnectionCommandSpec & CommandDocs;
  readonly handler: ConnectionHandler;
}

/** The key positions every connection command has: none. */
export const noKeys = { firstKey: 0, lastKey: 0, keyStep: 0 } as const;
