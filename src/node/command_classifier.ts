import type { CommandSpec, ReadCommandSpec, WriteCommandSpec } from '../commands/command_spec.js';
import type { ConnectionContext, ConnectionHandler } from '../commands/connection_context.js';
import { error, type Reply } from '../resp/reply.js';

/** A client command resolved against the table: Redis's unknown-command and arity checks done. */
export type CommandResolution =
  | {
      readonly ok: true;
      /** The spec that runs (a subcommand's, for CLIENT SETNAME and the like). */
      readonly spec: CommandSpec;
      /** Redis's full name (`get`, `client|setname`), for CLIENT LIST's cmd=. */
      readonly fullName: string;
      /** For connection commands. */
      readonly handler?: ConnectionHandler;
    }
  | { readonly ok: false; readonly reply: Reply };

/** A client command, classified: what the connection needs to order it. */
export type ClassifiedCommand =
  | { readonly kind: 'immediate'; readonly reply: Reply }
  /** Runs on the connection; a promise for the few that read state (the connection waits for it). */
  | { readonly kind: 'connection'; readonly run: () => Reply | Promise<Reply> }
  | { readonly kind: 'read'; readonly spec: ReadCommandSpec; readonly args: readonly Buffer[] }
  | { readonly kind: 'write'; readonly spec: WriteCommandSpec; readonly args: readonly Buffer[] };

/**
 * Resolves and classifies one client command: unknown command and arity errors, and a read's
 * own validation, become immediate replies (bad input never reaches a group); connection
 * commands run on the connection; reads and writes go to a group's gateway.
 */
export function classifyCommand(
  resolve: (args: readonly Buffer[]) => CommandResolution,
  ctx: ConnectionContext,
  args: readonly Buffer[],
  /** Cluster mode: a read's own checks come after the redirect (the router makes them), as in Redis Cluster. */
  deferReadChecks = false,
): ClassifiedCommand {
  const resolution = resolve(args);
  if (!resolution.ok) return { kind: 'immediate', reply: resolution.reply };
  const { spec } = resolution;
  switch (spec.kind) {
    case 'connection': {
      const handler = resolution.handler;
      return {
        kind: 'connection',
        run: () => {
          ctx.client.lastCommand = resolution.fullName;
          try {
            const reply = handler ? handler(ctx, args) : error(`ERR internal error: no handler for '${resolution.fullName}'`);
            return reply instanceof Promise ? reply.catch(internalError) : reply;
          } catch (err) {
            return internalError(err);
          }
        },
      };
    }
    case 'read': {
      const invalid = deferReadChecks ? null : spec.validate(args);
      if (invalid) return { kind: 'immediate', reply: invalid };
      ctx.client.lastCommand = resolution.fullName;
      return { kind: 'read', spec, args };
    }
    case 'write':
      ctx.client.lastCommand = resolution.fullName;
      return { kind: 'write', spec, args };
  }
}

/** What a command that threw answers (a bug, never the client's fault: the connection goes on). */
export function internalError(err: unknown): Reply {
  return error(`ERR internal error: ${(err as Error).message}`);
}
