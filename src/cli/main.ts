/**
 * `bin/quorumkv.js`: the command-line entry. Subcommands arrive with the cluster issue (#3):
 * `server`, `dev`, `admin`, `restore` (see ../shared/contract.md).
 */
const [command] = process.argv.slice(2);
const known = ['server', 'dev', 'admin', 'restore'];
if (command === undefined || !known.includes(command)) {
  process.stderr.write(`usage: quorumkv <${known.join('|')}> [flags]\n`);
  process.exit(2);
}
process.stderr.write(`quorumkv ${command}: not built yet (the cluster issue, #3, brings it)\n`);
process.exit(2);
