import type { ClientState } from '../connection_context.js';
import { error, type Reply } from '../../resp/reply.js';

/**
 * One client as CLIENT LIST and CLIENT INFO print it (Redis 7.0's catClientInfoString), fields
 * in Redis's order. Fields that have no counterpart here carry the values of an idle client
 * with empty buffers; fd is -1 because the gateway exposes no file descriptor (Redis prints -1
 * for a client without a socket). Ends without the newline.
 */
export function clientInfoLine(client: ClientState, nowMs: number): string {
  const nowSeconds = Math.floor(nowMs / 1000);
  const age = nowSeconds - Math.floor(client.createdAtMs / 1000);
  const idle = nowSeconds - Math.floor(client.lastInteractionMs / 1000);
  return (
    `id=${client.id} addr=${client.addr} laddr=${client.laddr} fd=-1 name=${client.name}` +
    ` age=${age} idle=${idle} flags=${clientFlags(client)} db=${client.db}` +
    ` sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0` +
    ` obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=${client.lastCommand || 'NULL'} user=default` +
    ` redir=-1 resp=${client.protocol}`
  );
}

/**
 * Redis's validateClientName: every byte a printable ASCII character other than space (so that
 * CLIENT LIST splits on spaces); the empty name is valid (it removes the name). Returns the
 * error reply, or null when valid.
 */
export function clientNameError(name: Buffer): Reply | null {
  for (const byte of name) {
    if (byte < 0x21 || byte > 0x7e) return invalidName;
  }
  return null;
}

/** CLIENT SETNAME: the error reply, or null after setting the name. */
export function setClientName(client: ClientState, name: Buffer): Reply | null {
  const refused = clientNameError(name);
  if (refused === null) client.name = name.toString('latin1');
  return refused;
}

const invalidName = error('ERR Client names cannot contain spaces, newlines or special characters.');

/** CLIENT LIST's flags, in Redis's order: `c` closing after the reply, `r` READONLY; `N` for none. */
function clientFlags(client: ClientState): string {
  const flags = `${client.closeAfterReply ? 'c' : ''}${client.readOnly ? 'r' : ''}`;
  return flags === '' ? 'N' : flags;
}
