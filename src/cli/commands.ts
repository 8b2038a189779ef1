import type { CommandGroupSpec, CommandSpec } from './command.js';
import { dbCommands } from './db/index.js';
import { secretCommands } from './secret/index.js';
import { serveCommand } from './serve.js';
import { tokenCommands } from './token/index.js';

/** Commands directly under `opsbox`. */
export const TOP_LEVEL_COMMANDS: CommandSpec[] = [serveCommand];

/** Command groups (`opsbox db …`); each capability adds its group here. */
export const COMMAND_GROUPS: CommandGroupSpec[] = [dbCommands, tokenCommands, secretCommands];
