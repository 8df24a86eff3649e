import { redactUrl } from "../adapters/git-errors.js";
import type { IsvSettings, LoadedConfig } from "./types.js";

const HIDDEN = "***";

function hide(value: string | undefined): string | undefined {
  return value === undefined ? undefined : HIDDEN;
}

function hideUrl(value: string | undefined): string | undefined {
  return value === undefined ? undefined : redactUrl(value);
}

/** A copy of the configuration that is safe to print: no tokens, keys or passwords in URLs. */
export function redact(config: LoadedConfig): LoadedConfig {
  const isvs = Object.fromEntries(
    Object.entries(config.isvs).map(([name, section]) => [
      name,
      section.appGitUrl === undefined
        ? { ...section }
        : { ...section, appGitUrl: redactUrl(section.appGitUrl) },
    ]),
  );
  const source =
    config.source.kind === "conf-repo"
      ? { ...config.source, repo: { ...config.source.repo, url: redactUrl(config.source.repo.url) } }
      : { ...config.source };
  return {
    ...config,
    source,
    redhat: { ...config.redhat, metadataRepo: hideUrl(config.redhat.metadataRepo) },
    openshift: {
      ...config.openshift,
      token: hide(config.openshift.token),
      appGitUrl: hideUrl(config.openshift.appGitUrl),
    },
    aws: {
      accessKeyId: hide(config.aws.accessKeyId),
      secretAccessKey: hide(config.aws.secretAccessKey),
      sessionToken: hide(config.aws.sessionToken),
    },
    s3: { ...config.s3 },
    isvs,
    warnings: [...config.warnings],
  };
}

/** The same for one ISV's resolved settings. */
export function redactIsv(settings: IsvSettings): IsvSettings {
  const storage =
    settings.storage.kind === "s3" && settings.storage.credentials !== undefined
      ? {
          ...settings.storage,
          credentials: { accessKeyId: HIDDEN, secretAccessKey: HIDDEN },
        }
      : { ...settings.storage };
  const platform =
    settings.platform.kind === "openshift"
      ? { ...settings.platform, token: hide(settings.platform.token) }
      : { ...settings.platform };
  return { ...settings, storage, platform, appRemote: redactUrl(settings.appRemote) };
}
