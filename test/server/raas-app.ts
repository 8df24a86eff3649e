import { startRegistryServer, type LogRecord, type RunningRegistry } from "../../src/server/start.js";
import {
  buildImages,
  makeAppRepo,
  publish,
  type AppRepo,
  type BuiltImage,
} from "../../src/server/testing/fixture.js";

export interface RaasApp {
  repo: AppRepo;
  acme: BuiltImage;
  other: BuiltImage;
}

/** An app repo with two raas-published repositories (acme/app, other/secret) served from content/v2. */
export async function makeRaasApp(extra = ""): Promise<RaasApp> {
  const repo = await makeAppRepo(
    () =>
      `[general]\ndata_dir: data\ndata_dir_polling_interval: 60\n[serve_content]\nenable: true\n` +
      `content_dir_v1: content/v1\ncontent_dir_v2: content/v2\nuse_x_sendfile: false\n[raas]\nmanifest_dir = manifests\n${extra}`,
  );
  const acme = buildImages("acme/app", "acme-app", "acme");
  const other = buildImages("other/secret", "other-secret", "other");
  await publish(repo, "acme-acme-app.json", acme);
  await publish(repo, "other-other-secret.json", other);
  return { repo, acme, other };
}

export async function serve(app: RaasApp, logs?: LogRecord[]): Promise<RunningRegistry> {
  return startRegistryServer({
    configPath: app.repo.configPath,
    host: "127.0.0.1",
    port: 0,
    ...(logs === undefined ? {} : { log: (r: LogRecord) => logs.push(r) }),
  });
}
