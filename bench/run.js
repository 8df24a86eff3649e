// `npm run bench`: runs every benchmark and prints one table. See bench/README.md.
import { printResult } from "./lib/report.mjs";
import { benchPush } from "./push.mjs";
import { benchPushVsSkopeo } from "./push-skopeo.mjs";
import { benchRepush } from "./repush.mjs";
import { benchStatus } from "./status.mjs";
import { benchServer } from "./server.mjs";
import { benchWeb } from "./web.mjs";
import { benchGc } from "./gc.mjs";
import { benchSync } from "./sync.mjs";
import { benchEvents } from "./events.mjs";
import { benchPromote } from "./promote.mjs";

const results = [
  await benchPush(),
  await benchPushVsSkopeo(),
  await benchRepush(),
  await benchStatus(),
  await benchServer(),
  await benchWeb(),
  await benchGc(),
  await benchSync(),
  await benchEvents(),
  await benchPromote(),
];
for (const result of results) printResult(result, { header: true });
