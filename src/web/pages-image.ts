import type { Digest } from "../image/digest.js";
import type { ManifestInfo, RepositoryDetail } from "./catalog.js";
import { pullChart } from "./chart.js";
import { commandBlock, loginNote, tlsNote } from "./commands.js";
import { h, type Html } from "./html.js";
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
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

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
 * else from the metadata's refs. Of any URL only the host is shown, never the URL.
 */
async function layersOf(ctx: ViewContext, repo: RepositoryDetail, image: ManifestInfo): Promise<Layer[]> {
  const layer = (digest: string, mediaType?: string, urlsField?: unknown): Layer => {
    const blob = repo.blobs.get(digest as Digest);
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
    let doc: { layers?: unknown } | undefined;
    try {
      doc = JSON.parse(bytes.toString("utf8")) as { layers?: unknown };
    } catch {
      doc = undefined;
    }
    if (doc !== undefined && Array.isArray(doc.layers)) {
      return doc.layers.slice(0, 1000).flatMap((entry: unknown) => {
        const d = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
        if (typeof d.digest !== "string" || !DIGEST_RE.test(d.digest)) return [];
        const l = layer(d.digest, typeof d.mediaType === "string" ? d.mediaType : undefined, d.urls);
        if (l.size === undefined && typeof d.size === "number") l.size = d.size;
        return [l];
      });
    }
  }
  return image.refs.slice(1).map((d) => layer(d));
}

const shortType = (t: string | undefined) =>
  t === undefined
    ? ""
    : t.replace(/^application\/vnd\.(docker|oci)\.(image\.)?/, "").replace(/^container\.image\./, "");

function configFacts(config: ConfigSummary): Html {
  const list = (items: string[] | undefined) =>
    items === undefined || items.length === 0
      ? undefined
      : h`<code class="digest">${JSON.stringify(items.slice(0, MAX_LIST))}</code>`;
  const { os, architecture, variant } = config;
  const platform =
    os === undefined || architecture === undefined
      ? undefined
      : platformText({ os, architecture, ...(variant === undefined ? {} : { variant }) });
  const ports = config.exposedPorts ?? [];
  const facts: [string, Html | string | undefined][] = [
    ["Created", config.created === undefined ? undefined : formatTime(config.created)],
    ["Author", config.author],
    ["Platform", platform],
    ["User", config.user],
    ["Working directory", config.workingDir],
    ["Entrypoint", list(config.entrypoint)],
    ["Command", list(config.cmd)],
    ["Exposed ports", ports.length === 0 ? undefined : ports.slice(0, MAX_LIST).join(", ")],
  ];
  const env = config.env ?? [];
  const labels = config.labels ?? [];
  const shownFacts = facts.filter((f) => f[1] !== undefined).map(([k, v]) => h`<dt>${k}</dt><dd>${v}</dd>`);
  return h`<dl class="facts">${shownFacts}</dl>
${env.length === 0 ? "" : h`<h3>Environment</h3><ul>${env.slice(0, MAX_LIST).map((e) => h`<li><code class="digest">${e}</code></li>`)}</ul>`}
${labels.length === 0 ? "" : h`<h3>Labels</h3><dl class="facts">${labels.slice(0, MAX_LIST).map(([k, v]) => h`<dt><code class="digest">${k}</code></dt><dd>${v}</dd>`)}</dl>`}`;
}

function sourceBadge(layer: Layer): Html {
  if (layer.source.kind === "here") return h`<span class="badge here">this registry</span>`;
  const what = layer.source.kind === "vendor" ? "vendor-hosted" : "foreign layer";
  return h`<span class="badge vendor">${what}</span> from ${layer.source.hosts.join(", ")}`;
}

function platformsTable(ctx: ViewContext, repo: RepositoryDetail, images: ManifestInfo[]): Html {
  const rows = images.map((i) => {
    const config = i.refs[0] === undefined ? undefined : ctx.configs.peek(i.refs[0]);
    const platform = i.platform === undefined ? "unknown" : platformText(i.platform);
    return h`<tr><td>${platform}</td><td><a href="${urls.digest(repo.name, i.digest)}"><code>${shortDigest(i.digest)}</code></a></td><td class="num">${formatSize(totalSize(repo, i))}</td><td>${formatTime(config?.created)}</td></tr>
`;
  });
  return h`<h2 id="platforms">Platforms</h2>
<section class="table-wrap" tabindex="0" aria-labelledby="platforms-caption">
<table>
<caption id="platforms-caption">Images in this multi-platform image</caption>
<thead><tr><th scope="col">Platform</th><th scope="col">Digest</th><th scope="col" class="num">Size</th><th scope="col">Created</th></tr></thead>
<tbody>
${rows}</tbody>
</table>
</section>`;
}

async function imageDetails(ctx: ViewContext, repo: RepositoryDetail, manifest: ManifestInfo): Promise<Html> {
  const config = manifest.refs[0] === undefined ? undefined : ctx.configs.peek(manifest.refs[0]);
  const layers = await layersOf(ctx, repo, manifest);
  const rows = layers.map(
    (l, i) =>
      h`<tr><td class="num">${i + 1}</td><td><code class="digest">${shortDigest(l.digest)}</code></td><td class="num">${formatSize(l.size)}</td><td class="hide-narrow">${shortType(l.mediaType)}</td><td>${sourceBadge(l)}</td></tr>
`,
  );
  return h`<h2 id="config">Configuration</h2>
${config === undefined ? h`<p class="muted">The image configuration is not available to this page.</p>` : configFacts(config)}
<h2 id="layers">Layers</h2>
<section class="table-wrap" tabindex="0" aria-labelledby="layers-caption">
<table>
<caption id="layers-caption">${layers.length} layers, base first</caption>
<thead><tr><th scope="col" class="num">#</th><th scope="col">Digest</th><th scope="col" class="num">Size</th><th scope="col" class="hide-narrow">Type</th><th scope="col">Source</th></tr></thead>
<tbody>
${rows}</tbody>
</table>
</section>`;
}

const links = (items: Html[]) => items.map((item, i) => h`${i > 0 ? ", " : ""}${item}`);

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

  const target = {
    host: ctx.host,
    name: repo.name,
    plainHttp: ctx.plainHttp,
    ...(ctx.certDir === undefined ? {} : { certDir: ctx.certDir }),
  };
  const byTag = tag === undefined ? "" : commandBlock("pull-tag", `By tag ${tag}`, { ...target, tag });
  const byDigest = commandBlock("pull-digest", "By digest", { ...target, digest: manifest.digest });
  const details = index ? platformsTable(ctx, repo, images) : await imageDetails(ctx, repo, manifest);

  const environments = tag === undefined ? undefined : ctx.options.environments?.(repo.name, tag);
  const envSection =
    environments === undefined || environments.length === 0
      ? ""
      : h`<h2 id="environments">Environments</h2>
<ul>${environments.map((e) => h`<li>${e.name}${e.since === undefined ? "" : h` <span class="muted">since ${formatTime(e.since)}</span>`}</li>`)}</ul>`;
  // Statistics count a pull by digest under its digest: a digest page shows those.
  const stats = await ctx.options.pullStats?.(repo.name, tag ?? manifest.digest);
  const chart =
    stats === undefined || stats.length === 0
      ? ""
      : h`<h2 id="pulls">Pulls per day</h2>${pullChart("tag-pulls", stats)}`;
  const kind = index ? `multi-platform image (${images.length} platforms)` : "image";
  const tagLinks = links(tagsHere.map((t) => h`<a href="${urls.tag(repo.name, t)}">${t}</a>`));
  const parentLinks = links(
    parents.map(
      (p) => h`<a href="${urls.digest(repo.name, p.digest)}"><code>${shortDigest(p.digest)}</code></a>`,
    ),
  );

  const body = h`<h1 class="digest">${title}</h1>
<dl class="facts">
<dt>Digest</dt><dd><code class="digest">${manifest.digest}</code></dd>
<dt>Kind</dt><dd>${kind} <span class="muted">${shortType(manifest.mediaType)}</span></dd>
<dt>Size</dt><dd>${formatSize(totalSize(repo, manifest))}</dd>
${!index && manifest.platform !== undefined ? h`<dt>Platform</dt><dd>${platformText(manifest.platform)}</dd>` : ""}
<dt>Tags</dt><dd>${tagsHere.length === 0 ? h`<span class="muted">none</span>` : tagLinks}</dd>
${parents.length === 0 ? "" : h`<dt>Part of</dt><dd>${parentLinks}</dd>`}
</dl>
<h2 id="pull">Pull</h2>
${byTag}
${byDigest}
${tlsNote(target)}
${loginNote(ctx.needsLogin?.(repo.name) === true, target)}
${envSection}
${chart}
${details}`;
  return page(title, crumbs, body, ctx.account);
}
