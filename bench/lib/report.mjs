// One way to print a benchmark's {title, rows}, for `npm run bench` and each module run alone.

export function printResult(result, { label = 50, value = 12, header = false } = {}) {
  console.log(`\n${result.title}`);
  if (header) console.log(`  ${"measure".padEnd(label)} ${"median".padStart(value)}  detail`);
  for (const row of result.rows) {
    console.log(`  ${row[0].padEnd(label)} ${row[1].padStart(value)}  ${row[2]}`);
  }
}

/** Run `bench` and print it when the module is run directly (`node bench/<name>.mjs`). */
export async function runIfMain(moduleUrl, bench, widths) {
  if (moduleUrl === `file://${process.argv[1]}`) printResult(await bench(), widths);
}
