import { Command, Option } from 'commander';

import { Context } from '../core/context.js';
import { createLogger, type Logger } from '../core/logger.js';

/** Options every command receives from the top-level program. */
export interface GlobalOptions {
  dataDir?: string;
  debug?: boolean;
}

export interface OptionSpec {
  /** Commander flags, such as `--output <file>` or `-y, --yes`. */
  flags: string;
  description: string;
  default?: unknown;
  /** Names of options that cannot be combined with this one. */
  conflicts?: string[];
  /** Collects every use of a repeatable option into an array. */
  repeatable?: boolean;
  choices?: string[];
  env?: string;
}

/**
 * One CLI verb declared as data: the file that exports it holds nothing but
 * parsing glue around a service call.
 */
export interface CommandSpec {
  /** Name with its arguments in commander syntax, such as `create <name>`. */
  name: string;
  summary: string;
  description?: string;
  aliases?: string[];
  options?: OptionSpec[];
  /** Accept options this spec does not declare (for pass-through verbs). */
  allowUnknownOptions?: boolean;
  /** Whether the server logger is needed (only `serve` and `worker`). */
  serverLogger?: boolean;
  run(input: CommandInput): Promise<void> | void;
}

export interface CommandInput {
  args: string[];
  options: Record<string, any>;
  context: Context;
  global: GlobalOptions;
}

export interface CommandGroupSpec {
  name: string;
  summary: string;
  commands: CommandSpec[];
  /** Nested groups, such as `db backup`. */
  subgroups?: CommandGroupSpec[];
}

/** Adds a command spec to a commander program or group. */
export function addCommand(parent: Command, spec: CommandSpec, root: Command): Command {
  const command = parent
    .command(spec.name)
    .description(spec.description ?? spec.summary, {})
    .summary(spec.summary);
  for (const alias of spec.aliases ?? []) command.alias(alias);
  for (const option of spec.options ?? []) command.addOption(toOption(option));
  if (spec.allowUnknownOptions) command.allowUnknownOption(true);

  command.action(async (...actionArgs: unknown[]) => {
    const cmd = actionArgs[actionArgs.length - 1] as Command;
    const global = root.opts<GlobalOptions>();
    const logger: Logger | undefined = spec.serverLogger ? await createLogger() : undefined;
    const context = new Context({ dataDir: global.dataDir, logger });
    try {
      await spec.run({
        args: cmd.args.slice(0, cmd.registeredArguments.length).map(String),
        options: cmd.opts(),
        context,
        global,
      });
    } finally {
      if (!spec.serverLogger) context.close();
    }
  });
  return command;
}

function toOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  if (spec.default !== undefined) option.default(spec.default);
  if (spec.conflicts) option.conflicts(spec.conflicts);
  if (spec.choices) option.choices(spec.choices);
  if (spec.env) option.env(spec.env);
  if (spec.repeatable)
    option.argParser((value: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      value,
    ]);
  return option;
}

export function addGroup(parent: Command, group: CommandGroupSpec, root: Command = parent): void {
  const command = parent.command(group.name).description(group.summary);
  for (const spec of group.commands) addCommand(command, spec, root);
  for (const subgroup of group.subgroups ?? []) addGroup(command, subgroup, root);
}
