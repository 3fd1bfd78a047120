/**
 * `bin/quorumkv.js`: the command-line entry. Wiring only; each subcommand lives in its module.
 * The commands and flags: docs/contract.md.
 */
import { runAdminCommand } from '../admin/admin_command.js';
import { backupCluster } from './cluster_backup.js';
import { runDev } from './dev.js';
import { runRestore } from './restore.js';
import { runServer } from './server.js';

const usage = `usage: quorumkv <command> [flags]
  server [flags]                       one node in the foreground
  dev [--nodes 3] [--groups 3] [--resp-port 6379] [--grpc-port 7379] [--data-dir ./data]
      [--cluster-mode]                 a local cluster
  admin --addr HOST:GRPCPORT <subcommand>
                                       the admin API (status, add-node, remove-node, promote,
                                       transfer-leader, snapshot, backup --out FILE)
  restore --from FILE --data-dir DIR --id ID --peers ID=HOST:PORT,... [--replicas 3]
                                       seeds a new node's data dir from a backup
`;

const terminal = { stdout: (s: string) => process.stdout.write(s), stderr: (s: string) => process.stderr.write(s) };

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      return runServer(rest);
    case 'dev':
      return runDev(rest);
    case 'admin':
      return runAdminCommand(rest, terminal, { backupCluster });
    case 'restore':
      return runRestore(rest, terminal);
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage);
      return 0;
    default:
      process.stderr.write(command === undefined ? usage : `quorumkv: unknown command '${command}'\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`quorumkv: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
