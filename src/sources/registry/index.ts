import { readFile } from "node:fs/promises";
import { UsageError } from "../../errors.js";
import type { OpenedSource } from "../types.js";
import { RegistryClient } from "./client.js";
import { findCredentials, type Credentials } from "./credentials.js";
import { readRegistryImage } from "./image.js";
import { formatReference, parseRegistryReference } from "./reference.js";

export { isRegistryReference, parseRegistryReference, REGISTRY_PREFIX } from "./reference.js";
export { RegistryClient } from "./client.js";

/** How raas reaches a source registry (push flags, sync specification). */
export interface RegistrySourceOptions {
  /** Verify TLS certificates (default true). */
  tlsVerify?: boolean;
  /** PEM file of extra CAs to trust. */
  caFile?: string;
  /** Use plain HTTP instead of HTTPS (only for loopback test registries). */
  plainHttp?: boolean;
  /** Environment variables holding credentials (default RAAS_SRC_USERNAME / RAAS_SRC_PASSWORD). */
  credentialVars?: { username: string; password: string };
  attempts?: number;
  backoffMs?: number;
  /** How long a docker credential helper may take to answer (default 30 s). */
  helperTimeoutMs?: number;
  /**
   * Credentials already looked up for this registry (sync looks them up once per repository
   * and publishes every image with them); `credentials: undefined` means anonymous.
   */
  resolved?: { credentials: Credentials | undefined };
}

/** A client for `host`, with credentials from the environment or the usual auth files. */
export async function registryClient(
  host: string,
  name: string,
  env: NodeJS.ProcessEnv,
  options: RegistrySourceOptions,
): Promise<RegistryClient> {
  let ca: Buffer | undefined;
  if (options.caFile !== undefined) {
    ca = await readFile(options.caFile).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`CA bundle ${options.caFile}: cannot read it (${err.code ?? err.message})`);
    });
  }
  const credentials =
    options.resolved !== undefined
      ? options.resolved.credentials
      : await findCredentials(
          env,
          host,
          name,
          options.credentialVars,
          options.helperTimeoutMs === undefined ? {} : { timeoutMs: options.helperTimeoutMs },
        );
  return new RegistryClient(host, {
    transport: {
      tlsVerify: options.tlsVerify ?? true,
      plainHttp: options.plainHttp ?? false,
      timeoutMs: 60_000,
      ...(ca === undefined ? {} : { ca }),
    },
    ...(credentials === undefined ? {} : { credentials }),
    ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
    ...(options.backoffMs === undefined ? {} : { backoffMs: options.backoffMs }),
  });
}

/**
 * Opens `docker://host[:port]/name:tag|@digest` as an image source. The image carries its
 * upstream name and tag as its reference (a digest reference carries the name only).
 */
export async function openRegistrySource(
  value: string,
  env: NodeJS.ProcessEnv,
  options: RegistrySourceOptions,
): Promise<OpenedSource> {
  const ref = parseRegistryReference(value);
  const client = await registryClient(ref.host, ref.name, env, options);
  const root = await readRegistryImage(client, ref.name, ref.digest ?? ref.tag ?? "latest");
  return {
    path: formatReference(ref),
    format: "registry",
    images: [
      {
        root,
        refs: [ref.tag === undefined ? { name: ref.name } : { name: ref.name, tag: ref.tag }],
        tags: [],
      },
    ],
    warnings: [],
    close: () => Promise.resolve(),
  };
}
