// The floor of `raas status` for bench/status.mjs: list the storage directory once and read
// and parse every metadata file of the app repository clone once. Prints what it saw.
// Usage: node status-floor.mjs <storage dir> <clone dir>
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

const [storage, clone] = process.argv.slice(2);
let objects = 0;
for (const entry of readdirSync(storage, { recursive: true, withFileTypes: true })) {
  if (entry.isFile()) objects += 1;
}
let tags = 0;
const data = path.join(clone, "data");
for (const file of readdirSync(data)) {
  if (!file.endsWith(".json")) continue;
  const meta = JSON.parse(readFileSync(path.join(data, file), "utf8"));
  tags += Object.keys(meta["x-raas"]?.tags ?? {}).length;
}
process.stdout.write(`${objects} objects, ${tags} tags\n`);
