import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { UserError } from "../errors.js";
import { tooDeep } from "../image/json-depth.js";
import { isJsonObject } from "../image/records.js";
import { describeGzip, type LayerDescriptor } from "../image/v1-layer.js";

const HEADERS_TIMEOUT_MS = 30_000;
const JSON_LIMIT = 1024 * 1024;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function get(url: string, what: string): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), HEADERS_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", signal: controller.signal });
  } catch (err) {
    throw new UserError(`cannot fetch vendor ${what} ${url}: ${message(err)}`, {
      hint: "Check the url of the vendor metadata file and that the vendor location is reachable.",
    });
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 200 || res.body === null) {
    await res.body?.cancel();
    throw new UserError(`vendor ${what} ${url} answered HTTP ${res.status}`, {
      hint: "The vendor metadata lists a layer its location does not serve; check the vendor metadata files.",
    });
  }
  return res;
}

/**
 * Learns a vendor layer's v2 descriptor by streaming it once: the gzip bytes are hashed and
 * gunzipped on the fly, and nothing is stored. Bytes that are not gzip are refused.
 */
export async function fetchLayerDescriptor(url: string): Promise<LayerDescriptor> {
  const res = await get(url, "layer");
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  try {
    return await describeGzip(body);
  } catch (err) {
    body.destroy();
    throw new UserError(`vendor layer ${url} is not a readable gzip layer: ${message(err)}`);
  }
}

/** The vendor image's v1 `json`, for the history entry of the converted image. */
export async function fetchImageJson(url: string): Promise<Record<string, unknown>> {
  const res = await get(url, "image json");
  const text = await res.text();
  if (text.length > JSON_LIMIT) {
    throw new UserError(`vendor image json ${url} is larger than ${JSON_LIMIT} bytes`);
  }
  const deep = tooDeep(text);
  if (deep !== undefined) throw new UserError(`vendor image json ${url} ${deep}`);
  try {
    const value: unknown = JSON.parse(text);
    if (isJsonObject(value)) return value;
  } catch {
    // reported below
  }
  throw new UserError(`vendor image json ${url} is not a JSON object`);
}
