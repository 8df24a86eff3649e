import { createHash } from "node:crypto";
import { parseMetadata } from "../crane/parse.js";
import type { CraneMetadata } from "../crane/types.js";
import { errorMessage } from "../errors.js";
import type { Digest } from "../image/digest.js";
import { MediaType } from "../image/media-types.js";
import { dashed } from "../image/names.js";
import { blobKey } from "../publish/keys.js";
import { mapLimit } from "../publish/pool.js";
import type { BlobStore } from "../storage/types.js";
import { CheckList, type CheckReport } from "./checks.js";
import type { AppRepository, CommandContext } from "./types.js";

export interface StatusOptions {
  isv: string;
  /** Only this repository. */
  app?: string;
  /** Re-hash every blob. */
  verify: boolean;
}

export interface StatusDeps {
  store: BlobStore;
  app: AppRepository;
  appUrl: string;
  registryHost: string;
}

const ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
].join(", ");

/** Prove that the running registry, the metadata and storage agree. */
export async function status(
  options: StatusOptions,
  ctx: CommandContext,
  deps: StatusDeps,
): Promise<CheckReport> {
  const checks = new CheckList();
  const step = ctx.reporter.step(`Checking ${options.isv}`);
  const running = await checkApp(deps.appUrl, checks);

  const files = (await deps.app.list("data")).filter((f) => f.endsWith(".json")).sort();
  const repos: { file: string; meta: CraneMetadata }[] = [];
  for (const file of files) {
    const path = `data/${file}`;
    try {
      repos.push({ file: path, meta: parseMetadata((await deps.app.read(path)) ?? "", path) });
    } catch (error) {
      checks.fail(
        `metadata ${file}`,
        errorMessage(error),
        "fix or remove the file in the app repository, or push the image again",
      );
    }
  }
  const ours = repos.filter((r) => r.file.startsWith(`data/${options.isv}-`));
  const selected =
    options.app === undefined ? ours : ours.filter((r) => r.meta["repo-registry-id"] === options.app);
  if (options.app !== undefined && selected.length === 0) {
    checks.fail(
      `repository ${options.app}`,
      `no metadata file for ${options.app}`,
      `publish it with \`raas push ${options.isv} <image> --name ${options.app}\``,
    );
  } else if (selected.length === 0) {
    checks.warn("repositories", "nothing published yet");
  }

  const pullUrls: string[] = [];
  for (const { file, meta } of selected) {
    const name = meta["repo-registry-id"];
    if (meta.version !== 4 || meta["x-raas"] === undefined) {
      checks.warn(
        name,
        `${file} is Crane v${meta.version} metadata without raas records; only the file was checked`,
      );
      continue;
    }
    const ext = meta["x-raas"];
    let problems = 0;
    for (const [tag, digest] of Object.entries(ext.tags)) {
      pullUrls.push(`${deps.registryHost}/${name}:${tag}`);
      if (ext.manifests[digest] === undefined) {
        checks.fail(
          `${name}:${tag}`,
          `tag points at ${digest}, which the metadata does not list`,
          `push the image again`,
        );
        problems++;
      } else if ((await deps.app.read(`manifests/${meta.repository}/${digest}`)) === undefined) {
        checks.fail(
          `${name}:${tag}`,
          `manifest ${digest} is missing from the app repository`,
          `push the image again`,
        );
        problems++;
      }
    }
    const blobs = Object.entries(ext.blobs).filter(([, b]) => b.url === undefined) as [
      Digest,
      { size: number },
    ][];
    const results = await mapLimit(blobs, 8, async ([digest, record]) => {
      const key = blobKey(meta.repository || dashed(name), digest);
      const info = await deps.store.head(key);
      if (info === undefined) return `blob ${digest} is missing from storage (${key})`;
      if (info.size !== record.size) {
        return `blob ${digest} has ${info.size} bytes in storage, metadata says ${record.size}`;
      }
      if (options.verify) {
        const hash = createHash("sha256");
        for await (const chunk of await deps.store.get(key)) hash.update(chunk as Buffer);
        const actual = `sha256:${hash.digest("hex")}`;
        if (actual !== digest) return `blob ${digest} is corrupt in storage: its bytes hash to ${actual}`;
      }
      return undefined;
    });
    for (const problem of results) {
      if (problem !== undefined) {
        checks.fail(name, problem, `push the image again to re-upload it`);
        problems++;
      }
    }
    if (running) problems += await checkServed(deps.appUrl, name, ext.tags, checks);
    if (problems === 0) {
      checks.ok(
        name,
        `${Object.keys(ext.tags).length} tag(s), ${blobs.length} blob(s) in storage${options.verify ? " (re-hashed)" : ""}`,
      );
    }
  }
  const report = {
    isv: options.isv,
    ok: checks.passed,
    checks: checks.checks,
    appUrl: deps.appUrl,
    pullUrls,
  };
  if (report.ok) step.succeed(`${options.isv}: all checks passed`);
  else {
    step.fail(`${options.isv}: ${checks.checks.filter((c) => c.status === "fail").length} check(s) failed`);
  }
  return report;
}

async function checkApp(appUrl: string, checks: CheckList): Promise<boolean> {
  try {
    const ping = await fetch(`${appUrl}/v1/_ping`, { signal: AbortSignal.timeout(5000) });
    const body = (await ping.text()).trim();
    const v2 = await fetch(`${appUrl}/v2/`, { signal: AbortSignal.timeout(5000) });
    if (ping.status === 200 && body === "true" && v2.status === 200) {
      checks.ok("registry app", `${appUrl} answers /v1/_ping and /v2/`);
      return true;
    }
    checks.fail(
      "registry app",
      `${appUrl}/v1/_ping answered ${ping.status} ${body.slice(0, 40)}, /v2/ answered ${v2.status}`,
      "check the app's logs; `raas setup` redeploys it",
    );
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? errorMessage(error);
    checks.fail(
      "registry app",
      `${appUrl} does not answer (${cause})`,
      "start it with `raas setup <isv>` (background) or `raas serve <isv>`",
    );
  }
  return false;
}

async function checkServed(
  appUrl: string,
  name: string,
  tags: Record<string, string>,
  checks: CheckList,
): Promise<number> {
  let problems = 0;
  for (const [tag, digest] of Object.entries(tags)) {
    const response = await fetch(`${appUrl}/v2/${name}/manifests/${tag}`, {
      method: "HEAD",
      headers: { Accept: ACCEPT },
    }).catch(() => undefined);
    const served = response?.headers.get("docker-content-digest");
    if (response?.status !== 200 || served !== digest) {
      checks.fail(
        `${name}:${tag}`,
        `the registry serves ${response?.status ?? "nothing"} ${served ?? ""} instead of ${digest}`,
        "the app has not reloaded or runs an old deployment; `raas setup` redeploys it",
      );
      problems++;
    }
  }
  return problems;
}
