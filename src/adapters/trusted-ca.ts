import { readFileSync } from "node:fs";
import * as tls from "node:tls";

/**
 * The certificate authorities a TLS client trusts when raas is given extra ones (`--src-ca`,
 * a sync upstream's `caFile`, the registry's own CA). Node's `ca` option REPLACES its default
 * roots, so passing only the extra CA would make every other server fail, e.g. the public CDN
 * a registry redirects blob downloads to. The extra CAs are added to what node trusts by
 * default instead: its bundled roots and NODE_EXTRA_CA_CERTS (what `tls.getCACertificates
 * ("default")` gives on the node versions that have it).
 */
export function withDefaultCas(extra: string | Buffer): string[] {
  return [...defaultCas(), typeof extra === "string" ? extra : extra.toString("utf8")];
}

let defaults: readonly string[] | undefined;

function defaultCas(): readonly string[] {
  if (defaults !== undefined) return defaults;
  const get = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (typeof get === "function") {
    defaults = get("default");
    return defaults;
  }
  // Node reads NODE_EXTRA_CA_CERTS once, at start-up, and only warns when it cannot: the
  // same file is read here, and an unreadable one adds nothing (node has said why).
  const file = process.env.NODE_EXTRA_CA_CERTS;
  let extra: string[] = [];
  if (file !== undefined && file !== "") {
    try {
      extra = [readFileSync(file, "utf8")];
    } catch {
      extra = [];
    }
  }
  defaults = [...tls.rootCertificates, ...extra];
  return defaults;
}
