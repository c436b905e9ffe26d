/**
 * `--help` text, generated from the flag schema so every flag is listed exactly once per command.
 */
import { COMMAND_SUMMARY, COMMANDS, type CommandName, FLAGS, flagApplies } from './schema.js';

const USAGE: Record<CommandName, string> = {
  sync: 'replicant --source URL --target URL [flags]',
  restore: 'replicant restore --rdb FILE --target URL [flags]',
  'rdb-inspect': 'replicant rdb-inspect FILE [--json] [flags]',
  precheck: 'replicant precheck --source URL --target URL [flags]',
  verify: 'replicant verify --source URL --target URL [flags]',
};

export function helpText(command: CommandName, general: boolean): string {
  const lines: string[] = [];
  lines.push(`usage: ${USAGE[command]}`, '', COMMAND_SUMMARY[command], '');
  if (general) {
    lines.push('commands:');
    for (const c of COMMANDS) lines.push(`  ${c.padEnd(12)} ${COMMAND_SUMMARY[c]}`);
    lines.push('', 'run `replicant <command> --help` for the flags of a command', '');
  }
  lines.push(`flags${general ? ' (sync)' : ''}:`);
  const rows = FLAGS.filter((f) => flagApplies(f, command)).map((f) => {
    const name = `${f.short ? `-${f.short}, ` : ''}--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
    return [name, f.env ? `${f.help} [env ${f.env}]` : f.help] as const;
  });
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [name, help] of rows) lines.push(`  ${name.padEnd(width)}${help}`);
  lines.push('', 'exit codes: 0 done, 2 error (the message says why and what to do)');
  return `${lines.join('\n')}\n`;
}
