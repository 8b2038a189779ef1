import { findAction, loadActions, type ActionDefinition } from '../../workflows/action.js';
import type { CommandGroupSpec, CommandSpec } from '../command.js';
import { printJson, printTable } from '../output.js';

const list: CommandSpec = {
  name: 'list',
  summary: 'list the built-in actions that steps can use with `uses:`',
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run({ options }) {
    const actions = [...(await loadActions()).values()];
    if (options.json) return printJson(actions.map(describeAction));
    printTable(
      ['action', 'summary'],
      actions.map((action) => [action.name, action.summary]),
      'No actions.',
    );
  },
};

const describe: CommandSpec = {
  name: 'describe <name>',
  summary: "show an action's inputs and outputs",
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run({ args: [name], options }) {
    const action = await findAction(name!);
    if (options.json) return printJson(describeAction(action));
    const out = process.stdout;
    out.write(`${action.name}: ${action.summary}\n`);
    if (action.description) out.write(`\n${action.description}\n`);
    out.write('\nInputs:\n');
    printTable(
      ['input', 'type', 'required', 'default', 'description'],
      Object.entries(action.inputs).map(([key, input]) => [
        key,
        input.type,
        input.required ? 'yes' : 'no',
        input.default ?? '-',
        input.description,
      ]),
      'No inputs.',
    );
    out.write('\nOutputs:\n');
    printTable(
      ['output', 'description'],
      Object.entries(action.outputs).map(([key, output]) => [key, output.description]),
      'No outputs.',
    );
    out.write(`\nExample:\n  - uses: ${action.name}\n${exampleWith(action)}`);
  },
};

function describeAction(action: ActionDefinition) {
  return {
    name: action.name,
    summary: action.summary,
    description: action.description ?? null,
    inputs: action.inputs,
    outputs: action.outputs,
  };
}

function exampleWith(action: ActionDefinition): string {
  const required = Object.entries(action.inputs).filter(([, input]) => input.required);
  if (required.length === 0) return '';
  return `    with:\n${required.map(([key, input]) => `      ${key}: ${input.type === 'number' ? '1' : `<${key}>`}\n`).join('')}`;
}

export const actionCommands: CommandGroupSpec = {
  name: 'action',
  summary: 'built-in workflow actions: list and describe',
  commands: [list, describe],
};
