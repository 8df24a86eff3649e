import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests start servers and git remotes; keep the 2-core machine from thrashing.
    maxWorkers: 2,
    minWorkers: 1,
    env: {
      GIT_CONFIG_NOSYSTEM: "1",
      // raas supports Node 20; the AWS SDK's notice about future Node support is noise here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      GIT_AUTHOR_NAME: "raas test",
      GIT_AUTHOR_EMAIL: "test@raas.invalid",
      GIT_COMMITTER_NAME: "raas test",
      GIT_COMMITTER_EMAIL: "test@raas.invalid",
    },
  },
});
