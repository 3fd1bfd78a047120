import { ConfigError, parseServerConfig } from '../config/config.js';
import { commandCatalog } from '../node/catalog.js';
import { NodeHost, ServerStartError } from '../node/node_host.js';
import { createLogger } from '../observability/logger.js';
import { StorageError } from '../storage/errors.js';

/** `quorumkv server [flags]`: one node in the foreground. Exit 2 on bad flags or an unusable data dir. */
export async function runServer(argv: readonly string[]): Promise<number> {
  let config;
  try {
    config = parseServerConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`quorumkv server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.prettyLogs, node: config.id });
  let server: NodeHost;
  try {
    server = await NodeHost.start(config, logger, commandCatalog);
  } catch (err) {
    if (err instanceof ServerStartError || err instanceof StorageError) {
      process.stderr.write(`quorumkv server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ component: 'node', signal }, 'shutting down');
      server.stop().then(
        () => resolve(0),
        (err: Error) => {
          process.stderr.write(`quorumkv server: shutdown failed: ${err.message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
