import { discardBody } from "../adapters/http-body.js";
import type { RegistryClient } from "../app/registry-http.js";
import type { Reporter } from "../ui/reporter.js";

/** A notification is a nudge: a registry that does not answer quickly is left to its interval. */
const NOTIFY_TIMEOUT_MS = 3000;

/**
 * After a metadata commit, tell the registry to look at its app repository now (POST
 * /raas/notify, docs/server.md) instead of at its next check. Best effort: the commit already
 * landed, so a failure is a warning and the registry still finds the commit on its own. A 404
 * or 405 is a registry that reads a deploy directory instead of following git: nothing to tell it.
 * Returns whether the registry took the notification.
 */
export async function notifyRegistry(
  registryUrl: string,
  reporter: Reporter,
  /** The registry's CA (HTTPS): a plain fetch does not trust raas's local CA. */
  registry: () => Promise<RegistryClient>,
): Promise<boolean> {
  if (registryUrl === "") return false;
  try {
    const fetcher = (await registry()).fetch;
    const res = await fetcher(`${registryUrl}/raas/notify`, {
      method: "POST",
      signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
    });
    await discardBody(res);
    if (res.status === 202) return true;
    if (res.status !== 404 && res.status !== 405) {
      reporter.warn(
        `the registry at ${registryUrl} answered ${res.status} to the new-metadata notification; it will pick the commit up on its next check`,
      );
    }
    return false;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    reporter.warn(
      `could not notify the registry at ${registryUrl} (${why}); it will pick the commit up on its next check`,
    );
    return false;
  }
}
