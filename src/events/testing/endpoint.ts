import type { EndpointConfig } from "../config.js";

/**
 * An endpoint named `c` at `url` for delivery tests: a 2 s timeout, back off 200 ms after 2
 * failures in a row, nothing ignored, pull events per 1 s window; `more` overrides any of it.
 */
export const testEndpoint = (url: string, more: Partial<EndpointConfig> = {}): EndpointConfig => ({
  name: "c",
  url,
  headers: {},
  timeoutMs: 2000,
  threshold: 2,
  backoffMs: 200,
  ignoredActions: [],
  ignoredMediaTypes: [],
  maxBacklog: 1000,
  pullEvents: "window",
  pullWindowMs: 1000,
  ...more,
});
