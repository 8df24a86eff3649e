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

  it("reports two tags renamed onto one with the other problems, and names unknown keys with the key meant", () => {
    const text = [
      "version: 1",
      "upstreams:",
      "  - registry: 'bad host/x'",
      "    tlsverify: false",
      "    defaults: { rename: { '2.0': y, '2.1': y } }",
      "    credentials: { usernameEnv: U, passwordEnv: P, token: T }",
      "    repositories:",
      "      - source: app",
      "        rename: { '1.0': x, '1.1': x, '1.2': z }",
      "        colour: blue",
      "  - repositories: [{ source: other }]",
    ].join("\n");
    let message = "";
    try {
      parseSyncSpec(text, "mirror.yaml");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split("\n")).toEqual([
      "mirror.yaml: not a valid sync specification",
      "  upstreams.0.registry: must be host or host:port",
      '  upstreams.0.credentials.token: unknown key "token" (expected one of usernameEnv, passwordEnv)',
      "  upstreams.0.defaults.rename: tags 2.0 and 2.1 would both be published as y",
      "  upstreams.0.repositories.0.rename: tags 1.0 and 1.1 would both be published as x",
      '  upstreams.0.repositories.0.colour: unknown key "colour" (expected one of source, name, stripPrefix, slash, include, exclude, rename, newTags, approve)',
      '  upstreams.0.tlsverify: unknown key "tlsverify" (did you mean tlsVerify?)',
      '  upstreams.1.registry: missing key "registry"',
    ]);
    // A near miss by one letter, and a swap that is no collision.
    expect(() =>
      parseSyncSpec(
        "version: 1\nupstreams: [{ registry: r.example, repositories: [{ source: a, renam: {} }] }]",
        "m",
      ),
    ).toThrow(/unknown key "renam" \(did you mean rename\?\)/);
    expect(
      parseSyncSpec(
        "version: 1\nupstreams: [{ registry: r.example, repositories: [{ source: a, rename: { a: b, b: a } }] }]",
        "m",
      ).upstreams[0]?.repositories[0]?.tags.rename,
    ).toEqual({ a: "b", b: "a" });
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
