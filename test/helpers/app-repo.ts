import { onTestFinished } from "vitest";
import { GitAppRepository } from "../../src/app/app-transaction.js";
import type { IsvSettings } from "../../src/config/types.js";
import { RecordingReporter } from "../../src/ui/reporter.js";

/**
 * Write files into the ISV's app repository the way push does (one GitAppRepository
 * transaction); resolves with the commit pushed, undefined when nothing changed.
 */
export async function publishFiles(
  settings: IsvSettings,
  files: Record<string, string>,
  message = `${settings.isv} push`,
): Promise<string | undefined> {
  const app = new GitAppRepository({
    remote: settings.appRemote,
    branch: settings.appBranch,
    reporter: new RecordingReporter(),
  });
  onTestFinished(() => app.close());
  const { commit } = await app.update(message, async (repo) => {
    for (const [path, data] of Object.entries(files)) await repo.write(path, data);
  });
  return commit;
}
