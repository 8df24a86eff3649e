import { Readable } from "node:stream";
import { BodyStalledError, bodyChunks, textCapped } from "../adapters/http-body.js";
import { UserError } from "../errors.js";
import { tooDeep } from "../image/json-depth.js";
import { isJsonObject } from "../image/records.js";
import { describeGzip, InflateLimitError, type LayerDescriptor } from "../image/v1-layer.js";

const HEADERS_TIMEOUT_MS = 30_000;
/** A vendor body that sends nothing for this long is given up on (a stalled or trickling peer). */
const STALL_TIMEOUT_MS = 60_000;
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
 * gunzipped on the fly, and nothing is stored. Bytes that are not gzip are refused, and so is a
 * layer that inflates past `maxInflated` (`[raas] max_inflated_layer`, the bound on converting a
 * v1 layer) or stalls: a vendor location is not trusted to be finite or alive.
 */
export async function fetchLayerDescriptor(
  url: string,
  { maxInflated, stallMs = STALL_TIMEOUT_MS }: { maxInflated: number; stallMs?: number },
): Promise<LayerDescriptor> {
  const res = await get(url, "layer");
  const body = Readable.from(bodyChunks(res, { stallMs }), { objectMode: false });
  try {
    return await describeGzip(body, maxInflated);
  } catch (err) {
    body.destroy();
    if (err instanceof BodyStalledError) {
      throw new UserError(`vendor layer ${url} sent nothing for ${err.ms / 1000} s`, {
        hint: "Check that the vendor location is alive; raas gives up on a body that stalls.",
      });
    }
    if (err instanceof InflateLimitError) {
      throw new UserError(
        `vendor layer ${url} inflates to more than ${maxInflated} bytes, the limit for describing a vendor layer`,
        {
          hint: "If the layer is genuine, raise [raas] max_inflated_layer in raas.cfg (e.g. max_inflated_layer = 128GiB).",
        },
      );
    }
    throw new UserError(`vendor layer ${url} is not a readable gzip layer: ${message(err)}`);
  }
}

/** The vendor image's v1 `json`, for the history entry of the converted image. */
export async function fetchImageJson(
  url: string,
  { stallMs = STALL_TIMEOUT_MS }: { stallMs?: number } = {},
): Promise<Record<string, unknown>> {
  const res = await get(url, "image json");
  let text: string;
  try {
    text = await textCapped(res, JSON_LIMIT, { stallMs });
  } catch (err) {
    throw new UserError(`vendor image json ${url}: ${(err as Error).message}`);
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
