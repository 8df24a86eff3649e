import type { Digest } from "../image/digest.js";
import type { ManifestInfo, RepositoryDetail } from "./catalog.js";
import { pullChart } from "./chart.js";
import { commandBlock } from "./commands.js";
import { html, type Html } from "./html.js";
import { formatSize, formatTime, page, shortDigest, urls, type Crumb } from "./layout.js";
import { imagesOf, isIndex, platformText, totalSize, type ConfigSummary } from "./model.js";
import { CONFIG_BUDGET_MS, type ViewContext } from "./view-context.js";

interface Layer {
  digest: string;
  size: number | undefined;
  mediaType: string | undefined;
  /** Where a client fetches it from when it is not this registry. */
  source: { kind: "here" } | { kind: "vendor" | "foreign"; hosts: string[] };
}

const MAX_LIST = 200;

function hostsOf(urlsField: unknown): string[] {
  if (!Array.isArray(urlsField)) return [];
  const hosts = new Set<string>();
  for (const u of urlsField.slice(0, 20)) {
    if (typeof u !== "string") continue;
    try {
      hosts.add(new URL(u).host);
    } catch {
      // not a URL: nothing to show
    }
  }
  return [...hosts];
}

/**
 * Layers from the manifest itself when its bytes are at hand (media types, foreign `urls`),
 * else from the metadata's refs. Only hosts are shown of any URL, never the URL.
 */
async function layersOf(ctx: ViewContext, repo: RepositoryDetail, image: ManifestInfo): Promise<Layer[]> {
  const fromMeta = (digest: Digest, mediaType?: string, urlsField?: unknown): Layer => {
    const blob = repo.blobs.get(digest);
    const foreign = hostsOf(urlsField);
    return {
      digest,
      size: blob?.size,
      mediaType: mediaType ?? blob?.mediaType,
      source:
        blob?.hostedAt !== undefined
          ? { kind: "vendor", hosts: [blob.hostedAt] }
          : foreign.length > 0
            ? { kind: "foreign", hosts: foreign }
            : { kind: "here" },
    };
  };
  const bytes = await ctx.catalog.manifestBytes(repo.name, image.digest).catch(() => undefined);
  if (bytes !== undefined) {
    try {
      const doc = JSON.parse(bytes.toString("utf8")) as { layers?: unknown };
      if (Array.isArray(doc.layers)) {
        return doc.layers.slice(0, 1000).flatMap((l: unknown) => {
          const d = l as { digest?: unknown; mediaType?: unknown; urls?: unknown; size?: unknown };
          if (typeof d.digest !== "string" || !/^sha256:[a-f0-9]{64}$/.test(d.digest)) return [];
          const layer = fromMeta(
            d.digest as Digest,
            typeof d.mediaType === "string" ? d.mediaType : undefined,
            d.urls,
          );
          if (layer.size === undefined && typeof d.size === "number") layer.size = d.size;
          return [layer];
        });
      }
    } catch {
      // fall back to the metadata
    }
  }
  return image.refs.slice(1).map((d) => fromMeta(d));
}

const shortType = (t: string | undefined) =>
  t === undefined
    ? ""
    : t.replace(/^application\/vnd\.(docker|oci)\.(image\.)?/, "").replace(/^container\.image\./, "");

function configFacts(config: ConfigSummary): Html {
  const list = (items: string[] | undefined) =>
    items === undefined || items.length === 0
      ? undefined
      : html`<code>${JSON.stringify(items.slice(0, MAX_LIST))}</code>`;
  const facts: [string, Html | string | undefined][] = [
    ["Created", config.created === undefined ? undefined : formatTime(config.created)],
    ["Author", config.author],
    [
      "Platform",
      config.os === undefined || config.architecture === undefined
        ? undefined
        : platformText({
            os: config.os,
            architecture: config.architecture,
            ...(config.variant === undefined ? {} : { variant: config.variant }),
          }),
    ],
    ["User", config.user],
    ["Working directory", config.workingDir],
    ["Entrypoint", list(config.entrypoint)],
    ["Command", list(config.cmd)],
    [
      "Exposed ports",
      config.exposedPorts === undefined || config.exposedPorts.length === 0
        ? undefined
        : config.exposedPorts.join(", "),
    ],
  ];
  const env = config.env ?? [];
  const labels = config.labels ?? [];
  return html`<dl class="facts">
      ${facts
        .filter((f) => f[1] !== undefined)
        .map(
          ([k, v]) =>
            html`<dt>${k}</dt>
              <dd>${v}</dd>`,
        )}
    </dl>
    ${
      env.length === 0
        ? ""
        : html`<h3>Environment</h3>
            <ul>
              ${env.slice(0, MAX_LIST).map((e) => html`<li><code class="digest">${e}</code></li>`)}
            </ul>`
    }
    ${
      labels.length === 0
        ? ""
        : html`<h3>Labels</h3>
            <dl class="facts">
              ${labels.slice(0, MAX_LIST).map(
                ([k, v]) =>
                  html`<dt><code>${k}</code></dt>
                    <dd>${v}</dd>`,
              )}
            </dl>`
    }`;
}

function sourceBadge(layer: Layer): Html {
  if (layer.source.kind === "here") return html`<span class="badge here">this registry</span>`;
  const what = layer.source.kind === "vendor" ? "vendor-hosted" : "foreign layer";
  return html`<span class="badge vendor">${what}</span> <span>from ${layer.source.hosts.join(", ")}</span>`;
}

/** `/ui/r/<name>/-/t/<tag>` and `/ui/r/<name>/-/d/<digest>`: one manifest, image or index. */
export async function imagePage(
  ctx: ViewContext,
  repo: RepositoryDetail,
  manifest: ManifestInfo,
  tag: string | undefined,
): Promise<Html> {
  const tagsHere = [...repo.tags]
    .filter(([, d]) => d === manifest.digest)
    .map(([t]) => t)
    .sort();
  const title = tag === undefined ? `${repo.name}@${shortDigest(manifest.digest)}` : `${repo.name}:${tag}`;
  const crumbs: Crumb[] = [
    { label: "Repositories", url: "/ui/" },
    { label: repo.name, url: urls.repo(repo.name) },
    { label: tag ?? shortDigest(manifest.digest) },
  ];
  const images = imagesOf(repo, manifest);
  await ctx.configs.loadMany(repo.name, images, CONFIG_BUDGET_MS);
  const index = isIndex(manifest);
  const parents = [...repo.manifests.values()].filter((m) => isIndex(m) && m.refs.includes(manifest.digest));

  const target = { host: ctx.host, name: repo.name, plainHttp: ctx.plainHttp };
  const pull = html`<h2 id="pull">Pull</h2>
    ${tag === undefined ? "" : commandBlock("pull-tag", `By tag ${tag}`, { ...target, tag })}
    ${commandBlock("pull-digest", "By digest", { ...target, digest: manifest.digest })}`;

  let details: Html;
  if (index) {
    details = html`<h2 id="platforms">Platforms</h2>
      <div class="table-wrap" tabindex="0" role="region" aria-labelledby="platforms-caption">
        <table>
          <caption id="platforms-caption">
            Images in this multi-platform image
          </caption>
          <thead>
            <tr>
              <th scope="col">Platform</th>
              <th scope="col">Digest</th>
              <th scope="col" class="num">Size</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            ${images.map((i) => {
              const config = i.refs[0] === undefined ? undefined : ctx.configs.peek(i.refs[0]);
              return html`<tr>
                <td>${i.platform === undefined ? "unknown" : platformText(i.platform)}</td>
                <td>
                  <a href="${urls.digest(repo.name, i.digest)}"><code>${shortDigest(i.digest)}</code></a>
                </td>
                <td class="num">${formatSize(totalSize(repo, i))}</td>
                <td>${formatTime(config?.created)}</td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>`;
  } else {
    const config = manifest.refs[0] === undefined ? undefined : ctx.configs.peek(manifest.refs[0]);
    const layers = await layersOf(ctx, repo, manifest);
    details = html`<h2 id="config">Configuration</h2>
      ${config === undefined ? html`<p class="muted">The image configuration is not available to this page.</p>` : configFacts(config)}
      <h2 id="layers">Layers</h2>
      <div class="table-wrap" tabindex="0" role="region" aria-labelledby="layers-caption">
        <table>
          <caption id="layers-caption">
            ${layers.length} layers, base first
          </caption>
          <thead>
            <tr>
              <th scope="col" class="num">#</th>
              <th scope="col">Digest</th>
              <th scope="col" class="num">Size</th>
              <th scope="col" class="hide-narrow">Type</th>
              <th scope="col">Source</th>
            </tr>
          </thead>
          <tbody>
            ${layers.map(
              (l, i) =>
                html`<tr>
                  <td class="num">${i + 1}</td>
                  <td><code title="${l.digest}">${shortDigest(l.digest)}</code></td>
                  <td class="num">${formatSize(l.size)}</td>
                  <td class="hide-narrow">${shortType(l.mediaType)}</td>
                  <td>${sourceBadge(l)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`;
  }

  const environments = tag === undefined ? undefined : ctx.options.environments?.(repo.name, tag);
  const stats = ctx.options.pullStats?.(repo.name, tag);
  const body = html`<h1><span class="digest">${title}</span></h1>
    <dl class="facts">
      <dt>Digest</dt>
      <dd><code class="digest">${manifest.digest}</code></dd>
      <dt>Kind</dt>
      <dd>
        ${index ? `multi-platform image (${images.length} platforms)` : "image"}
        <span class="muted">${shortType(manifest.mediaType)}</span>
      </dd>
      <dt>Size</dt>
      <dd>${formatSize(totalSize(repo, manifest))}</dd>
      ${
        !index && manifest.platform !== undefined
          ? html`<dt>Platform</dt>
              <dd>${platformText(manifest.platform)}</dd>`
          : ""
      }
      <dt>Tags</dt>
      <dd>
        ${tagsHere.length === 0 ? html`<span class="muted">none</span>` : tagsHere.map((t, i) => html`${i > 0 ? ", " : ""}<a href="${urls.tag(repo.name, t)}">${t}</a>`)}
      </dd>
      ${
        parents.length === 0
          ? ""
          : html`<dt>Part of</dt>
              <dd>
                ${parents.map((p, i) => html`${i > 0 ? ", " : ""}<a href="${urls.digest(repo.name, p.digest)}"><code>${shortDigest(p.digest)}</code></a>`)}
              </dd>`
      }
    </dl>
    ${pull}
    ${
      environments === undefined || environments.length === 0
        ? ""
        : html`<h2 id="environments">Environments</h2>
            <ul>
              ${environments.map((e) => html`<li>${e.name}${e.since === undefined ? "" : html` <span class="muted">since ${formatTime(e.since)}</span>`}</li>`)}
            </ul>`
    }
    ${
      stats === undefined || stats.length === 0
        ? ""
        : html`<h2 id="pulls">Pulls per day</h2>
            ${pullChart("tag-pulls", stats)}`
    }
    ${details}`;
  return page(title, crumbs, body);
}
