import { InputError } from "../errors.js";
import { checkDescriptor, parseDocument } from "./json.js";
import { checkCount, LIMITS } from "./limits.js";
import { tarLayoutFiles, type LayoutFiles } from "./layout-files.js";
import { MANIFEST_LIMIT, OciBlobs } from "./oci-blobs.js";
import { refsFromAnnotations } from "./refs.js";
import { OciIndexFile, OciLayoutFile } from "./schemas.js";
import type { TarIndex } from "./tar-index.js";
import { addRef, type ReadImage, type ReadResult, type TarReader } from "./types.js";

const SMALL_FILE_LIMIT = 64 * 1024;

async function readRequired(files: LayoutFiles, name: string, limit: number): Promise<Buffer> {
  const file = await files.file(name);
  if (file === undefined) {
    throw new InputError(files.path, `not an OCI image layout: no ${name} file`, {
      hint: "give an OCI layout directory (with oci-layout, index.json and blobs/), e.g. from `skopeo copy ... oci:<dir>`, or a docker save / OCI archive",
    });
  }
  return file.read(limit);
}

/**
 * Reads an OCI image layout (a directory, an OCI archive, or `docker save` from Docker 25+).
 * Each distinct manifest or index listed in index.json becomes one image, carrying the names
 * of every entry that lists it.
 */
export async function readOciLayout(files: LayoutFiles): Promise<ReadResult> {
  const path = files.path;
  parseDocument(OciLayoutFile, await readRequired(files, "oci-layout", SMALL_FILE_LIMIT), path, "oci-layout");
  const index = parseDocument(
    OciIndexFile,
    await readRequired(files, "index.json", MANIFEST_LIMIT),
    path,
    "index.json",
  );
  checkCount(path, "entries in index.json", index.manifests.length, LIMITS.entriesPerList);

  const blobs = new OciBlobs(files);
  const warnings: string[] = [];
  const byDigest = new Map<string, ReadImage>();
  for (const [i, entry] of index.manifests.entries()) {
    const where = `index.json entry ${i + 1}`;
    const descriptor = checkDescriptor(entry, path, where);
    let image = byDigest.get(descriptor.digest);
    if (image === undefined) {
      image = { root: await blobs.node(descriptor, where), refs: [], tags: [] };
      byDigest.set(descriptor.digest, image);
    } else if (image.root.mediaType !== descriptor.mediaType) {
      throw new InputError(
        path,
        `${where} lists ${descriptor.digest} with a different media type than before`,
      );
    }
    const before = warnings.length;
    const found = refsFromAnnotations(descriptor.annotations, where, warnings);
    if (warnings.length > before) image.droppedNames = (image.droppedNames ?? 0) + warnings.length - before;
    for (const ref of found.refs) addRef(image.refs, ref);
    for (const tag of found.tags) if (!image.tags.includes(tag)) image.tags.push(tag);
  }
  return { images: [...byDigest.values()], warnings };
}

export const ociArchiveReader: TarReader = {
  format: "oci-layout",
  matches: (archive: TarIndex) =>
    archive.get("oci-layout") !== undefined && archive.get("index.json") !== undefined,
  read: (archive: TarIndex) => readOciLayout(tarLayoutFiles(archive)),
};
