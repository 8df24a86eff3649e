/**
 * Reading the metadata garbage collection marks from: every Crane file of an app repository
 * (data/*.json, data/v1/*.json) at its newest commit, plus every earlier version a commit
 * since the cutoff replaced, so a push that started from an older state is still covered.
 * Vendor files (data/redhat/) describe layers hosted elsewhere and are not read.
 */
import { parseMetadata } from "../crane/parse.js";
import type { AppRepository } from "../app/app-repository.js";
import { UserError, errorMessage } from "../errors.js";
import { markMetadata, type Reachable } from "./reachable.js";

export interface MarkedSource {
  remote: string;
  /** Metadata files at the newest commit. */
  files: number;
  /** Earlier versions from commits inside the grace window. */
  earlierVersions: number;
}

const OURS = /^data\/(?:v1\/)?[^/]+\.json$/;

/** Marks the newest files into `reachable` and earlier versions since `since` into `window`. */
export async function markFromApp(
  app: AppRepository,
  reachable: Reachable,
  window: Reachable,
  since: Date,
): Promise<MarkedSource> {
  let files = 0;
  for (const dir of ["data", "data/v1"]) {
    const names = (await app.list(dir)).filter((f) => f.endsWith(".json")).sort();
    for (const name of names) {
      const path = `${dir}/${name}`;
      const text = await app.read(path);
      if (text === undefined) continue; // a directory named *.json
      try {
        markMetadata(reachable, parseMetadata(text, path));
      } catch (error) {
        // What an unreadable file references is unknown: collecting anything could break it.
        throw new UserError(
          `${app.remote}: cannot read ${path} (${errorMessage(error)}); nothing was collected`,
          {
            hint: "Fix or remove the file in the app repository (raas status shows the problem), then run gc again.",
            code: "METADATA_UNREADABLE",
            cause: error,
          },
        );
      }
      files++;
    }
  }
  return { remote: app.remote, files, earlierVersions: await markHistory(app, window, since) };
}

/** Marks into `window` every earlier version of the metadata files a commit since `since` replaced. */
export async function markHistory(app: AppRepository, window: Reachable, since: Date): Promise<number> {
  let earlierVersions = 0;
  if (app.replacedSince === undefined) {
    throw new Error(`${app.remote}: this app repository cannot show its history, which gc needs`);
  }
  for (const version of await app.replacedSince(since, "data")) {
    if (!OURS.test(version.path)) continue;
    try {
      markMetadata(window, parseMetadata(version.text, `${version.path} at ${version.commit}`));
      earlierVersions++;
    } catch {
      // The registry could not have served a version it could not parse.
    }
  }
  return earlierVersions;
}
