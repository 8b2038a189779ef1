import { UserError, errorMessage } from '../../core/errors.js';
import type { ActionDefinition } from '../action.js';

/** Response bodies past this size are cut in the `body` output, so one call cannot fill the run record. */
const MAX_BODY_CHARS = 1024 * 1024;

const action: ActionDefinition = {
  name: 'http/request',
  summary: 'send an HTTP request and return the status, headers and body',
  description:
    'Sends one request with fetch. By default a status of 400 or more fails the step; set fail-on-error: false to inspect it in later steps.',
  inputs: {
    url: { description: 'the URL to request', type: 'string', required: true },
    method: { description: 'HTTP method', type: 'string', default: 'GET' },
    headers: { description: 'request headers as a JSON object', type: 'json' },
    body: { description: 'request body, sent as given', type: 'string' },
    'timeout-seconds': {
      description: 'time limit of the request in seconds',
      type: 'number',
      default: 30,
    },
    'fail-on-error': {
      description: 'fail the step when the status is 400 or more',
      type: 'boolean',
      default: true,
    },
  },
  outputs: {
    status: { description: 'the HTTP status code' },
    headers: { description: 'the response headers as a JSON object' },
    body: { description: 'the response body as text (cut after 1 MiB)' },
  },
  async run({ inputs, log, signal }) {
    const url = String(inputs.url);
    const method = String(inputs.method).toUpperCase();
    const response = await send(
      url,
      {
        method,
        headers: inputs.headers as Record<string, string> | undefined,
        body: inputs.body as string | undefined,
      },
      Number(inputs['timeout-seconds']),
      signal,
    );
    const text = await response.text();
    log(
      `${method} ${url} -> ${response.status} ${response.statusText} (${text.length} characters)`,
    );
    if (response.status >= 400 && inputs['fail-on-error'] !== false) {
      throw new UserError(
        'unavailable',
        `${method} ${url} returned ${response.status} ${response.statusText}; set fail-on-error: false to continue anyway.`,
      );
    }
    return {
      status: String(response.status),
      headers: Object.fromEntries(response.headers.entries()),
      body: text.length > MAX_BODY_CHARS ? text.slice(0, MAX_BODY_CHARS) : text,
    };
  },
};

/** Sends a request with a time limit that also follows the step's abort signal. */
export async function send(
  url: string,
  init: RequestInit,
  timeoutSeconds: number,
  signal: AbortSignal,
): Promise<Response> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(
      'invalid',
      `Invalid URL "${url}": use an absolute http:// or https:// URL.`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UserError(
      'invalid',
      `Invalid URL "${url}": only http:// and https:// are supported.`,
    );
  }
  const timeout = AbortSignal.timeout(timeoutSeconds * 1000);
  try {
    return await fetch(parsed, { ...init, signal: AbortSignal.any([signal, timeout]) });
  } catch (error) {
    if (timeout.aborted)
      throw new UserError(
        'timeout',
        `${init.method ?? 'GET'} ${parsed.origin}${parsed.pathname} timed out after ${timeoutSeconds} seconds.`,
      );
    if (signal.aborted) throw error;
    const cause = (error as { cause?: unknown }).cause;
    throw new UserError(
      'unavailable',
      `${init.method ?? 'GET'} ${parsed.origin}${parsed.pathname} failed: ${errorMessage(cause ?? error)}.`,
    );
  }
}

export default action;
