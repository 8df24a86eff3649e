import type { ImageRef, ImageSource, SourceFormat, SourceImage } from "../image/model.js";
import type { V1Repository } from "../image/v1.js";
import type { TarIndex } from "./tar-index.js";

/**
 * What a reader found for one image. `tags` are tags the input gives without a repository
 * name (skopeo's `oci:dir:tag` writes only `org.opencontainers.image.ref.name: tag`); the
 * caller pairs them with --name.
 */
export interface ReadImage extends SourceImage {
  tags: string[];
}

export interface ReadResult {
  images: ReadImage[];
  /** Things worth telling the user that do not stop the read (e.g. an ignored RepoTag). */
  warnings: string[];
  /**
   * A v1 repository (Pulp export, pre-1.10 docker save), which openImageSource converts to
   * the image model before anyone else sees it.
   */
  v1?: V1Repository;
}

/** An opened input with the extras the readers know beyond the shared model. */
export interface OpenedSource extends ImageSource {
  images: ReadImage[];
  warnings: string[];
}

/** One input format inside a tar archive; openImageSource tries them in order. */
export interface TarReader {
  format: SourceFormat;
  /** Cheap structural test on the member names. */
  matches(archive: TarIndex): boolean;
  read(archive: TarIndex): Promise<ReadResult>;
}

export function addRef(refs: ImageRef[], ref: ImageRef): void {
  if (!refs.some((r) => r.name === ref.name && r.tag === ref.tag)) refs.push(ref);
}
