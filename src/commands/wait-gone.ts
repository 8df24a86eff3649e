import type { RegistryClient } from "../app/registry-http.js";
import { MANIFEST_ACCEPT } from "../image/media-types.js";
import type { Reporter } from "../ui/reporter.js";

/**
 * After a delete commit, wait until the registry answers 404 for every removed tag and
 * manifest (the app reloads metadata on its own). False, with a warning, when it does not.
 */
export async function waitForGone(
  registryUrl: string,
  name: string,
  references: readonly string[],
  options: {
    timeoutMs: number;
    reporter: Reporter;
    intervalMs?: number;
    /** The registry's CA (HTTPS) and raas's login (private repositories), as for waitForTags. */
    registry: RegistryClient;
  },
): Promise<boolean> {
  const fetcher = options.registry.fetch;
  const login = options.registry.login;
  let authorization: string | undefined;
  const pending = [...references];
  if (pending.length === 0) return true;
  const step = options.reporter.step(`Waiting for ${registryUrl} to stop serving what was deleted`);
  const deadline = Date.now() + options.timeoutMs;
  let lastProblem = "";
  let refusals = 0;
  while (Date.now() < deadline) {
    for (let i = pending.length - 1; i >= 0; i--) {
      const url = `${registryUrl}/v2/${name}/manifests/${pending[i] ?? ""}`;
      try {
        const head = () =>
          fetcher(url, {
            method: "HEAD",
            headers: {
              Accept: MANIFEST_ACCEPT,
              ...(authorization === undefined ? {} : { Authorization: authorization }),
            },
            signal: AbortSignal.timeout(5000),
          });
        let response = await head();
        const challenge = response.headers.get("www-authenticate");
        if (
          response.status === 401 &&
          login !== undefined &&
          challenge !== null &&
          /^Bearer /i.test(challenge)
        ) {
          // A private repository ([auth]): ask with raas's login (one token for the repository).
          authorization = await login.authorization(challenge);
          response = await head();
        }
        options.reporter.debug(`HTTP HEAD ${url} -> ${response.status}`);
        if (response.status === 404) pending.splice(i, 1);
        else lastProblem = `${name}:${pending[i] ?? ""} still answers ${response.status}`;
        refusals = 0;
      } catch (error) {
        refusals++;
        lastProblem = `cannot reach ${registryUrl} (${error instanceof Error ? error.message : String(error)})`;
      }
    }
    if (pending.length === 0) {
      step.succeed(`Registry ${registryUrl} no longer serves it`);
      return true;
    }
    // A registry that refuses connections for a few seconds is not running: don't sit out the timeout.
    if (refusals >= 3 * pending.length && Date.now() > deadline - options.timeoutMs + 3000) break;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
  step.info(`Registry still serves it: ${lastProblem}`);
  options.reporter.warn(
    `the deletion is committed, but ${registryUrl} has not picked it up; check with \`raas status\``,
  );
  return false;
}
