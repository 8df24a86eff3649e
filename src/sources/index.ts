import { stat } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import { InputError } from "../errors.js";
import { dockerArchiveReader } from "./docker-archive.js";
import { directoryLayoutFiles } from "./layout-files.js";
import { legacyDockerArchiveReader } from "./docker-legacy.js";
import { ociArchiveReader, readOciLayout } from "./oci-layout.js";
import { pulpExportReader } from "./pulp-export.js";
import { isRegistryReference, openRegistrySource, type RegistrySourceOptions } from "./registry/index.js";
import { NotTarError, TarIndex } from "./tar-index.js";
import type { OpenedSource, TarReader } from "./types.js";
import { NO_VENDOR, v1Images, type V1ReadOptions } from "./v1-images.js";

export type { OpenedSource, ReadImage } from "./types.js";
export { DEFAULT_MAX_INFLATED, type V1ReadOptions } from "./v1-images.js";

/**
 * Tar formats in the order they are tried. Docker 25+ writes an OCI layout plus a
 * manifest.json, so the OCI reader must come before the docker-archive one.
 */
const TAR_READERS: readonly TarReader[] = [
  ociArchiveReader,
  dockerArchiveReader,
  legacyDockerArchiveReader,
  pulpExportReader,
];

export interface ReadOptions {
  /** Masked set, vendor layers and limits for converting v1 inputs; none by default. */
  v1?: V1ReadOptions;
  /** For `docker://` references: the environment (credentials) and the client's options. */
  registry?: { env: NodeJS.ProcessEnv; options: RegistrySourceOptions };
}

/**
 * Opens any supported input: an OCI layout directory, a tar archive of a known format, or a
 * `docker://host/name:tag` reference to a v2 registry.
 * Every format comes out as the same image model: a v1 input (Pulp export, pre-1.10 docker
 * save) is converted to Docker schema 2 images here, each keeping its v1 view for the v1
 * publication.
 */
export async function openImageSource(path: string, options: ReadOptions = {}): Promise<OpenedSource> {
  if (isRegistryReference(path)) {
    return openRegistrySource(path, options.registry?.env ?? {}, options.registry?.options ?? {});
  }
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT" || err.code === "ENOTDIR") {
      throw new InputError(path, "no such file or directory", {
        hint: "give the path of a docker save archive, an OCI archive or an OCI layout directory",
      });
    }
    throw new InputError(path, `cannot read it (${err.code ?? err.message})`, { cause: err });
  });
  if (info.isDirectory()) {
    const { images, warnings } = await readOciLayout(await directoryLayoutFiles(path));
    return {
      path,
      format: "oci-layout",
      images,
      warnings: shownWarnings(path, warnings),
      close: () => Promise.resolve(),
    };
  }
  if (!info.isFile()) throw new InputError(path, "not a regular file or directory");

  const archive = await TarIndex.open(path).catch((err: unknown) => {
    if (err instanceof NotTarError) {
      throw new InputError(
        path,
        `not a tar archive or OCI layout directory (${err.message.slice(err.file.length + 2)})`,
        {
          cause: err,
          hint: "give a `docker save` archive, an OCI archive or layout directory, or a Pulp export; a compressed archive must be decompressed first",
        },
      );
    }
    throw err;
  });
  try {
    const reader = TAR_READERS.find((candidate) => candidate.matches(archive));
    if (reader === undefined) {
      const cut = archive.complete
        ? ""
        : "; it ends without the end-of-archive marker, so it may be truncated";
      throw new InputError(
        path,
        `a tar archive, but not an image archive (no manifest.json, no oci-layout, no Pulp export layout)${cut}`,
        {
          hint: "raas reads docker save archives, OCI archives and layout directories, and Pulp exports",
        },
      );
    }
    const { v1, ...result } = await reader.read(archive);
    const images = v1 === undefined ? result.images : await v1Images(path, v1, options.v1 ?? NO_VENDOR);
    // A v1 input names one repository: a name or tag it dropped was one of every image's names.
    if (v1 !== undefined && result.warnings.length > 0) {
      for (const image of images) image.droppedNames = result.warnings.length;
    }
    const warnings = shownWarnings(path, result.warnings);
    return { path, format: reader.format, images, warnings, close: () => archive.close() };
  } catch (err) {
    await archive.close();
    throw err;
  }
}

/** At most this many warnings about one input are shown; the rest are counted. */
const MAX_WARNINGS = 20;

/** The reader's warnings, each naming the input, a crafted input's thousands cut to a count. */
function shownWarnings(path: string, warnings: readonly string[]): string[] {
  const shown = warnings.slice(0, MAX_WARNINGS).map((w) => `${path}: ${w}`);
  const more = warnings.length - shown.length;
  if (more > 0) shown.push(`${path}: ${more} more invalid name(s) ignored`);
  return shown;
}

/**
 * The original tool's convention: `raas push acme bigdata-app` reads ./bigdata-app.tar. An
 * argument with no "/" and no extension that is not an existing path means "<arg>.tar".
 */
export async function resolveImagePath(arg: string, cwd: string): Promise<string> {
  if (isRegistryReference(arg)) return arg;
  const direct = resolve(cwd, arg);
  if (arg.includes("/") || extname(basename(arg)) !== "") return direct;
  const exists = await stat(direct).then(
    () => true,
    () => false,
  );
  return exists ? direct : join(cwd, `${arg}.tar`);
}
