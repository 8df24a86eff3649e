/**
 * registry.conf, the file the registry server reads: Crane's sections ([general],
 * [serve_content]) plus raas's own ([raas], [storage]). Relative paths are relative to the file.
 */
import { safe } from "ini";
import type { IsvSettings } from "../config/types.js";

export interface ServerConfigOptions {
  /** Seconds between checks of data/ for new metadata (Crane's default of 60 is too slow for a CLI). */
  pollingIntervalSeconds?: number;
  /** `host[:port]` for X-Docker-Endpoints; empty means the request's Host. */
  endpoint?: string;
}

type Section = [string, Record<string, string | number | boolean | undefined>];

function render(sections: Section[]): string {
  const lines = [
    "# Written by raas setup; it is rewritten on every setup. Change raas.cfg instead.",
    "# No secrets here: storage credentials come from the environment.",
  ];
  for (const [name, values] of sections) {
    lines.push("", `[${name}]`);
    for (const [key, value] of Object.entries(values)) {
      // ini.safe quotes values that would otherwise be read as comments or booleans.
      lines.push(`${key} = ${value === undefined ? "" : safe(String(value))}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function registryConf(settings: IsvSettings, options: ServerConfigOptions = {}): string {
  const { storage, platform } = settings;
  const local = platform.kind === "local";
  const sections: Section[] = [
    [
      "general",
      {
        data_dir: "data",
        data_dir_polling_interval: options.pollingIntervalSeconds ?? 2,
        endpoint: options.endpoint ?? "",
      },
    ],
    [
      "raas",
      {
        manifest_dir: "manifests",
        // Reported by /readyz: `raas status` checks it is asking this ISV's registry.
        isv: settings.isv,
        // In a container the server must listen on every interface; locally only on loopback.
        listen: local ? platform.host : "0.0.0.0",
        port: local ? platform.port : 5000,
      },
    ],
  ];
  if (storage.kind === "local") {
    sections.push([
      "serve_content",
      { enable: true, content_dir_v1: storage.root, content_dir_v2: storage.root, use_x_sendfile: false },
    ]);
  } else {
    sections.push(["serve_content", { enable: false }]);
    sections.push([
      "storage",
      {
        kind: "s3",
        bucket: storage.bucket,
        endpoint: storage.endpoint ?? "",
        region: storage.region,
        force_path_style: storage.forcePathStyle,
        redirect: storage.redirect,
        presign_ttl: storage.presignTtl,
        public_base_url: storage.publicBaseUrl ?? "",
      },
    ]);
  }
  return render(sections);
}
