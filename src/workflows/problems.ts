import { UserError } from '../core/errors.js';

/** One problem found in a workflow file, at a 1-based line and column. */
export interface Problem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export function formatProblem(problem: Problem): string {
  return `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`;
}

/**
 * A workflow file that failed to load. The message lists every problem, one
 * per line, each as `file:line:column: message` so editors can jump to it.
 */
export class WorkflowFileError extends UserError {
  constructor(readonly problems: Problem[]) {
    const first = problems[0]!;
    const message =
      problems.length === 1
        ? `Invalid workflow ${formatProblem(first)}`
        : `Invalid workflow ${first.file}: ${problems.length} problems\n${problems.map(formatProblem).join('\n')}`;
    super('invalid', message, { code: 'WORKFLOW_INVALID' });
  }
}
