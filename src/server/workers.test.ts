import { describe, expect, it } from "vitest";
import { UserError } from "../errors.js";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import {
  autoWorkers,
  cgroupCpuLimit,
  cgroupMemoryLimit,
  parseWorkers,
  usableCpus,
  workerCount,
  workerExecArgv,
  WORKER_V8_FLAGS,
} from "./workers.js";

describe("cgroupCpuLimit", () => {
  it("reads cgroup v2 cpu.max inside a container (own group is the root)", async () => {
    const root = await tempDir();
    await writeTree(root, { "cpu.max": "150000 100000\n" });
    expect(await cgroupCpuLimit(root, "0::/\n")).toBe(1.5);
  });

  it("takes the tightest limit on the way from the own group up to the root (v2)", async () => {
    const root = await tempDir();
    await writeTree(root, {
      "cpu.max": "max 100000\n",
      "kubepods/cpu.max": "400000 100000\n",
      "kubepods/pod1/cpu.max": "100000 100000\n",
      "kubepods/pod1/c1/cpu.max": "max 100000\n",
    });
    expect(await cgroupCpuLimit(root, "0::/kubepods/pod1/c1\n")).toBe(1);
  });

  it("reads the CFS quota of cgroup v1 (OpenShift 3 and older nodes)", async () => {
    const root = await tempDir();
    await writeTree(root, {
      "cpu,cpuacct/cpu.cfs_quota_us": "50000\n",
      "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    });
    expect(await cgroupCpuLimit(root, "4:memory:/x\n3:cpu,cpuacct:/\n")).toBe(0.5);
  });

  it("reports no limit for unlimited quotas and missing files", async () => {
    const root = await tempDir();
    await writeTree(root, {
      "cpu.max": "max 100000\n",
      "cpu/cpu.cfs_quota_us": "-1\n",
      "cpu/cpu.cfs_period_us": "100000\n",
    });
    expect(await cgroupCpuLimit(root, "0::/\n1:cpu:/\n")).toBeUndefined();
    expect(await cgroupCpuLimit(await tempDir(), "0::/\n")).toBeUndefined();
    expect(await cgroupCpuLimit(root, "")).toBeUndefined();
  });
});

describe("cgroupMemoryLimit and autoWorkers", () => {
  it("reads memory.max (v2, tightest level) and memory.limit_in_bytes (v1); none when unlimited", async () => {
    const v2 = await tempDir();
    await writeTree(v2, {
      "memory.max": "max\n",
      "kubepods/memory.max": "8589934592\n",
      "kubepods/pod1/memory.max": "268435456\n",
      "kubepods/pod1/c1/memory.max": "max\n",
    });
    expect(await cgroupMemoryLimit(v2, "0::/kubepods/pod1/c1\n")).toBe(256 * 1024 * 1024);
    const v1 = await tempDir();
    await writeTree(v1, { "memory/memory.limit_in_bytes": "536870912\n" });
    expect(await cgroupMemoryLimit(v1, "5:memory:/\n3:cpu,cpuacct:/\n")).toBe(512 * 1024 * 1024);
    const none = await tempDir();
    await writeTree(none, { "memory.max": "max\n", "memory/memory.limit_in_bytes": "9223372036854771712\n" });
    expect(await cgroupMemoryLimit(none, "0::/\n5:memory:/\n")).toBeUndefined();
    expect(await cgroupMemoryLimit(await tempDir(), "0::/\n")).toBeUndefined();
  });

  it("runs no more workers than fit the memory limit: the template's 256 MiB pod on a 32-CPU node runs two", async () => {
    const mib = (n: number) => Promise.resolve(n * 1024 * 1024);
    expect(await autoWorkers(Promise.resolve(32), mib(256))).toBe(2);
    expect(await autoWorkers(Promise.resolve(32), mib(1024))).toBe(10);
    expect(await autoWorkers(Promise.resolve(2), mib(1024))).toBe(2);
    expect(await autoWorkers(Promise.resolve(4), mib(100))).toBe(1);
    expect(await autoWorkers(Promise.resolve(32), Promise.resolve(undefined))).toBe(32);
  });
});

describe("usableCpus", () => {
  it("caps the schedulable CPUs by the quota, rounding up, never below one", async () => {
    expect(await usableCpus(Promise.resolve(undefined), 8)).toBe(8);
    expect(await usableCpus(Promise.resolve(1), 8)).toBe(1);
    expect(await usableCpus(Promise.resolve(1.5), 8)).toBe(2);
    expect(await usableCpus(Promise.resolve(16), 4)).toBe(4);
    expect(await usableCpus(Promise.resolve(0.1), 4)).toBe(1);
  });
});

describe("workers setting", () => {
  it("accepts auto or 1..256 and names the setting otherwise", () => {
    expect(parseWorkers("auto", "x")).toBe("auto");
    expect(parseWorkers(" ", "x")).toBe("auto");
    expect(parseWorkers("4", "x")).toBe(4);
    for (const bad of ["0", "-1", "1.5", "257", "lots", "0x10"]) {
      const err = (() => {
        try {
          parseWorkers(bad, "registry.conf: [raas] workers");
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).message).toContain(`registry.conf: [raas] workers must be "auto"`);
    }
  });

  it("lets RAAS_WORKERS override the file and resolves auto to the usable CPUs", async () => {
    const cpus = () => Promise.resolve(3);
    expect(await workerCount("auto", {}, cpus)).toBe(3);
    expect(await workerCount(2, {}, cpus)).toBe(2);
    expect(await workerCount(2, { RAAS_WORKERS: "auto" }, cpus)).toBe(3);
    expect(await workerCount("auto", { RAAS_WORKERS: "1" }, cpus)).toBe(1);
    await expect(workerCount("auto", { RAAS_WORKERS: "many" }, cpus)).rejects.toThrow(/RAAS_WORKERS must be/);
  });
});

describe("workerExecArgv", () => {
  it("starts workers with the young-generation flags, before the primary's own arguments", () => {
    expect(workerExecArgv(["--enable-source-maps"])).toEqual([...WORKER_V8_FLAGS, "--enable-source-maps"]);
    expect(workerExecArgv([], "")).toEqual([...WORKER_V8_FLAGS]);
  });

  // Node refuses every flag of these families in NODE_OPTIONS except --max-semi-space-size (a
  // process given one does not start), so that is the only one a test gives there.
  it("leaves a family alone when the operator set any flag of it, on the command line or in NODE_OPTIONS", () => {
    expect(workerExecArgv(["--max-semi-space-size=4"])).toEqual([
      "--no-parallel-scavenge",
      "--no-memory-reducer",
      "--max-semi-space-size=4",
    ]);
    expect(workerExecArgv([], "--require x.js --max_semi_space_size=64")).toEqual([
      "--no-parallel-scavenge",
      "--no-memory-reducer",
    ]);
    expect(workerExecArgv(["--parallel-scavenge"])).toEqual([
      "--min-semi-space-size=16",
      "--no-memory-reducer",
      "--parallel-scavenge",
    ]);
    expect(workerExecArgv(["--single-threaded-gc"])).toEqual([
      "--min-semi-space-size=16",
      "--no-memory-reducer",
      "--single-threaded-gc",
    ]);
    expect(workerExecArgv(["--min-semi-space-size=8", "--no-parallel-scavenge"])).toEqual([
      "--no-memory-reducer",
      "--min-semi-space-size=8",
      "--no-parallel-scavenge",
    ]);
    // An operator who wants V8's memory reducer back says so; the primary's own flag is not repeated.
    expect(workerExecArgv(["--memory-reducer"])).toEqual([
      "--min-semi-space-size=16",
      "--no-parallel-scavenge",
      "--memory-reducer",
    ]);
    expect(workerExecArgv(["--no-memory-reducer"])).toEqual([...WORKER_V8_FLAGS]);
  });

  it("does not take a value or a file name for a flag", () => {
    expect(workerExecArgv([], "--title parallel-scavenge")).toEqual([...WORKER_V8_FLAGS]);
  });
});
