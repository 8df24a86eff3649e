import type { RegistryClient } from "../app/registry-http.js";
import { MANIFEST_ACCEPT } from "../image/media-types.js";
import type { Reporter } from "../ui/reporter.js";
import { failureText } from "../network-errors.js";

/**
 * After the metadata commit, wait until the registry app serves every new tag with the new
 * digest (the app reloads metadata on its own). Returns false, with a warning, when it does
 * not within the timeout or is not running at all; publishing itself already succeeded. Null
 * when the registry answers but private tags could not be checked (no login that may pull them).
 */
export async function waitForTags(
  registryUrl: string,
  images: readonly { name: string; tags: string[]; digest: string }[],
  options: {
    timeoutMs: number;
    reporter: Reporter;
    intervalMs?: number;
    isv: string;
    /**
     * The registry's CA (HTTPS) and raas's login (private tags), from registryClientFor.
     * Required: a plain fetch does not trust raas's local CA, and the wait would report a
     * served image as unreachable.
     */
    registry: RegistryClient;
    /** Stops the wait (SIGINT, SIGTERM): the tags are then not known to be served (null). */
    signal?: AbortSignal;
  },
): Promise<boolean | null> {
  const fetcher = options.registry.fetch;
  const login = options.registry.login;
  const authorizations = new Map<string, string>();
  const pending = images.flatMap((image) =>
    image.tags.map((tag) => ({ name: image.name, tag, digest: image.digest })),
  );
  if (pending.length === 0) return true;
  const step = options.reporter.step(`Waiting for ${registryUrl} to serve the new tags`);
  const deadline = Date.now() + options.timeoutMs;
  let lastProblem = "";
  let refusals = 0;
  let needsLogin = 0;
  while (Date.now() < deadline) {
    if (options.signal?.aborted === true) {
      step.info("Stopped waiting for the registry (interrupted)");
      return null;
    }
    for (let i = pending.length - 1; i >= 0; i--) {
      const item = pending[i];
      if (item === undefined) continue;
      const url = `${registryUrl}/v2/${item.name}/manifests/${item.tag}`;
      try {
        const started = Date.now();
        const head = (authorization?: string) =>
          fetcher(url, {
            method: "HEAD",
            headers: {
              Accept: MANIFEST_ACCEPT,
              ...(authorization === undefined ? {} : { Authorization: authorization }),
            },
            signal: AbortSignal.timeout(5000),
          });
        let response = await head(authorizations.get(item.name));
        const challenge = response.headers.get("www-authenticate");
        if (
          response.status === 401 &&
          login !== undefined &&
          challenge !== null &&
          /^Bearer /i.test(challenge)
        ) {
          // A private repository ([auth]): check it with raas's login (one token per repository).
          const authorization = await login.authorization(challenge);
          authorizations.set(item.name, authorization);
          response = await head(authorization);
        }
        const digest = response.headers.get("docker-content-digest");
        options.reporter.debug(
          `HTTP HEAD ${url} -> ${response.status} ${digest ?? ""} (${Date.now() - started} ms)`,
        );
        if (response.ok && digest === item.digest) pending.splice(i, 1);
        else if (
          (response.status === 401 && /^Bearer /i.test(response.headers.get("www-authenticate") ?? "")) ||
          (login !== undefined && response.status === 403)
        ) {
          // Private ([auth]) and no login that may pull it: the registry answers, so stop here,
          // and say that these tags were not checked.
          pending.splice(i, 1);
          needsLogin++;
        } else {
          lastProblem = `${item.name}:${item.tag} answers ${response.status}${digest === null ? "" : ` ${digest}`}`;
        }
        refusals = 0;
      } catch (error) {
        lastProblem = `cannot reach ${registryUrl} (${failureText(error)})`;
        refusals++;
      }
    }
    if (pending.length === 0) {
      if (needsLogin === 0) {
        step.succeed(`Registry ${registryUrl} serves the new tags`);
        return true;
      }
      // Not a tick: what was not looked at is not known to be served.
      step.info(
        `Registry ${registryUrl} answers, but ${needsLogin} private tag(s) were NOT checked: ${
          login === undefined
            ? "no registry login ([auth] login, or RAAS_REGISTRY_LOGIN)"
            : `${login.name} may not pull them`
        }`,
      );
      return null;
    }
    // A registry that refuses connections for a few seconds is not running: don't sit out the timeout.
    if (refusals >= 3 * pending.length && Date.now() > deadline - options.timeoutMs + 3000) break;
    await pause(options.intervalMs ?? 250, options.signal);
  }
  step.info(`Registry has not picked up the new tags yet: ${lastProblem}`);
  options.reporter.warn(
    `the image is published, but ${registryUrl} is not serving it yet; check the app with \`raas status ${options.isv}\``,
  );
  return false;
}

/** Sleeps `ms`, less when `signal` is aborted meanwhile. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
