// Event-loop probe for bench/server-tail.mjs, loaded into every process of a server under test
// with NODE_OPTIONS="--import <this file's URL>" (a cluster's workers inherit it). Inactive
// unless RAAS_PROBE_DIR is set. It keeps an event-loop delay histogram (perf_hooks: a 1 ms
// timer kept in C++) and the event-loop utilization; on SIGUSR2 it writes what it saw since the
// previous SIGUSR2 to <RAAS_PROBE_DIR>/<pid>.json and starts again. The bench sends one SIGUSR2
// before a measurement (discarded) and one after it.
import cluster from "node:cluster";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";

const dir = process.env.RAAS_PROBE_DIR;
if (dir !== undefined && dir !== "") {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let elu = performance.eventLoopUtilization();
  let seq = 0;
  const ms = (ns) => ns / 1e6;
  process.on("SIGUSR2", () => {
    const now = performance.eventLoopUtilization();
    const report = {
      pid: process.pid,
      worker: cluster.isWorker,
      seq: seq++,
      delay: {
        count: histogram.count,
        mean: ms(histogram.mean),
        p50: ms(histogram.percentile(50)),
        p90: ms(histogram.percentile(90)),
        p99: ms(histogram.percentile(99)),
        p999: ms(histogram.percentile(99.9)),
        max: ms(histogram.max),
      },
      utilization: performance.eventLoopUtilization(now, elu).utilization,
    };
    writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(report));
    histogram.reset();
    elu = now;
  });
}
