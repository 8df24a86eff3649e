/** A small but complete policy used by the decision table and the token-service tests. */
import { hashPassword, hashServiceToken } from "../passwords.js";
import { parsePolicy } from "../policy-file.js";
import type { Policy } from "../policy.js";

/** Cheap scrypt cost for tests only; production uses DEFAULT_SCRYPT. */
export const TEST_SCRYPT = { ln: 10, r: 8, p: 1 };

export const PASSWORDS: Readonly<Record<string, string>> = {
  alice: "alice-secret-1",
  bob: "bob-secret-2",
  carol: "carol-secret-3",
  dave: "dave-secret-4",
  erin: "erin-secret-5",
  rel: "rel-secret-6",
};

export const SERVICE_TOKENS: Readonly<Record<string, string>> = {
  "node-17": "raas_sl_node17-test-token-0123456789abcdefghijklmnopq",
  idle: "raas_sl_idle-test-token-0123456789abcdefghijklmnopqrs",
};

export async function fixtureText(mode: "restricted" | "unrestricted" = "restricted"): Promise<string> {
  const h: Record<string, string> = {};
  for (const [user, pw] of Object.entries(PASSWORDS)) h[user] = await hashPassword(pw, TEST_SCRYPT);
  return `version: 1
registry:
  mode: ${mode}
  anonymousPull: ["public/**", "apps/demo/docs"]
  responsibleGroups: [ops]
  publicationGroups: [customers]
users:
  alice: { id: "1001", password: "${h.alice}", privileges: [puller, pusher] }
  bob: { id: "1002", password: "${h.bob}", privileges: [puller, pusher] }
  carol: { password: "${h.carol}", privileges: [puller] }
  dave: { password: "${h.dave}", privileges: [puller, pusher, manager] }
  erin: { password: "${h.erin}", privileges: [] }
  rel: { password: "${h.rel}", privileges: [puller, pusher] }
groups:
  devs: { id: "7", members: [alice, bob, rel] }
  ops: { members: [dave] }
  customers: { members: [carol] }
  release: { members: [rel] }
apps:
  bigdata: { id: "42", publicationGroups: [customers], responsibleGroups: [devs] }
  demo: { responsibleGroups: [ops] }
services:
  node-17: { app: bigdata, token: "${hashServiceToken(SERVICE_TOKENS["node-17"] as string)}", privileges: [puller] }
  idle: { app: demo, token: "${hashServiceToken(SERVICE_TOKENS.idle as string)}", privileges: [] }
tags:
  - { repository: "apps/bigdata/**", tag: "v*", push: [release], promote: [release] }
  - { repository: "apps/bigdata/**", tag: "latest", push: [devs], promote: [release] }
  - { repository: "groups/devs/**", tag: "prod-*", push: [alice] }
`;
}

export async function fixturePolicy(mode: "restricted" | "unrestricted" = "restricted"): Promise<Policy> {
  return parsePolicy(await fixtureText(mode));
}
