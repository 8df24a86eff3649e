import type { DailyPulls } from "./catalog.js";
import { h, type Html } from "./html.js";

const WIDTH = 600;
const HEIGHT = 140;
const PAD = 20;

/**
 * Pulls per day as an inline SVG bar chart (no script, no external asset), with the numbers in a
 * table beside it for screen readers and for anyone who wants exact values.
 */
export function pullChart(id: string, days: readonly DailyPulls[]): Html {
  const shown = days.slice(-90);
  const count = (d: DailyPulls) => (Number.isFinite(d.pulls) ? Math.max(0, d.pulls) : 0);
  const max = Math.max(1, ...shown.map(count));
  const step = (WIDTH - PAD) / Math.max(shown.length, 1);
  const barWidth = Math.max(1, step * 0.8);
  const total = shown.reduce((sum, d) => sum + count(d), 0);
  const first = shown[0]?.day ?? "";
  const last = shown[shown.length - 1]?.day ?? "";
  const bars = shown.map((d, i) => {
    const pulls = count(d);
    const height = Math.round(((HEIGHT - PAD * 2) * pulls) / max);
    const x = (PAD + i * step).toFixed(1);
    return h`<rect class="bar" x="${x}" y="${HEIGHT - PAD - height}" width="${barWidth.toFixed(1)}" height="${height}"><title>${d.day}: ${pulls} pulls</title></rect>`;
  });
  return h`<figure>
<svg class="chart" role="img" aria-labelledby="${id}-title" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}">
<title id="${id}-title">Pulls per day from ${first} to ${last}: ${total} in total, at most ${max} a day</title>
<line class="axis" x1="${PAD}" y1="${HEIGHT - PAD}" x2="${WIDTH}" y2="${HEIGHT - PAD}"></line>
${bars}
<text x="${PAD}" y="${HEIGHT - 4}">${first}</text>
<text x="${WIDTH}" y="${HEIGHT - 4}" text-anchor="end">${last}</text>
<text x="${PAD}" y="12">${max}</text>
</svg>
<figcaption>
<details><summary>Pulls per day as a table</summary>
<section class="table-wrap" tabindex="0" aria-label="Pulls per day">
<table>
<thead><tr><th scope="col">Day (UTC)</th><th scope="col" class="num">Pulls</th></tr></thead>
<tbody>${shown.map((d) => h`<tr><td>${d.day}</td><td class="num">${count(d)}</td></tr>`)}</tbody>
</table>
</section>
</details>
</figcaption>
</figure>`;
}
