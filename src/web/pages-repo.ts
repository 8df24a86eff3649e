import type { Digest } from "../image/digest.js";
import type { ManifestInfo, RepositoryDetail } from "./catalog.js";
import { pullChart } from "./chart.js";
import { commandBlock, loginNote, tlsNote } from "./commands.js";
import { h, type Html } from "./html.js";
import { formatSize, formatTime, page, shortDigest, urls } from "./layout.js";
import { imagesOf, isIndex, platformText, representative, totalSize } from "./model.js";
import { matches, MAX_QUERY, PAGE_SIZE, wordsOf } from "./pages-list.js";
import { CONFIG_BUDGET_MS, type ViewContext } from "./view-context.js";

type SortKey = "tag" | "created" | "size";
const SORT_KEYS: SortKey[] = ["tag", "created", "size"];

interface TagRow {
  tag: string;
  digest: Digest;
  manifest: ManifestInfo | undefined;
  size: number | undefined;
  created: string | undefined;
  platforms: string[];
}

/** Unknown sizes and dates sort as the smallest. */
function compare(a: TagRow, b: TagRow, key: SortKey): number {
  const byTag = a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0;
  if (key === "tag") return byTag;
  const value = (r: TagRow) =>
    key === "size" ? (r.size ?? -1) : r.created === undefined ? -1 : Date.parse(r.created);
  return value(a) - value(b);
}

/** Sorted by `key` in `order`; equal values stay in tag order either way. */
function sortRows(rows: TagRow[], key: SortKey, order: "asc" | "desc"): void {
  const byTag = (a: TagRow, b: TagRow) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
  rows.sort((a, b) => (order === "desc" ? compare(b, a, key) : compare(a, b, key)) || byTag(a, b));
}

function tagRows(ctx: ViewContext, repo: RepositoryDetail, entries: [string, Digest][]): TagRow[] {
  return entries.map(([tag, digest]) => {
    const m = repo.manifests.get(digest);
    const image = m === undefined ? undefined : representative(repo, m);
    const configDigest = image?.refs[0];
    const config = configDigest === undefined ? undefined : ctx.configs.peek(configDigest);
    const platforms =
      m === undefined
        ? []
        : imagesOf(repo, m)
            .map((i) => i.platform)
            .filter((p) => p !== undefined)
            .map(platformText);
    if (platforms.length === 0 && config?.os !== undefined && config.architecture !== undefined) {
      const { os, architecture, variant } = config;
      platforms.push(platformText({ os, architecture, ...(variant === undefined ? {} : { variant }) }));
    }
    return {
      tag,
      digest,
      manifest: m,
      size: m === undefined ? undefined : totalSize(repo, m),
      created: config?.created,
      platforms,
    };
  });
}

export async function repositoryPage(
  ctx: ViewContext,
  repo: RepositoryDetail,
  query: URLSearchParams,
): Promise<Html> {
  const sortParam = query.get("sort") ?? "tag";
  const sort: SortKey = (SORT_KEYS as string[]).includes(sortParam) ? (sortParam as SortKey) : "tag";
  const order = query.get("order") === "desc" ? "desc" : "asc";
  const q = (query.get("q") ?? "").slice(0, MAX_QUERY);
  const words = wordsOf(q);

  const entries = [...repo.tags].filter(([tag]) => words.length === 0 || matches(words, tag));
  const images = new Map<Digest, ManifestInfo>();
  for (const [, digest] of entries) {
    const m = repo.manifests.get(digest);
    const image = m === undefined ? undefined : representative(repo, m);
    if (image !== undefined) images.set(image.digest, image);
  }
  const complete = await ctx.configs.loadMany(repo.name, [...images.values()], CONFIG_BUDGET_MS);
  const rows = tagRows(ctx, repo, entries);
  sortRows(rows, sort, order);
  // Thousands of tags stay usable: one page of rows at a time, the rest behind page links.
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const requested = Number(query.get("page") ?? "1");
  const current = Number.isFinite(requested) ? Math.min(Math.max(1, Math.trunc(requested)), pages) : 1;
  const from = (current - 1) * PAGE_SIZE;
  const shown = rows.slice(from, from + PAGE_SIZE);
  const pageUrl = (n: number) => {
    const params = new URLSearchParams();
    if (q !== "") params.set("q", q);
    params.set("sort", sort);
    params.set("order", order);
    if (n > 1) params.set("page", String(n));
    return `${urls.repo(repo.name)}?${params.toString()}`;
  };
  const pager =
    pages > 1
      ? h`<nav class="pager" aria-label="Tag pages">${current > 1 ? h`<a href="${pageUrl(current - 1)}" rel="prev">Previous page</a>` : ""}<span>Page ${current} of ${pages}</span>${current < pages ? h`<a href="${pageUrl(current + 1)}" rel="next">Next page</a>` : ""}</nav>`
      : "";

  const sortHeader = (key: SortKey, label: string, cls = "") => {
    const active = sort === key;
    const params = new URLSearchParams();
    if (q !== "") params.set("q", q);
    params.set("sort", key);
    params.set("order", active && order === "asc" ? "desc" : "asc");
    const direction = order === "asc" ? "ascending" : "descending";
    const classAttr = cls === "" ? "" : h` class="${cls}"`;
    const ariaSort = active ? h` aria-sort="${direction}"` : "";
    const note = active
      ? h`<span class="visually-hidden">, sorted ${direction}</span><span aria-hidden="true">${order === "asc" ? " ▲" : " ▼"}</span>`
      : "";
    return h`<th scope="col"${classAttr}${ariaSort}><a href="${urls.repo(repo.name)}?${params.toString()}">${label}${note}</a></th>`;
  };

  const defaultTag = repo.tags.has("latest") ? "latest" : [...repo.tags.keys()].sort()[0];
  const target = {
    host: ctx.host,
    name: repo.name,
    plainHttp: ctx.plainHttp,
    ...(ctx.certDir === undefined ? {} : { certDir: ctx.certDir }),
  };
  const pullSection =
    defaultTag === undefined
      ? ""
      : h`<h2 id="pull">Pull</h2>
${commandBlock("pull-default", `By tag ${defaultTag}`, { ...target, tag: defaultTag })}
${tlsNote(target)}
${loginNote(ctx.needsLogin?.(repo.name) === true, target)}`;
  const stats = await ctx.options.pullStats?.(repo.name, undefined);
  const chart =
    stats === undefined || stats.length === 0
      ? ""
      : h`<h2 id="pulls">Pulls per day</h2>${pullChart("repo-pulls", stats)}`;
  const crane =
    repo.craneReferences.length === 0
      ? ""
      : h`<h2 id="references">References</h2>
<p class="muted">This repository is described by a plain Crane metadata file, which lists references but not their sizes or platforms.</p>
<ul>${repo.craneReferences.map((r) => h`<li><code class="digest">${r}</code></li>`)}</ul>`;

  const tableRows = shown.map((r) => {
    const count =
      r.manifest !== undefined && isIndex(r.manifest)
        ? h`<span class="muted">${r.platforms.length} platforms:</span> `
        : "";
    return h`<tr data-key="${r.tag}"><td><a href="${urls.tag(repo.name, r.tag)}">${r.tag}</a></td><td><a href="${urls.digest(repo.name, r.digest)}"><code>${shortDigest(r.digest)}</code></a></td><td class="num">${formatSize(r.size)}</td><td>${formatTime(r.created)}</td><td>${count}${r.platforms.join(", ")}</td></tr>
`;
  });
  const pending = complete
    ? ""
    : h` <span class="muted">(some creation dates are still being read from storage; reload to see them)</span>`;
  const table =
    repo.tags.size === 0
      ? ""
      : h`<h2 id="tags">Tags</h2>
<form class="search" method="get" action="${urls.repo(repo.name)}" role="search">
<label for="q">Filter tags</label>
<input id="q" name="q" type="search" value="${q}" maxlength="${MAX_QUERY}" autocomplete="off" spellcheck="false" data-filter="tag-table" aria-describedby="tag-count">
<input type="hidden" name="sort" value="${sort}"><input type="hidden" name="order" value="${order}">
<button type="submit">Filter</button>
</form>
<p id="tag-count">${rows.length} of ${repo.tags.size} tags${pages > 1 ? h`, showing ${from + 1}–${from + shown.length}` : ""}.${pending}</p>
${
  rows.length === 0
    ? ""
    : h`<section class="table-wrap" tabindex="0" aria-labelledby="tags-caption">
<table id="tag-table">
<caption id="tags-caption">Tags of ${repo.name}</caption>
<thead><tr>${sortHeader("tag", "Tag")}<th scope="col">Digest</th>${sortHeader("size", "Size", "num")}${sortHeader("created", "Created")}<th scope="col">Platforms</th></tr></thead>
<tbody>
${tableRows}</tbody>
</table>
</section>
${pager}`
}`;

  const tagCount = repo.tags.size > 0 ? repo.tags.size : repo.craneReferences.length;
  const body = h`<h1>${repo.name}</h1>
<dl class="facts"><dt>Tags</dt><dd>${tagCount}</dd><dt>Updated</dt><dd>${formatTime(repo.updated)}</dd></dl>
${pullSection}
${chart}
${table}
${crane}`;
  return page(repo.name, [{ label: "Repositories", url: "/ui/" }, { label: repo.name }], body, ctx.account);
}
