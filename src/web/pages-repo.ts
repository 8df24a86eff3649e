import type { Digest } from "../image/digest.js";
import type { ManifestInfo, RepositoryDetail } from "./catalog.js";
import { pullChart } from "./chart.js";
import { commandBlock } from "./commands.js";
import { html, type Html } from "./html.js";
import { formatSize, formatTime, page, shortDigest, urls } from "./layout.js";
import { imagesOf, isIndex, platformText, representative, totalSize } from "./model.js";
import { matches, MAX_QUERY, wordsOf } from "./pages-list.js";
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

function compare(a: TagRow, b: TagRow, key: SortKey): number {
  const byTag = a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0;
  if (key === "tag") return byTag;
  // Unknown values sort last in either direction is not possible with a plain reverse, so they
  // sort as the smallest; ties fall back to the tag so the order is stable.
  const av = key === "size" ? (a.size ?? -1) : a.created === undefined ? -1 : Date.parse(a.created);
  const bv = key === "size" ? (b.size ?? -1) : b.created === undefined ? -1 : Date.parse(b.created);
  return av - bv || byTag;
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

  const rows: TagRow[] = entries.map(([tag, digest]) => {
    const m = repo.manifests.get(digest);
    const image = m === undefined ? undefined : representative(repo, m);
    const config = image?.refs[0] === undefined ? undefined : ctx.configs.peek(image.refs[0]);
    const platforms =
      m === undefined
        ? []
        : imagesOf(repo, m)
            .map((i) => i.platform)
            .filter((p) => p !== undefined)
            .map(platformText);
    if (platforms.length === 0 && config?.os !== undefined && config.architecture !== undefined) {
      platforms.push(
        platformText({
          os: config.os,
          architecture: config.architecture,
          ...(config.variant === undefined ? {} : { variant: config.variant }),
        }),
      );
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
  rows.sort((a, b) => (order === "desc" ? compare(b, a, sort) : compare(a, b, sort)));

  const sortLink = (key: SortKey, label: string, cls = "") => {
    const active = sort === key;
    const next = active && order === "asc" ? "desc" : "asc";
    const params = new URLSearchParams();
    if (q !== "") params.set("q", q);
    params.set("sort", key);
    params.set("order", next);
    const ariaSort = active ? (order === "asc" ? "ascending" : "descending") : undefined;
    return html`<th
      scope="col"
      ${cls === "" ? "" : html` class="${cls}"`}${ariaSort === undefined ? "" : html` aria-sort="${ariaSort}"`}
    >
      <a href="${urls.repo(repo.name)}?${params.toString()}"
        >${label}<span class="visually-hidden">${active ? `, sorted ${ariaSort ?? ""}` : ""}</span
        >${active ? html`<span aria-hidden="true">${order === "asc" ? " ▲" : " ▼"}</span>` : ""}</a
      >
    </th>`;
  };

  const defaultTag = repo.tags.has("latest") ? "latest" : [...repo.tags.keys()].sort()[0];
  const pullSection =
    defaultTag === undefined
      ? ""
      : html`<h2 id="pull">Pull</h2>
          ${commandBlock("pull-default", `By tag ${defaultTag}`, {
            host: ctx.host,
            name: repo.name,
            tag: defaultTag,
            plainHttp: ctx.plainHttp,
          })}`;
  const stats = ctx.options.pullStats?.(repo.name, undefined);
  const crane =
    repo.craneReferences.length === 0
      ? ""
      : html`<h2>References</h2>
          <p class="muted">
            This repository is described by a plain Crane metadata file, which lists references but not their
            sizes or platforms.
          </p>
          <ul>
            ${repo.craneReferences.map((r) => html`<li><code class="digest">${r}</code></li>`)}
          </ul>`;

  const table =
    repo.tags.size === 0
      ? ""
      : html`<h2 id="tags">Tags</h2>
          <form class="search" method="get" action="${urls.repo(repo.name)}" role="search">
            <label for="q">Filter tags</label>
            <input
              id="q"
              name="q"
              type="search"
              value="${q}"
              maxlength="${MAX_QUERY}"
              autocomplete="off"
              spellcheck="false"
              data-filter="tag-table"
              aria-describedby="tag-count"
            />
            <input type="hidden" name="sort" value="${sort}" /><input
              type="hidden"
              name="order"
              value="${order}"
            />
            <button type="submit">Filter</button>
          </form>
          <p id="tag-count">
            ${rows.length} of ${repo.tags.size}
            tags${complete ? "" : html` <span class="muted">(some creation dates are still being read from storage; reload to see them)</span>`}.
          </p>
          ${
            rows.length === 0
              ? ""
              : html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby="tags-caption">
                  <table id="tag-table">
                    <caption id="tags-caption">
                      Tags of ${repo.name}
                    </caption>
                    <thead>
                      <tr>
                        ${sortLink("tag", "Tag")}
                        <th scope="col">Digest</th>
                        ${sortLink("size", "Size", "num")}${sortLink("created", "Created")}
                        <th scope="col">Platforms</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${rows.map(
                        (r) =>
                          html`<tr data-key="${r.tag}">
                            <td><a href="${urls.tag(repo.name, r.tag)}">${r.tag}</a></td>
                            <td>
                              <a href="${urls.digest(repo.name, r.digest)}"
                                ><code>${shortDigest(r.digest)}</code></a
                              >
                            </td>
                            <td class="num">${formatSize(r.size)}</td>
                            <td>${formatTime(r.created)}</td>
                            <td>
                              ${
                                r.manifest !== undefined && isIndex(r.manifest)
                                  ? html`<span class="muted">${r.platforms.length} platforms:</span> `
                                  : ""
                              }${r.platforms.join(", ")}
                            </td>
                          </tr> `,
                      )}
                    </tbody>
                  </table>
                </div>`
          }`;

  const body = html`<h1>${repo.name}</h1>
    <dl class="facts">
      <dt>Tags</dt>
      <dd>${repo.tags.size > 0 ? repo.tags.size : repo.craneReferences.length}</dd>
      <dt>Updated</dt>
      <dd>${formatTime(repo.updated)}</dd>
    </dl>
    ${pullSection}
    ${
      stats === undefined || stats.length === 0
        ? ""
        : html`<h2>Pulls per day</h2>
            ${pullChart("repo-pulls", stats)}`
    }
    ${table} ${crane}`;
  return page(repo.name, [{ label: "Repositories", url: "/ui/" }, { label: repo.name }], body);
}
