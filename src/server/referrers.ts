/**
 * `GET /v2/<name>/referrers/<digest>`: the OCI referrers API (distribution spec 1.1, "Listing
 * Referrers") over the index a manifest PUT keeps in storage (src/publish/referrers.ts).
 */
import type { Digest } from "../image/digest.js";
import { listReferrers } from "../publish/referrers.js";
import type { BlobStore } from "../storage/types.js";
import type { RequestContext } from "./context.js";
import { API_VERSION_HEADER, sendJson } from "./http.js";

const INDEX_TYPE = "application/vnd.oci.image.index.v1+json";

/** `GET /v2/<name>/referrers/<digest>[?artifactType=...]`: an image index, empty when none. */
export async function serveReferrers(
  ctx: RequestContext,
  store: BlobStore,
  repository: string,
  subject: Digest,
): Promise<void> {
  const filter = ctx.query.get("artifactType");
  let manifests = await listReferrers(store, repository, subject);
  if (filter !== null) manifests = manifests.filter((m) => m.artifactType === filter);
  sendJson(
    ctx.req,
    ctx.res,
    200,
    { schemaVersion: 2, mediaType: INDEX_TYPE, manifests },
    {
      ...API_VERSION_HEADER,
      "Content-Type": INDEX_TYPE,
      ...(filter === null ? {} : { "OCI-Filters-Applied": "artifactType" }),
    },
  );
}
