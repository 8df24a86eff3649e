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
  /** Write what is gathered now (before exiting). */
  flush(): void;
}

const PIPE_BUF = 4096;

export function lineLog(write: (text: string) => void, extra: LogRecord = {}): LineLog {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    let chunk = "";
    let bytes = 0;
    for (const line of lines) {
      const size = Buffer.byteLength(line);
      if (chunk !== "" && bytes + size > PIPE_BUF) {
        write(chunk);
        chunk = "";
        bytes = 0;
      }
      chunk += line;
      bytes += size;
    }
    if (chunk !== "") write(chunk);
  };
  return {
    flush,
    log(record) {
      pending.push(`${JSON.stringify({ time: new Date().toISOString(), ...record, ...extra })}\n`);
      if (pending.length >= 256) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}
