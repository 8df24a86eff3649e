/**
 * The local platform: the ISV's app remote is a bare git repository on this machine whose
 * post-receive hook checks every push out into the deploy directory, which a background
 * registry server runs from. Deploying is pushing, exactly as on a real platform.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import type { IsvSettings, LocalPlatformSettings } from "../config/types.js";
import { checkoutInto, hasBranch, initBare, isGitRepo } from "../adapters/git.js";

export {
  startLocalServer,
  stopLocalServer,
  localServerStatus,
  type LocalServerStatus,
} from "./local-server.js";
export { waitForPing, pingProblem, type WaitForPingOptions } from "./ping.js";

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function deployHook(branch: string, deployDir: string): string {
  return `#!/bin/sh
# Installed by raas setup: every push to ${branch} is checked out into the deploy directory,
# where the local registry server picks it up. Rewritten by setup; do not edit.
set -e
branch=${shellQuote(branch)}
deploy_dir=${shellQuote(deployDir)}
while read -r old new ref; do
  if [ "$ref" = "refs/heads/$branch" ] && [ "$new" != "0000000000000000000000000000000000000000" ]; then
    mkdir -p "$deploy_dir"
    git --work-tree="$deploy_dir" checkout --force "$branch"
    echo "raas: deployed $(git rev-parse --short "$new") to $deploy_dir"
  fi
done
`;
}

export function localPlatform(settings: IsvSettings): LocalPlatformSettings {
  if (settings.platform.kind !== "local") {
    throw new Error(`${settings.isv} is not on the local platform (platform = ${settings.platform.kind})`);
  }
  return settings.platform;
}

export interface LocalDeployResult {
  remote: string;
  deployDir: string;
  /** True when the remote or its hook was created or repaired. */
  changed: boolean;
}

/**
 * Create (or repair) the bare app remote and its deploy hook. Idempotent: a second run changes
 * nothing. When the remote already has the branch, the deploy directory is brought up to date
 * too, so a lost or stale checkout heals without a push.
 */
export async function ensureLocalDeploy(settings: IsvSettings): Promise<LocalDeployResult> {
  const platform = localPlatform(settings);
  const remote = settings.appRemote;
  await mkdir(platform.dir, { recursive: true });
  const existed = await isGitRepo(remote);
  await initBare(remote, { branch: settings.appBranch });
  const hookFile = path.join(remote, "hooks", "post-receive");
  const hook = deployHook(settings.appBranch, platform.deployDir);
  const current = await readFile(hookFile, "utf8").catch(() => undefined);
  const changed = !existed || current !== hook;
  if (current !== hook) {
    await mkdir(path.dirname(hookFile), { recursive: true });
    await writeFile(hookFile, hook);
  }
  await chmod(hookFile, 0o755);
  await mkdir(platform.deployDir, { recursive: true });
  if (await hasBranch(remote, settings.appBranch)) {
    await checkoutInto(remote, settings.appBranch, platform.deployDir);
  }
  return { remote, deployDir: platform.deployDir, changed };
}
