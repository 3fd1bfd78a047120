import type { Logger } from 'pino';
import type { RaftLogger } from '../raft/config.js';

/**
 * Adapts the process's pino logger to the core's minimal logging interface (the core never sees
 * pino): a child per component and group, with the message's fields as the record's.
 */
export function raftLogger(logger: Logger, component: string, group?: string): RaftLogger {
  const child = logger.child(group === undefined ? { component } : { component, group });
  return {
    debug: (msg, fields) => child.debug(fields ?? {}, msg),
    info: (msg, fields) => child.info(fields ?? {}, msg),
    warn: (msg, fields) => child.warn(fields ?? {}, msg),
  };
}
