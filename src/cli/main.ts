import { readFileSync } from 'node:fs';

import { Command, CommanderError } from 'commander';

import { EXIT_CODES, isUserError } from '../core/errors.js';
import { stringifyJson } from '../core/json.js';
import { addCommand, addGroup } from './command.js';
import { COMMAND_GROUPS, TOP_LEVEL_COMMANDS } from './commands.js';

const packageJson = JSON.parse(
  readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
) as { version: string };

/**
 * Builds the program. Only the command named in `argv` is loaded with its
 * modules; the others are placeholders that carry their summary for --help.
 */
export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command('opsbox')
    .description(
      'Self-hosted ops platform: SQLite databases, PostgreSQL runbook, S3 storage, secrets and workflows',
    )
    .version(packageJson.version)
    .option('--data-dir <dir>', 'data directory (default: $OPSBOX_DATA_DIR or ./.opsbox)')
    .option('--debug', 'show the stack trace of unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  // Commander's own usage errors get the same "opsbox:" prefix as ours.
  program.configureOutput({
    outputError: (text, write) => write(text.replace(/^error: /, 'opsbox: ')),
  });

  const invoked = invokedCommand(argv);
  for (const lazy of TOP_LEVEL_COMMANDS) {
    if (lazy.name === invoked) addCommand(program, await lazy.load(), program);
    else program.command(lazy.name).description(lazy.summary);
  }
  for (const lazy of COMMAND_GROUPS) {
    if (lazy.name === invoked || (invoked === 'help' && argv.includes(lazy.name)))
      addGroup(program, await lazy.load());
    else program.command(lazy.name).description(lazy.summary);
  }
  applyToTree(program, (command) => command.exitOverride());
  return program;
}

/** Returns the first argument that is not a global option: the command or group invoked. */
function invokedCommand(argv: string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--data-dir') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

function applyToTree(command: Command, apply: (command: Command) => void): void {
  apply(command);
  for (const child of command.commands) applyToTree(child, apply);
}

/** Runs the CLI and exits with the code of the outcome. */
export async function main(argv: string[]): Promise<void> {
  exitWhenOutputClosed();
  const program = await buildProgram(argv);
  const wantsJson = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = reportError(error, { debug: argv.includes('--debug'), json: wantsJson });
  }
}

/**
 * Ends the process quietly when the reader of stdout or stderr goes away, as
 * in `opsbox workflow runs | head -1`. Node ignores SIGPIPE, so a write to a
 * closed pipe fails with EPIPE where a C program such as `ls` would be killed
 * by the signal. The process exits with the code already set, or 0.
 */
function exitWhenOutputClosed(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit();
      throw error;
    });
  }
}

/** Prints a failure as one line (or a JSON object under --json) and returns the exit code. */
export function reportError(error: unknown, options: { debug: boolean; json: boolean }): number {
  if (error instanceof CommanderError) {
    // Commander already printed help, the version or its own usage message.
    if (error.exitCode === 0) return 0;
    return EXIT_CODES.usage;
  }
  if (isUserError(error)) {
    if (options.json) {
      process.stdout.write(
        stringifyJson(
          { error: { code: error.code, kind: error.kind, message: error.message } },
          2,
        ) + '\n',
      );
    }
    process.stderr.write(`opsbox: ${error.message}\n`);
    if (options.debug && error.cause)
      process.stderr.write(String((error.cause as Error).stack ?? error.cause) + '\n');
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`opsbox: unexpected error, likely a bug in opsbox: ${message}\n`);
  if (options.debug) {
    process.stderr.write(String((error as Error)?.stack ?? error) + '\n');
  } else {
    process.stderr.write('Run again with --debug for the stack trace.\n');
  }
  return EXIT_CODES.bug;
}
