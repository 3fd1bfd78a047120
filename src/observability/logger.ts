import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { RaftLogger } from '../raft/config.js';

/**
 * The process logger: JSON lines on stdout (pino), or readable lines under `dev` (pino-pretty as
 * a synchronous stream in-process, no worker thread).
 */
export function createLogger(options: { level: string; pretty: boolean; node: string }): Logger {
  const base = { node: options.node };
  if (options.pretty) {
    return pino({ level: options.level, base }, pretty({ colorize: false, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, sync: true }));
  }
  return pino({ level: options.level, base });
}

/** Adapts a pino logger to the core's minimal interface (conventions: component, group, node). */
export function raftLogger(logger: Logger, group: string): RaftLogger {
  const child = logger.child({ component: 'raft', group });
  return {
    debug: (msg, fields) => child.debug(fields ?? {}, msg),
    info: (msg, fields) => child.info(fields ?? {}, msg),
    warn: (msg, fields) => child.warn(fields ?? {}, msg),
  };
}
