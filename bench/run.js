// `npm run bench`: runs every benchmark and prints one table. See bench/README.md.
import { printResult } from "./lib/report.mjs";
import { benchPush } from "./push.mjs";
import { benchPushVsSkopeo } from "./push-skopeo.mjs";
import { benchRepush } from "./repush.mjs";
import { benchStatus } from "./status.mjs";
import { benchServer } from "./server.mjs";
import { benchEvents } from "./events.mjs";

const results = [
  await benchPush(),
  await benchPushVsSkopeo(),
  await benchRepush(),
  await benchStatus(),
  await benchServer(),
  await benchEvents(),
];
for (const result of results) printResult(result, { header: true });
