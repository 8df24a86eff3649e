/**
 * What wraps every command run once the configuration is loaded: setup's ISV choices
 * (--s3bucket, --oodomain, --ooapp) applied and recorded on first use, and, with a
 * configuration repository, the run log, push's metadata backups and the final commit.
 */
import type { PushResult } from "../commands/push.js";
import type { AppRepository } from "../app/app-repository.js";
import {
  applyChoices,
  recordIsvSection,
  rememberedChoices,
  type IsvChoices,
} from "../config/conf-repo-section.js";
import { RunLog, secretValues } from "../config/conf-repo-log.js";
import { ConfRepoSession } from "../config/conf-repo.js";
import type { IsvSettings, LoadedConfig } from "../config/types.js";
import { errorMessage } from "../errors.js";
import type { Reporter } from "../ui/reporter.js";
import type { CliIo } from "./io.js";
import type { GlobalOptions, Invocation } from "./program.js";

export class RunSession {
  private constructor(
    /** The configuration with this run's ISV choices applied. */
    readonly config: LoadedConfig,
    /** The reporter every part of the run uses (recording into the run log when there is one). */
    readonly reporter: Reporter,
    private readonly invocation: Invocation,
    private readonly choices: IsvChoices,
    private readonly confRepo: { session: ConfRepoSession; log: RunLog } | undefined,
    private readonly nocommit: boolean,
    /** The configuration as loaded, to tell a first use from a known ISV. */
    private readonly loaded: LoadedConfig,
  ) {}

  static async start(
    config: LoadedConfig,
    invocation: Invocation,
    globals: GlobalOptions,
    edge: { io: CliIo; reporter: Reporter },
  ): Promise<RunSession> {
    const flags: IsvChoices =
      invocation.command === "setup"
        ? {
            ...(invocation.options.s3bucket === undefined ? {} : { s3bucket: invocation.options.s3bucket }),
            ...(invocation.options.oodomain === undefined ? {} : { oodomain: invocation.options.oodomain }),
            ...(invocation.options.ooapp === undefined ? {} : { ooapp: invocation.options.ooapp }),
          }
        : {};
    const choices = { ...(await rememberedChoices(config, invocation.isv)), ...flags };
    const section = applyChoices(config.isvs[invocation.isv] ?? {}, choices);
    const applied =
      Object.keys(choices).length === 0
        ? config
        : { ...config, isvs: { ...config.isvs, [invocation.isv]: section } };
    let confRepo: { session: ConfRepoSession; log: RunLog } | undefined;
    if (config.source.kind === "conf-repo" && invocation.command !== "serve") {
      const log = new RunLog(edge.reporter, secretValues(config, edge.io.env));
      const app = invocation.command === "push" ? (invocation.options.name ?? invocation.image) : undefined;
      const session = new ConfRepoSession(config.source.repo, {
        isv: invocation.isv,
        action: invocation.command,
        ...(app === undefined ? {} : { app: app.replace(/^.*\//, "") }),
        log: (line) => edge.reporter.debug(line),
      });
      await session.ready();
      log.record("info", `raas ${invocation.command} ${invocation.isv}${app === undefined ? "" : ` ${app}`}`);
      confRepo = { session, log };
    }
    return new RunSession(
      applied,
      confRepo?.log ?? edge.reporter,
      invocation,
      flags,
      confRepo,
      globals.nocommit,
      config,
    );
  }

  /** After a push: keep a copy of each metadata file it published. */
  async backupPush(result: PushResult, app: AppRepository): Promise<void> {
    if (this.confRepo === undefined) return;
    for (const image of result.images) {
      const content = await app.read(image.metadataFile);
      if (content !== undefined) this.confRepo.session.backupMetadata(image.metadataFile, content);
    }
  }

  /**
   * End of the run, successful or not: record setup's choices (first use), then write the run
   * log and commit the configuration repository. A failure here is reported, never hides the
   * command's own outcome.
   */
  async finish(outcome: { ok: boolean; error?: unknown }, settings: IsvSettings | undefined): Promise<void> {
    const reporter = this.reporter;
    if (this.invocation.command === "setup" && outcome.ok && settings !== undefined) {
      const storage = settings.storage;
      const written = await recordIsvSection(this.loaded, this.invocation.isv, this.choices, {
        storage: storage.kind,
        ...(storage.kind === "s3" ? { bucket: storage.bucket } : {}),
      }).catch((error: unknown) => {
        reporter.warn(`could not record the [${this.invocation.isv}] section: ${errorMessage(error)}`);
        return undefined;
      });
      if (written !== undefined) reporter.info(`Recorded ${this.invocation.isv}'s settings in ${written}`);
    }
    if (this.confRepo === undefined) return;
    const { session, log } = this.confRepo;
    if (outcome.error !== undefined) log.record("error", errorMessage(outcome.error));
    log.record("info", `${this.invocation.command} ${outcome.ok ? "succeeded" : "failed"}`);
    try {
      const commit = await session.finish(log.lines, !this.nocommit);
      if (commit !== undefined) reporter.debug(`configuration repository: pushed ${commit.slice(0, 12)}`);
      else if (this.nocommit) reporter.debug("configuration repository: --nocommit, nothing committed");
    } catch (error) {
      reporter.warn(`could not update the configuration repository: ${errorMessage(error)}`);
    }
  }
}
