/**
 * Environments on a shared store keep their tags under `_env/<env>/` (store.ts). The raas
 * registry app resolves tags from its own metadata, so it serves them; Pulp Crane in redirect
 * mode does not: it sends a client asking for a tag to `<url>manifests/2/<tag>`, the plain key,
 * where no environment's tag lives (or, for an ISV that published before it had environments, an
 * old one). Blobs and tags share one `url` in a Crane file, so no URL can send Crane to both.
 * `[raas] docker_schema2 = true` is how raas publishes for Crane, so that combination is refused.
 */
import type { IsvSettings } from "../config/types.js";
import { UserError } from "../errors.js";

export function refuseCraneOnSharedStore(settings: IsvSettings, nothingWas: string): void {
  const env = settings.environment;
  if (env === undefined || !env.sharedStore || settings.dockerSchema2 !== true) return;
  throw new UserError(
    `${settings.isv} ${env.name} shares the ISV's store, where each environment's tags live under _env/${env.name}/, ` +
      `and [raas] docker_schema2 = true publishes for Pulp Crane, which in redirect mode reads tags at their plain keys ` +
      `and would serve another environment's tags or none; nothing was ${nothingWas}`,
    {
      hint:
        `Give ${env.name} a store of its own (store = own, or s3_bucket = <bucket>, in [${settings.isv}.${env.name}]), ` +
        `or serve the environments with the raas registry app (it resolves tags from its metadata) and remove docker_schema2 (docs/environments.md).`,
      code: "CRANE_SHARED_STORE",
    },
  );
}
