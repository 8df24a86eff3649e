import { describe, expect, it } from "vitest";
import { parseSyncSpec } from "./spec.js";

describe("sync specification", () => {
  it("reads upstreams, name rules and tag rules with defaults", () => {
    const spec = parseSyncSpec(
      [
        "version: 1",
        "upstreams:",
        "  - registry: Quay.example.com:8443",
        "    caFile: ca.pem",
        "    credentials: { usernameEnv: QUAY_USER, passwordEnv: QUAY_PASSWORD }",
        "    defaults: { newTags: manual, exclude: ['*-rc*'] }",
        "    repositories:",
        "      - source: examplecorp-docker_io-thomasmckay_hammer",
        "        stripPrefix: 'examplecorp-*-'",
        "        slash: _",
        "        rename: { 13-test: latest-test }",
        "        approve: [13-test]",
      ].join("\n"),
      "mirror.yaml",
    );
    expect(spec.upstreams[0]).toEqual({
      registry: "quay.example.com:8443",
      source: { caFile: "ca.pem", credentialVars: { username: "QUAY_USER", password: "QUAY_PASSWORD" } },
      repositories: [
        {
          source: "examplecorp-docker_io-thomasmckay_hammer",
          name: { stripPrefix: "examplecorp-*-", slash: "_" },
          tags: {
            include: ["*"],
            exclude: ["*-rc*"],
            rename: { "13-test": "latest-test" },
            newTags: "manual",
            approve: ["13-test"],
          },
        },
      ],
    });
  });

  it("reports every problem by path, and unknown keys", () => {
    const text = [
      "version: 1",
      "upstreams:",
      "  - registry: 'bad host/x'",
      "    repositories:",
      "      - source: ../etc",
      "        rename: { ok: 'not a tag' }",
      "        colour: blue",
    ].join("\n");
    let message = "";
    try {
      parseSyncSpec(text, "mirror.yaml");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^mirror.yaml: not a valid sync specification/);
    expect(message).toMatch(/upstreams\.0\.registry: must be host or host:port/);
    expect(message).toMatch(/upstreams\.0\.repositories\.0\.source: must be a valid repository name/);
    expect(message).toMatch(/colour/);
  });

  it("refuses YAML that is not YAML and alias bombs", () => {
    expect(() => parseSyncSpec("version: [1", "m.yaml")).toThrow(/m.yaml: not valid YAML/);
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x, x]",
      ...Array.from({ length: 9 }, (_, i) => {
        const prev = i === 0 ? "a" : `l${i - 1}`;
        return `l${i}: &l${i} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
      }),
    ].join("\n");
    expect(() => parseSyncSpec(bomb, "m.yaml")).toThrow(/m.yaml: not valid YAML/);
  });
});
