/** The small OCI image the write-API tests push by hand: a config and one layer under a manifest. */
import { createHash } from "node:crypto";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** The manifest bytes naming `config` and the uncompressed tar `layer` (and `extra` fields: a subject, annotations). */
export function imageManifest(config: Buffer, layer: Buffer, extra: Record<string, unknown> = {}) {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: sha(config),
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha(layer), size: layer.length },
      ],
      ...extra,
    }),
  );
}
