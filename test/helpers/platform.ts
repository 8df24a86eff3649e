/**
 * A stand-in Platform for in-process command tests: the ISV counts as set up, nothing needs
 * deploying after a publication (as on the local platform, whose git hook deploys), and the
 * registry is at `appUrl`. Tests that exercise a real platform use src/app/local-platform.ts.
 */
import type { Platform } from "../../src/app/platform.js";

export function stubPlatform(appUrl: string): Platform {
  const unused = (what: string) => () =>
    Promise.reject(new Error(`stubPlatform: ${what} is not for this test`));
  return {
    kind: "local",
    appUrl,
    localServer: false,
    notSetUp: () => Promise.resolve(undefined),
    ensureDeployment: unused("ensureDeployment"),
    ensureAppRepo: unused("ensureAppRepo"),
    ensureRunning: unused("ensureRunning"),
    waitForPing: unused("waitForPing"),
    statusChecks: () => Promise.resolve([]),
  };
}
