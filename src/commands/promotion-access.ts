/**
 * Who may promote into (or demote from) an environment: the `promotions` rules of that
 * environment's access.yaml (docs/auth.md, Promotion rules), checked for the operator's registry
 * login before anything is written.
 *
 * What this is and is not: `raas promote` writes the target's store and app repository with the
 * operator's own credentials, so whoever holds those can write without raas. The check keeps
 * operators within the rules and records the login in the commit; the registry itself refuses
 * direct pushes to `promote_only` environments (docs/push-api.md). It does not replace access
 * control on the app repository and the bucket.
 */
import { CONFIG_LOGIN, describeLogin, readLoginSecret } from "../app/registry-http.js";
import { authenticate } from "../auth/credentials.js";
import { explainEnvironment, type EnvironmentAction } from "../auth/engine.js";
import { parsePolicy, POLICY_FILE } from "../auth/policy-file.js";
import { UserError } from "../errors.js";
import type { EnvironmentSide } from "./promote.js";

export interface PromotionGrant {
  /** The login the rules allowed (recorded as `Promoted-by:` / `Demoted-by:`). */
  login: string;
  /** The deciding rule, e.g. `promotions[0]`. */
  rule: string;
}

/**
 * Undefined when the environment has no promotion rules in force: `[auth] mode` is not `local`
 * (there are no identities to check), or its access.yaml has no `promotions`. Otherwise the
 * operator's login (`[auth] login` and `login_secret_file`, or RAAS_REGISTRY_LOGIN and
 * RAAS_REGISTRY_SECRET_FILE) must be a valid login of that policy the rules allow; else refused.
 */
export async function checkPromotionAccess(
  env: EnvironmentSide,
  action: EnvironmentAction,
  isv: string,
  name: string,
  tag: string,
): Promise<PromotionGrant | undefined> {
  if (env.settings.auth?.mode !== "local") return undefined;
  const file = `${env.name}'s ${POLICY_FILE}`;
  const text = await env.app.read(POLICY_FILE);
  if (text === undefined) return undefined;
  const policy = parsePolicy(text, file);
  if (policy.promotions.length === 0) return undefined;
  const verb = action === "promote" ? `promoted to ${env.name}` : `demoted from ${env.name}`;
  const login = env.settings.auth.login;
  if (login?.name === undefined || login.secretFile === undefined) {
    throw new UserError(
      `${file} says who may ${action} (promotions), and raas does not know who you are; nothing was ${verb}`,
      {
        hint: "Set your registry login: [auth] login and login_secret_file in raas.cfg, or RAAS_REGISTRY_LOGIN and RAAS_REGISTRY_SECRET_FILE.",
        code: "LOGIN_REQUIRED",
      },
    );
  }
  const from = login.from ?? CONFIG_LOGIN;
  const secret = await readLoginSecret(login.secretFile, from.secretFile);
  const authenticated = await authenticate(policy, login.name, secret);
  if (authenticated === undefined) {
    throw new UserError(
      `the login ${login.name.slice(0, 128)} (${describeLogin(from)}) is not a login of ${file}, or its secret does not match; nothing was ${verb}`,
      {
        hint: `Check the name (${from.name}) and the password or token in the file ${from.secretFile} names; \`raas user list ${isv} --env ${env.name}\` lists the users.`,
        code: "LOGIN_REFUSED",
      },
    );
  }
  const decision = explainEnvironment(policy, authenticated.identity, action, env.name, name, tag);
  if (!decision.allow) {
    throw new UserError(
      `${login.name} may not ${action} ${name}:${tag} ${action === "promote" ? "into" : "from"} ${env.name}: ${decision.reason} (${file}, ${decision.rule}); nothing was ${verb}`,
      { hint: `The promotions in ${file} say who may; docs/auth.md, Promotion rules.`, code: "DENIED" },
    );
  }
  return { login: authenticated.identity.name, rule: decision.rule };
}
