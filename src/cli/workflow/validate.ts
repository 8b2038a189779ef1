import { errorMessage } from '../../core/errors.js';
import { loadWorkflowFile } from '../../workflows/catalog.js';
import { WorkflowFileError, type Problem } from '../../workflows/problems.js';
import type { CommandSpec } from '../command.js';
import { info, printJson } from '../output.js';

/** The outcome for one file, as `--json` prints it. */
type ValidationResult =
  | { file: string; valid: true; jobs: number; schedules: number; problems: Problem[] }
  | { file: string; valid: false; problems: Problem[] };

export const validateCommand: CommandSpec = {
  name: 'validate <file>',
  summary: 'check a workflow file and report every problem as file:line:column',
  options: [{ flags: '--json', description: 'print the result as JSON' }],
  async run({ args, options }) {
    const results: ValidationResult[] = [];
    let firstError: unknown;
    for (const file of args) {
      try {
        const workflow = await loadWorkflowFile(file);
        results.push({
          file,
          valid: true,
          jobs: Object.keys(workflow.definition.jobs).length,
          schedules: workflow.schedules.length,
          problems: [],
        });
      } catch (error) {
        firstError ??= error;
        const problems =
          error instanceof WorkflowFileError
            ? error.problems
            : [{ file, line: 0, column: 0, message: errorMessage(error) }];
        results.push({ file, valid: false, problems });
      }
    }
    if (options.json) {
      printJson(results);
      if (firstError) process.exitCode = 3;
      return;
    }
    for (const result of results)
      if (result.valid)
        info(
          `${result.file}: valid (${count(result.jobs, 'job')}, ${count(result.schedules, 'schedule')}).`,
        );
    if (firstError) throw firstError;
  },
};

/** Formats a count with its noun, plural unless the count is 1: "1 job", "0 schedules". */
function count(value: number, noun: string): string {
  return `${value} ${noun}${value === 1 ? '' : 's'}`;
}
