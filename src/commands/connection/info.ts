import { verbatim } from '../../resp/reply.js';
import { noKeys, type ConnectionCommand } from './command_docs.js';
import { optionName } from './command_errors.js';

/**
 * INFO [section ...], as Redis 7.0's genRedisInfoString: the chosen sections in the server's
 * own order (not the order asked), each `# Title` then `key:value` lines, CRLF after every line
 * and an empty line between sections. `default` (and no argument) is every section but the
 * per-command statistics; `all` and `everything` are every section (quorumkv has no module
 * sections for them to differ on); unknown names are ignored, so only unknown names give an
 * empty reply. A bulk string in RESP2, a verbatim `txt` string in RESP3.
 */
export const info: ConnectionCommand = {
  spec: {
    kind: 'connection',
    name: 'info',
    arity: -1,
    flags: ['loading', 'stale'],
    ...noKeys,
    categories: ['slow', 'dangerous'],
    summary: 'Get information and statistics about the server',
    since: '1.0.0',
    group: 'server',
    complexity: 'O(1)',
    tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'],
    history: [['7.0.0', 'Added support for taking multiple section arguments.']],
    arguments: [{ name: 'section', type: 'string', flags: ['optional', 'multiple'] }],
  },
  handler: (ctx, args) => {
    const sections = ctx.server.infoSectionNames();
    const defaults = sections.filter((name) => !NOT_DEFAULT.has(name));
    const wanted = new Set<string>();
    for (const name of args.length === 1 ? ['default'] : args.slice(1).map(optionName)) {
      if (name === 'all' || name === 'everything') sections.forEach((section) => wanted.add(section));
      else if (name === 'default') defaults.forEach((section) => wanted.add(section));
      else wanted.add(name);
    }
    const text = sections
      .filter((name) => wanted.has(name))
      .map((name) => `# ${sectionTitle(name)}\r\n${ctx.server.infoSection(name).map((line) => `${line}\r\n`).join('')}`)
      .join('\r\n');
    return verbatim(text);
  },
};

/** Sections Redis leaves out of the default INFO. */
const NOT_DEFAULT: ReadonlySet<string> = new Set(['commandstats', 'latencystats']);

/** `server` is `# Server`; Redis spells a few titles its own way. */
function sectionTitle(name: string): string {
  return TITLES[name] ?? name.charAt(0).toUpperCase() + name.slice(1);
}

const TITLES: Readonly<Record<string, string>> = { cpu: 'CPU' };
