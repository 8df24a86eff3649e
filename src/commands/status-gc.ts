import { errorMessage } from "../errors.js";
import { formatBytes } from "../publish/upload.js";
import type { BlobStore } from "../storage/types.js";
import type { Reporter } from "../ui/reporter.js";
import type { Check } from "./checks.js";
import { gc, readGcRecord, type GcDeps } from "./gc.js";
import type { AppRepository } from "../app/app-repository.js";

/**
 * The `garbage` line of `raas status`: what `raas gc --dry-run` would free now (default grace)
 * and when GC last ran. Informational: garbage is never a failure.
 */
export async function gcStatusCheck(
  isv: string,
  store: BlobStore,
  app: AppRepository,
  reporter: Reporter,
  prepared?: GcDeps["prepared"],
): Promise<Check> {
  try {
    // The status step is already on screen: GC's own progress line would interleave with it.
    const quiet: Reporter = {
      level: reporter.level,
      error: (m) => reporter.error(m),
      warn: (m) => reporter.warn(m),
      info: (m) => reporter.debug(m),
      debug: (m) => reporter.debug(m),
      step: () => ({ update() {}, succeed() {}, fail() {}, info() {} }),
    };
    const dry = await gc(
      { isv, dryRun: true },
      { cwd: "", env: {}, reporter: quiet },
      { store, apps: [app], ...(prepared === undefined ? {} : { prepared }) },
    );
    const record = await readGcRecord(store);
    const { freed, keptByGrace, grace } = dry.gc;
    const last =
      record === undefined
        ? "gc has never run"
        : `last gc ${record.finished} freed ${record.freed.count} object(s), ${formatBytes(record.freed.bytes)}`;
    return {
      name: "garbage",
      status: "ok",
      detail:
        `${formatBytes(freed.bytes)} reclaimable (${freed.count} object(s), ${freed.bytes} bytes) by \`raas gc ${isv}\`; ` +
        `${keptByGrace.count} newer unreferenced object(s) wait out the ${grace} grace period; ${last}`,
    };
  } catch (error) {
    return {
      name: "garbage",
      status: "warn",
      detail: `cannot compute reclaimable storage: ${errorMessage(error)}`,
    };
  }
}
