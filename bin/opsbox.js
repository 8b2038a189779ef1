#!/usr/bin/env node
// The AWS SDK warns on every command under Node 20 that its releases after
// January 2027 will need Node 22; the version in package-lock.json runs here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { main } = await import('../dist/src/cli/main.js');

main(process.argv);
