import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

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
