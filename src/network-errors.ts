/**
 * The one place a failed connection becomes words: Node and undici report the system or
 * OpenSSL code (ECONNREFUSED, EPROTO "wrong version number", CERT_HAS_EXPIRED ...) on the
 * error, its `cause` or the errors of an AggregateError; users get what went wrong and what
 * to do instead. Each caller names the endpoint and adds the option that fixes TLS there.
 */
import { UserError } from "./errors.js";

export interface NetworkProblem {
  /** The code found, e.g. ECONNREFUSED or CERT_HAS_EXPIRED. */
  code: string;
  /** What went wrong, in words, ending with the code. */
  problem: string;
  /** What to check or change. */
  hint: string;
  /**
   * A TLS problem, where the caller's own TLS options are the fix: the server speaks no TLS
   * (`not-tls`), or its certificate does not verify (`certificate`).
   */
  tls: false | "not-tls" | "certificate";
}

const PLAIN = new Map<string, [problem: string, hint: string]>(
  Object.entries({
    ECONNREFUSED: [
      "connection refused: nothing listens on that port",
      "Check the host and port, and that the server runs.",
    ],
    ENOTFOUND: ["the host name does not resolve", "Check the host name (and DNS)."],
    EAI_AGAIN: ["the host name could not be resolved now (DNS did not answer)", "Check DNS, then retry."],
    ETIMEDOUT: ["the connection timed out", "Check the host and port, and any firewall or proxy in between."],
    UND_ERR_CONNECT_TIMEOUT: [
      "the connection timed out",
      "Check the host and port, and any firewall or proxy in between.",
    ],
    // S3's name for a request it stopped waiting for.
    RequestTimeout: ["the server stopped waiting for the request", "Check the network, then retry."],
    TimeoutError: ["no answer in time", "Check that the server is up and not overloaded, then retry."],
    ECONNRESET: [
      "the server closed the connection",
      "Retry; if it persists, check that the port speaks the protocol of the URL (http:// or https://) and any proxy.",
    ],
    "socket hang up": [
      "the server closed the connection without an answer",
      "Check that the port speaks the protocol of the URL (http:// or https://), then retry.",
    ],
    EPIPE: ["the server closed the connection while raas was sending", "Retry; check any proxy in between."],
    ECONNABORTED: ["the connection was aborted", "Retry; check any proxy in between."],
    EHOSTUNREACH: ["no route to the host", "Check the address and the network path to it."],
    ENETUNREACH: ["the network is unreachable", "Check the address and the network path to it."],
  } satisfies Record<string, [string, string]>),
);

const NOT_TLS: [problem: string, hint: string] = [
  "the server does not speak TLS on that port (plain HTTP addressed as https?)",
  "Use http:// for a plain HTTP endpoint, or the port where it serves HTTPS.",
];

// Maps, not objects: a code read from an error (say `__proto__`) never finds a prototype member.
const CERTIFICATE = new Map<string, string>(
  Object.entries({
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its TLS certificate is not signed by an authority raas trusts",
    UNABLE_TO_GET_ISSUER_CERT: "its TLS certificate is not signed by an authority raas trusts",
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its TLS certificate is not signed by an authority raas trusts",
    SELF_SIGNED_CERT_IN_CHAIN:
      "its TLS certificate chain ends in a self-signed authority raas does not trust",
    DEPTH_ZERO_SELF_SIGNED_CERT: "its TLS certificate is self-signed",
    CERT_HAS_EXPIRED: "its TLS certificate has expired",
    CERT_NOT_YET_VALID: "its TLS certificate is not valid yet (check the clocks)",
    ERR_TLS_CERT_ALTNAME_INVALID: "its TLS certificate is for another host name",
    CERT_SIGNATURE_FAILURE: "its TLS certificate's signature does not verify",
  }),
);

interface Shape {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** Codes found on the error, its causes and aggregated errors, outermost first (bounded depth). */
function codes(err: unknown, depth = 0, out: string[] = []): string[] {
  if (depth > 5 || typeof err !== "object" || err === null) return out;
  const e = err as Shape;
  for (const candidate of [e.code, e.name]) if (typeof candidate === "string") out.push(candidate);
  if (typeof e.message === "string") {
    if (/wrong version number|packet length too long|http request/i.test(e.message)) out.push("NOT_TLS");
    if (/socket hang up/i.test(e.message)) out.push("socket hang up");
  }
  if (Array.isArray(e.errors)) for (const inner of e.errors.slice(0, 16)) codes(inner, depth + 1, out);
  if (e.cause !== undefined) codes(e.cause, depth + 1, out);
  return out;
}

/** The address a system error names (`127.0.0.1:5000`, a host name), for errors no caller named. */
export function networkAddress(err: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof err !== "object" || err === null) return undefined;
  const e = err as { address?: unknown; port?: unknown; hostname?: unknown } & Shape;
  if (typeof e.address === "string") return typeof e.port === "number" ? `${e.address}:${e.port}` : e.address;
  if (typeof e.hostname === "string") return e.hostname;
  if (Array.isArray(e.errors) && e.errors.length > 0) return networkAddress(e.errors[0], depth + 1);
  return networkAddress(e.cause, depth + 1);
}

/** What a failed connection means, or undefined when `err` is not a network or TLS failure. */
export function networkProblem(err: unknown): NetworkProblem | undefined {
  const found = codes(err);
  // The most specific first: a TLS verdict explains a reset or EPROTO that came with it.
  for (const code of found) {
    const cert = CERTIFICATE.get(code);
    if (cert !== undefined) {
      return {
        code,
        problem: `${cert} (${code})`,
        hint: "Trust the authority that signed it, or use http:// if the endpoint is plain HTTP.",
        tls: "certificate",
      };
    }
  }
  if (found.some((c) => c === "NOT_TLS" || c === "ERR_SSL_WRONG_VERSION_NUMBER")) {
    return { code: "EPROTO", problem: `${NOT_TLS[0]} (EPROTO)`, hint: NOT_TLS[1], tls: "not-tls" };
  }
  for (const code of found) {
    const plain = PLAIN.get(code);
    if (plain !== undefined) return { code, problem: `${plain[0]} (${code})`, hint: plain[1], tls: false };
  }
  return undefined;
}

/** Where an endpoint's TLS is configured: replaces the general hint for that kind of problem. */
export interface TlsHints {
  notTls?: string;
  certificate?: string;
}

/** The hint for `found`, the caller's own TLS options in place of the general advice. */
export function networkHint(found: NetworkProblem, tlsHints: TlsHints = {}): string {
  if (found.tls === "not-tls") return tlsHints.notTls ?? found.hint;
  if (found.tls === "certificate") return tlsHints.certificate ?? found.hint;
  return found.hint;
}

/**
 * A UserError for a failed connection to `endpoint` ("cannot reach <endpoint>: <problem>"), or
 * undefined when `err` is something else.
 */
export function networkError(
  err: unknown,
  endpoint: string,
  options: { tlsHints?: TlsHints; code?: string } = {},
): UserError | undefined {
  const found = networkProblem(err);
  if (found === undefined) return undefined;
  return new UserError(`cannot reach ${endpoint}: ${found.problem}`, {
    hint: networkHint(found, options.tlsHints),
    cause: err,
    code: options.code ?? "UNREACHABLE",
  });
}

/**
 * Why a request failed, for a message that names the endpoint itself: the network problem in
 * words, else the system code on the error's cause, else its message.
 */
export function failureText(error: unknown): string {
  const found = networkProblem(error);
  if (found !== undefined) return found.problem;
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code;
  }
  return error instanceof Error ? error.message : String(error);
}
