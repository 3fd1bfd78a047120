import { cString } from '../arguments.js';
import { error, type Reply } from '../../resp/reply.js';

/**
 * The errors of commandCheckExistence, the first check of Redis 7.0's processCommand, with
 * Redis's exact texts (arity, the second check, is checkArity in command_table.ts). Texts are
 * byte strings (see resp/reply.ts): client bytes are quoted as latin1 and cut at a NUL, as C's
 * %s does; the encoder turns CR and LF into spaces, as sdsmapchars does there.
 */

/** `-ERR unknown command 'foo', with args beginning with: 'a' 'b' ` (name cut to 128 bytes, args to 128 bytes in all). */
export function unknownCommandError(args: readonly Buffer[]): Reply {
  let quoted = '';
  for (let i = 1; i < args.length && quoted.length < 128; i++) {
    quoted += `'${cString(args[i]!).slice(0, 128 - quoted.length)}' `;
  }
  return error(`ERR unknown command '${cString(args[0]!).slice(0, 128)}', with args beginning with: ${quoted}`);
}

/** `-ERR unknown subcommand 'x'. Try CLIENT HELP.` (the container as typed, upper-cased). */
export function unknownSubcommandError(args: readonly Buffer[]): Reply {
  return error(
    `ERR unknown subcommand '${cString(args[1]!).slice(0, 128)}'. Try ${asciiUpper(cString(args[0]!))} HELP.`,
  );
}

/** C's toupper/tolower in the "C" locale change ASCII letters only. */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** A command or subcommand name as the command table's lookup sees it: ASCII case folded. */
export function commandName(arg: Buffer): string {
  return asciiLower(arg.toString('latin1'));
}

/** An option word as strcasecmp sees it (ASCII case folded, cut at a NUL), for switch-like parsing. */
export function optionName(arg: Buffer): string {
  return asciiLower(cString(arg));
}
