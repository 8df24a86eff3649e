// `npm run bench`: runs every benchmark and prints one table. See bench/README.md.
import { benchPush } from "./push.mjs";
import { benchPushVsSkopeo } from "./push-skopeo.mjs";
import { benchRepush } from "./repush.mjs";
import { benchStatus } from "./status.mjs";
import { benchServer } from "./server.mjs";

const results = [
  await benchPush(),
  await benchPushVsSkopeo(),
  await benchRepush(),
  await benchStatus(),
  await benchServer(),
];
for (const result of results) {
  console.log(`\n${result.title}`);
  console.log(`  ${"measure".padEnd(50)} ${"median".padStart(12)}  detail`);
  for (const row of result.rows) console.log(`  ${row[0].padEnd(50)} ${row[1].padStart(12)}  ${row[2]}`);
}
