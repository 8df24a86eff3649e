import { InputError } from "../errors.js";
import type { TarIndex } from "./tar-index.js";
import type { TarReader } from "./types.js";

/**
 * Formats recognised but not read yet. Each is a TarReader like the real ones, so a future
 * reader replaces its entry in the table in index.ts and nothing else changes.
 */
export const legacyDockerArchiveReader: TarReader = {
  format: "docker-archive-legacy",
  matches: (archive: TarIndex) =>
    archive.get("repositories") !== undefined && archive.members().some((m) => /^[^/]+\/json$/.test(m.name)),
  read: (archive: TarIndex) =>
    Promise.reject(
      new InputError(archive.path, "docker save format from before Docker 1.10 is not supported yet", {
        hint: "save the image again with a newer Docker, or push it to a registry and pull it back",
      }),
    ),
};

export const pulpExportReader: TarReader = {
  format: "pulp-export",
  matches: (archive: TarIndex) => {
    const members = archive.members();
    return (
      members.some((m) => /^[^/]+\.json$/.test(m.name)) && members.some((m) => m.name.startsWith("web/"))
    );
  },
  read: (archive: TarIndex) =>
    Promise.reject(new InputError(archive.path, "Pulp export tarballs are not supported yet")),
};
