import { describe, expect, it } from "vitest";
import type { IsvSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { RecordingReporter } from "../ui/reporter.js";
import { clusterConfig } from "./cluster-config.js";

/** shop's prod as the embedded default sets it up: its registry on loopback. */
const settings = (appUrl: string) =>
  ({ isv: "shop", appUrl, environment: { name: "prod" } }) as unknown as IsvSettings;
const options = { isv: "shop", namespace: "default", servicePort: 5000 };

async function run(appUrl: string, addresses: string[]) {
  const reporter = new RecordingReporter("info");
  const ctx = { cwd: "/", env: {}, reporter };
  const result = await clusterConfig({ ...options, addresses }, ctx, settings(appUrl)).catch(
    (error: unknown) => error,
  );
  return { result, lines: reporter.lines };
}

describe("raas cluster-config on addresses a consuming cluster cannot use", () => {
  it("refuses a registry host that resolves to loopback, naming --address and the app_url to set", async () => {
    const { result } = await run("https://127.0.0.1:5712", []);
    expect(result).toBeInstanceOf(UserError);
    const error = result as UserError;
    expect(error.message).toBe(
      "127.0.0.1, the host of shop's registry https://127.0.0.1:5712, resolves to 127.0.0.1, a loopback address: Kubernetes refuses it in the Endpoints object, and a consuming cluster could not reach the registry there",
    );
    expect(error.hint).toContain("--address <ip>");
    expect(error.hint).toContain("app_url in [shop.prod]");
    expect(error.exitCode).toBe(1);
    const viaName = await run("https://localhost:5712", []);
    expect((viaName.result as UserError).message).toMatch(
      /^localhost, the host of .* resolves to (127\.0\.0\.1|::1)/,
    );
  });

  it("refuses --address in ranges Kubernetes refuses in Endpoints, as a usage error", async () => {
    for (const address of ["127.0.0.1", "::1", "169.254.1.1", "fe80::1", "0.0.0.0", "::ffff:127.0.0.2"]) {
      const { result } = await run("https://registry.example.com", [address]);
      expect(result, address).toBeInstanceOf(UserError);
      expect((result as UserError).message).toMatch(
        new RegExp(
          `^--address ${address.replaceAll(".", "\\.")} is a (loopback|loopback, link-local or unspecified) address: Kubernetes refuses it`,
        ),
      );
      expect((result as UserError).exitCode).toBe(2);
    }
  });

  it("takes --address for a loopback app_url, and warns that the Route's host is loopback", async () => {
    const { result, lines } = await run("https://127.0.0.1:5712", ["10.1.2.3"]);
    expect(result).toMatchObject({ registry: "https://127.0.0.1:5712" });
    expect(lines).toEqual([
      "warn: the Route's host 127.0.0.1 (app_url https://127.0.0.1:5712) is loopback: a consuming cluster's router cannot serve the registry under it; set app_url in [shop.prod] to the registry's host name",
    ]);
    const clean = await run("https://prod-registry.example.com", ["10.1.2.3"]);
    expect(clean.lines).toEqual([]);
  });
});
