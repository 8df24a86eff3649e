import type { AccessRecord } from "./app.js";
import type { LogRecord } from "./start.js";

/**
 * A writer of JSON log lines, one per record, gathered and written once per event-loop turn:
 * under load that is one write for dozens of requests instead of one synchronous write each,
 * and the order is kept. Each write is at most PIPE_BUF (4096) bytes and ends at a line end:
 * the workers of a cluster share one stdout, and writes of that size to a pipe are atomic, so
 * their lines never interleave mid-line.
 */
export interface LineLog {
  log(record: LogRecord): void;
  /** The access-log line of one request: the same text as `log`, built without JSON.stringify of an object. */
  request(record: AccessRecord): void;
  /** Write what is gathered now (before exiting). */
  flush(): void;
}

const PIPE_BUF = 4096;
const NEWLINE = 0x0a;

let isoMs = -1;
let isoText = "";
/** The time as an ISO string, computed once per millisecond (a busy server logs many per ms). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

const num = (n: number) => (Number.isFinite(n) ? String(n) : "null");

/**
 * `JSON.stringify({ time, ...record, ...extra })` for an access record, field by field: strings
 * that come from the request go through JSON.stringify (so escaping is the same), numbers are
 * written as JSON writes them. `extraJson` is the serialized extra fields with a leading comma.
 * The runs of text between the per-request values (after the method; after the route and
 * status; the client address and the extra fields) repeat from request to request and are
 * remembered, so a line is joined from nine pieces instead of twenty, and builds no lookup key.
 */
export function requestLine(time: string, r: AccessRecord, extraJson: string): string {
  let afterMethod = methodRuns.get(r.method);
  if (afterMethod === undefined) {
    afterMethod = `","event":"request","method":${quote(r.method)},"path":`;
    remember(methodRuns, r.method, afterMethod);
  }
  let byStatus = statusRuns.get(r.route);
  if (byStatus === undefined) {
    byStatus = new Map();
    remember(statusRuns, r.route, byStatus);
  }
  let afterStatus = byStatus.get(r.status);
  if (afterStatus === undefined) {
    afterStatus = `,"route":${quote(r.route)},"status":${num(r.status)},"ms":`;
    remember(byStatus, r.status, afterStatus);
  }
  let byRemote = remoteRuns.get(extraJson);
  if (byRemote === undefined) {
    byRemote = new Map();
    remember(remoteRuns, extraJson, byRemote);
  }
  let end = byRemote.get(r.remote);
  if (end === undefined) {
    end = `,"remote":${quote(r.remote)}${extraJson}}\n`;
    remember(byRemote, r.remote, end);
  }
  return `{"time":"${time}${afterMethod}${JSON.stringify(r.path)}${afterStatus}${num(r.ms)},"bytes":${num(r.bytes)}${end}`;
}

/** At most this many entries per remembered map; values beyond are built afresh each time. */
const REMEMBERED_MAX = 1024;
const quoted = new Map<string, string>();
const methodRuns = new Map<string, string>();
const statusRuns = new Map<string, Map<number, string>>();
const remoteRuns = new Map<string, Map<string, string>>();

function remember<K, V>(cache: Map<K, V>, key: K, value: V): void {
  if (cache.size < REMEMBERED_MAX) cache.set(key, value);
}

/**
 * JSON.stringify of a value that repeats from request to request (the method, the route label,
 * the client's address), remembered.
 */
function quote(value: string): string {
  let text = quoted.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    remember(quoted, value, text);
  }
  return text;
}

export function lineLog(write: (chunk: string | Uint8Array) => void, extra: LogRecord = {}): LineLog {
  let pending: string[] = [];
  let scheduled = false;
  const extraJson = JSON.stringify(extra).slice(1, -1);
  const extraSuffix = extraJson === "" ? "" : `,${extraJson}`;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    // One string, one encoding; the writes are cut from its bytes at line ends (no line is
    // measured on its own).
    const bytes = Buffer.from(pending.join(""));
    pending = [];
    for (let start = 0; start < bytes.length;) {
      let end = bytes.length;
      if (end - start > PIPE_BUF) {
        end = bytes.lastIndexOf(NEWLINE, start + PIPE_BUF - 1) + 1;
        // A single line longer than PIPE_BUF is written alone.
        if (end <= start) end = bytes.indexOf(NEWLINE, start + PIPE_BUF) + 1 || bytes.length;
      }
      write(bytes.subarray(start, end));
      start = end;
    }
  };
  const push = (line: string) => {
    pending.push(line);
    if (pending.length >= 256) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return {
    flush,
    log: (record) => push(`${JSON.stringify({ time: isoNow(), ...record, ...extra })}\n`),
    request: (record) => push(requestLine(isoNow(), record, extraSuffix)),
  };
}
