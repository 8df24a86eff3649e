#!/usr/bin/env node
// The AWS SDK warns about every Node release it will stop supporting one day; raas supports Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
// `raas status --terse | head -1`: a reader that stops early is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}
const { main } = await import("../dist/cli/main.js");

process.exitCode = await main(process.argv.slice(2));
// Interrupted: main already let the command clean up; what is still pending (a git process, a
// socket) must not keep the process alive.
if (process.exitCode === 130) process.exit(130);
