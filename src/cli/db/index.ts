import type { CommandGroupSpec } from '../command.js';

export const dbCommands: CommandGroupSpec = { name: 'db', summary: 'D1-style SQLite databases', commands: [] };
