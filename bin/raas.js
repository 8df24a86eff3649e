#!/usr/bin/env node
// The AWS SDK warns about every Node release it will stop supporting one day; raas supports Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { main } = await import("../dist/cli/main.js");

process.exitCode = await main(process.argv.slice(2));
