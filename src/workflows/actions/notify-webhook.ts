import { UserError } from '../../core/errors.js';
import type { ActionDefinition } from '../action.js';
import { send } from './http-request.js';

const action: ActionDefinition = {
  name: 'notify/webhook',
  summary:
    'post a message to a chat or incident webhook (Slack, Mattermost, Discord or any JSON endpoint)',
  description:
    'POSTs JSON to the URL. The default body is {"text": message, "content": message}, which Slack and Mattermost (text) and Discord (content) accept; ' +
    'pass payload to send your own JSON object instead. Keep the URL in a secret: it usually contains a token.',
  inputs: {
    url: { description: 'the webhook URL', type: 'string', required: true },
    message: { description: 'the message text', type: 'string' },
    payload: { description: 'a JSON object to send instead of the default body', type: 'json' },
    'timeout-seconds': {
      description: 'time limit of the request in seconds',
      type: 'number',
      default: 15,
    },
  },
  outputs: {
    status: { description: 'the HTTP status code of the webhook' },
  },
  async run({ inputs, log, signal }) {
    if (inputs.payload === undefined && inputs.message === undefined) {
      throw new UserError(
        'invalid',
        'notify/webhook needs a message or a payload; add one under `with:`.',
      );
    }
    const body = inputs.payload ?? { text: inputs.message, content: inputs.message };
    const response = await send(
      String(inputs.url),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
      Number(inputs['timeout-seconds']),
      signal,
    );
    await response.arrayBuffer();
    if (response.status >= 400)
      throw new UserError(
        'unavailable',
        `The webhook returned ${response.status} ${response.statusText}.`,
      );
    log(`Webhook accepted the message (${response.status}).`);
    return { status: String(response.status) };
  },
};

export default action;
