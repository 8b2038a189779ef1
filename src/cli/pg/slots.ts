import { UserError } from '../../core/errors.js';
import { dropSlot } from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { confirm, info, printJson } from '../output.js';
import { CONNECTION_OPTIONS, connectionOptions, JSON_OPTION, YES_OPTION } from './common.js';

export const slotsCommand: CommandSpec = {
  name: 'slots <action> <name> [url]',
  summary: 'Drop a replication slot: slots drop NAME (asks first; refuses an active slot)',
  options: [...CONNECTION_OPTIONS, YES_OPTION, JSON_OPTION],
  async run(input) {
    const [action, name, url] = input.args;
    if (action !== 'drop') {
      throw new UserError(
        'usage',
        `Unknown slots action "${action}": use opsbox pg slots drop NAME (list slots with opsbox pg replication).`,
      );
    }
    await confirm(
      `Drop replication slot "${name}"? Its consumer will have to be rebuilt from a fresh copy.`,
      { yes: input.options.yes },
    );
    const slot = await dropSlot({ ...connectionOptions(input, url), name: name! });
    if (input.options.json) printJson({ dropped: slot });
    else info(`Dropped replication slot ${slot.slot_name} (${slot.slot_type}).`);
  },
};
