import { describe, expect, it } from "vitest";
import { mergeMetrics, Metrics, renderMetrics, routeOf } from "./metrics.js";

describe("routeOf", () => {
  it("labels each route by the second-to-last segment, without decoding", () => {
    expect(routeOf("/v2/")).toBe("v2_base");
    expect(routeOf("/v2/_catalog")).toBe("v2_catalog");
    expect(routeOf("/v2/acme/app/manifests/latest")).toBe("v2_manifest");
    expect(routeOf("/v2/app/blobs/sha256:00")).toBe("v2_blob");
    expect(routeOf("/v2/acme/app/tags/list")).toBe("v2_tags");
    // A segment that only starts or ends with a kind's name is not that kind.
    expect(routeOf("/v2/acme/app/manifestsx/latest")).toBe("other");
    expect(routeOf("/v2/acme/app/xblobs/sha256:00")).toBe("other");
    expect(routeOf("/v2/acme/tag/latest")).toBe("other");
    expect(routeOf("/v2/manifests")).toBe("other");
    expect(routeOf("/v2/x/manifests/")).toBe("v2_manifest");
    expect(routeOf("/v1/search")).toBe("v1_search");
    expect(routeOf("/v1/_ping")).toBe("v1");
    expect(routeOf("/crane/repositories")).toBe("crane_admin");
    expect(routeOf("/readyz")).toBe("health");
    expect(routeOf("/metrics")).toBe("metrics");
    expect(routeOf("/")).toBe("other");
  });
});

describe("Metrics", () => {
  it("counts answers by route and status, latency in its first matching bucket, pulls by repository and reference", () => {
    const m = new Metrics();
    m.observe("v2_manifest", 200, 0.0005); // exactly on a bound: that bucket
    m.observe("v2_manifest", 200, 0.003);
    m.observe("v2_manifest", 404, 0.02);
    m.observe("v2_blob", 307, 11); // above the last bound: only +Inf
    m.pull("acme/app", "latest");
    m.pull("acme/app", "latest");
    m.pull("acme/app", "v1");
    m.pull("other", "latest");
    const text = m.render();
    const value = (series: string) => Number(new RegExp(`^${escape(series)} (\\S+)$`, "m").exec(text)?.[1]);
    expect(value('raas_registry_requests_total{route="v2_manifest",status="200"}')).toBe(2);
    expect(value('raas_registry_requests_total{route="v2_manifest",status="404"}')).toBe(1);
    expect(value('raas_registry_requests_total{route="v2_blob",status="307"}')).toBe(1);
    const bucket = (route: string, le: string) =>
      value(`raas_registry_request_duration_seconds_bucket{route="${route}",le="${le}"}`);
    expect(bucket("v2_manifest", "0.0005")).toBe(1);
    expect(bucket("v2_manifest", "0.001")).toBe(1);
    expect(bucket("v2_manifest", "0.0025")).toBe(1);
    expect(bucket("v2_manifest", "0.005")).toBe(2);
    expect(bucket("v2_manifest", "0.025")).toBe(3);
    expect(bucket("v2_manifest", "+Inf")).toBe(3);
    expect(bucket("v2_blob", "10")).toBe(0);
    expect(bucket("v2_blob", "+Inf")).toBe(1);
    expect(value('raas_registry_request_duration_seconds_sum{route="v2_manifest"}')).toBeCloseTo(0.0235, 10);
    expect(value('raas_registry_manifest_pulls_total{repository="acme/app",reference="latest"}')).toBe(2);
    expect(value('raas_registry_manifest_pulls_total{repository="acme/app",reference="v1"}')).toBe(1);
    expect(value('raas_registry_manifest_pulls_total{repository="other",reference="latest"}')).toBe(1);
  });

  it("adds up the counters of several workers", () => {
    const a = new Metrics();
    const b = new Metrics();
    a.observe("v2_manifest", 200, 0.001);
    b.observe("v2_manifest", 200, 0.001);
    b.observe("v2_manifest", 304, 0.001);
    a.pull("acme/app", "latest");
    b.pull("acme/app", "latest");
    const text = renderMetrics(mergeMetrics([a.data(), b.data()]));
    expect(text).toContain('raas_registry_requests_total{route="v2_manifest",status="200"} 2\n');
    expect(text).toContain('raas_registry_requests_total{route="v2_manifest",status="304"} 1\n');
    expect(text).toContain('raas_registry_request_duration_seconds_count{route="v2_manifest"} 3\n');
    expect(text).toContain(
      'raas_registry_manifest_pulls_total{repository="acme/app",reference="latest"} 2\n',
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
