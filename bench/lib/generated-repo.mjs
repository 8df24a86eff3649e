/** Building blocks of the repositories gc.mjs and status.mjs generate straight into storage. */
import { createHash } from "node:crypto";

export const sha256 = (bytes) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** The bytes of an OCI image manifest: descriptors[0] is the config, the rest are layers. */
export function ociManifestBytes(descriptors, annotations) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...descriptors[0] },
      layers: descriptors
        .slice(1)
        .map((d) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...d })),
      ...(annotations === undefined ? {} : { annotations }),
    }),
  );
}
