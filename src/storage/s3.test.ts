import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startS3rver, type RunningS3rver } from "../../test/helpers/s3rver.js";
import { freePort } from "../../test/helpers/free-port.js";
import { descriptorsOpenOn } from "../../test/helpers/open-files.js";
import { fileRegionStream } from "../adapters/file-region.js";
import { UserError } from "../errors.js";
import { sha256Digest } from "../image/digest.js";
import { MIB } from "./s3-client.js";
import { S3Store, type S3StoreOptions } from "./s3.js";
import { DigestMismatchError } from "./types.js";

let s3rver: RunningS3rver;
const stores: S3Store[] = [];

beforeAll(async () => {
  s3rver = await startS3rver({ buckets: ["raas"] });
});
afterEach(() => {
  for (const store of stores.splice(0)) void store.close();
});
afterAll(async () => {
  await s3rver.stop();
});

function makeStore(options: Partial<S3StoreOptions> = {}): S3Store {
  const store = new S3Store({
    bucket: "raas",
    endpoint: s3rver.endpoint,
    credentials: s3rver.credentials,
    maxAttempts: 2,
    ...options,
  });
  stores.push(store);
  return store;
}

const CHUNK = 256 * 1024;

/** A deterministic pseudo-random body, produced lazily; `produced` counts bytes handed out. */
function generatedBody(totalBytes: number): { stream: Readable; produced: () => number; digest: string } {
  const hash = createHash("sha256");
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < totalBytes; offset += CHUNK, i += 1) {
    const chunk = createHash("sha512").update(`chunk ${i}`).digest();
    const data = Buffer.alloc(Math.min(CHUNK, totalBytes - offset), chunk);
    hash.update(data);
    chunks.push(data);
  }
  let produced = 0;
  function* generate(): Generator<Buffer> {
    for (const chunk of chunks) {
      produced += chunk.length;
      yield chunk;
    }
  }
  return {
    stream: Readable.from(generate()),
    produced: () => produced,
    digest: `sha256:${hash.digest("hex")}`,
  };
}

/** `size` deterministic pseudo-random bytes. */
function generatedBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, i = 0; offset < size; offset += 64, i += 1) {
    createHash("sha512").update(`block ${i}`).digest().copy(out, offset);
  }
  return out;
}

async function keys(store: S3Store, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of store.list(prefix)) found.push(object.key);
  return found;
}

describe("S3Store multipart upload", () => {
  it("streams ~20 MiB in 5 MiB parts with at most 3 in flight and bounded read-ahead", async () => {
    const lines: string[] = [];
    const store = makeStore({ partSize: 5 * MIB, concurrency: 3, log: (line) => lines.push(line) });
    const body = generatedBody(20 * MIB + 12345);
    let inFlight = 0;
    let maxInFlight = 0;
    const readAhead: number[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== "UploadPartCommand") return next(args);
        const partNumber = (args.input as { PartNumber: number }).PartNumber;
        readAhead.push(body.produced() - partNumber * 5 * MIB);
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          // Slow parts make the bound observable: the reader must wait for a free slot.
          await new Promise((resolve) => setTimeout(resolve, 50));
          return await next(args);
        } finally {
          inFlight -= 1;
        }
      },
      { step: "initialize", name: "testConcurrency" },
    );
    const progress: number[] = [];
    const key = `app/blobs/${body.digest}`;
    const result = await store.put(key, body.stream, {
      digest: body.digest as `sha256:${string}`,
      contentType: "application/octet-stream",
      onProgress: (bytes) => progress.push(bytes),
    });
    expect(result).toEqual({ digest: body.digest, size: 20 * MIB + 12345 });
    expect(maxInFlight).toBe(3);
    // Read-ahead past the part being sent: one part being filled plus what Readable.from buffers
    // (16 chunks); never the whole body.
    expect(Math.max(...readAhead)).toBeLessThanOrEqual(5 * MIB + 17 * CHUNK);
    expect(lines.filter((line) => line.startsWith("S3 UploadPart"))).toHaveLength(5);
    expect(lines.some((line) => /^S3 CompleteMultipartUpload app\/blobs\/\S+ 200 \d+ms$/.test(line))).toBe(
      true,
    );
    expect(progress.at(-1)).toBe(result.size);
    expect(await store.head(key)).toEqual({
      size: result.size,
      contentType: "application/octet-stream",
      lastModified: expect.any(Date),
    });
    expect(sha256Digest(await store.getBuffer(key))).toBe(body.digest);
  });

  it("aborts on a digest mismatch: no object, nothing listed, abort attempted", async () => {
    const lines: string[] = [];
    const store = makeStore({ partSize: 5 * MIB, concurrency: 3, log: (line) => lines.push(line) });
    const body = generatedBody(12 * MIB);
    const wrong = sha256Digest("not the body");
    const error = await store.put("mp/blobs/x", body.stream, { digest: wrong }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect((error as DigestMismatchError).actual).toEqual({ digest: body.digest, size: 12 * MIB });
    expect(await store.head("mp/blobs/x")).toBeUndefined();
    expect(await keys(store, "mp/")).toEqual([]);
    expect(lines.some((line) => line.startsWith("S3 AbortMultipartUpload mp/blobs/x"))).toBe(true);
    expect(lines.some((line) => line.startsWith("S3 CompleteMultipartUpload"))).toBe(false);
    // s3rver cannot abort (405, see test/helpers/s3rver.ts): its parts stay in its private
    // uploads folder, which is never visible as an object.
    expect(await readdir(join(s3rver.directory, "raas"))).not.toContain("mp");
  });

  it("stops sending parts once the body is longer than the promised size", async () => {
    const lines: string[] = [];
    const store = makeStore({ partSize: 5 * MIB, concurrency: 1, log: (line) => lines.push(line) });
    const body = generatedBody(20 * MIB);
    const error = await store.put("mp/long", body.stream, { size: 6 * MIB }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DigestMismatchError);
    expect((error as DigestMismatchError).actual.size).toBe(20 * MIB);
    expect(lines.filter((line) => line.startsWith("S3 UploadPart"))).toHaveLength(1);
    expect(await store.head("mp/long")).toBeUndefined();
  });

  it("aborts and rethrows when the source stream fails mid-upload", async () => {
    const store = makeStore({ partSize: 5 * MIB });
    function* failing(): Generator<Buffer> {
      yield Buffer.alloc(6 * MIB, 1);
      throw new Error("disk read failed");
    }
    await expect(store.put("mp/broken", Readable.from(failing()))).rejects.toThrow("disk read failed");
    expect(await store.head("mp/broken")).toBeUndefined();
  });

  it("sends a body of exactly one part with a single PutObject", async () => {
    const lines: string[] = [];
    const store = makeStore({ partSize: 5 * MIB, log: (line) => lines.push(line) });
    const body = generatedBody(5 * MIB);
    await store.put("one/part", body.stream, { digest: body.digest as `sha256:${string}` });
    expect(lines.filter((line) => line.includes("MultipartUpload"))).toEqual([]);
    expect(lines.some((line) => line.startsWith("S3 PutObject one/part 200"))).toBe(true);
  });
});

describe("S3Store uploads of file regions", () => {
  it("stores archive members and whole files byte for byte and leaves no file open", async () => {
    const dir = await mkdtemp(join(tmpdir(), "raas-s3-region-"));
    try {
      const file = join(dir, "archive");
      const data = Buffer.concat([Buffer.alloc(1000, 7), generatedBytes(12 * MIB)]);
      await writeFile(file, data);
      const onePart = join(dir, "one-part");
      await writeFile(onePart, data.subarray(0, 5 * MIB));
      const store = makeStore({ partSize: 5 * MIB });
      const cases: [string, () => Readable, Buffer][] = [
        // A member of exactly one part (a single PutObject that never asks for the end).
        ["one-part", () => fileRegionStream(file, 1000, 5 * MIB), data.subarray(1000, 1000 + 5 * MIB)],
        [
          "multipart",
          () => fileRegionStream(file, 1000, 11 * MIB + 3),
          data.subarray(1000, 1000 + 11 * MIB + 3),
        ],
        ["whole-file", () => fileRegionStream(file), data],
        // A plain stream of a whole file of exactly one part, read through the stream path.
        ["plain-one-part", () => createReadStream(onePart), data.subarray(0, 5 * MIB)],
      ];
      for (const [name, open, expected] of cases) {
        const digest = sha256Digest(expected);
        const result = await store.put(`region/${name}`, open(), { digest, size: expected.length });
        expect(result).toEqual({ digest, size: expected.length });
        expect((await store.getBuffer(`region/${name}`)).equals(expected)).toBe(true);
        // Give a destroyed stream's own open a moment to finish and close.
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect([name, descriptorsOpenOn(file) + descriptorsOpenOn(onePart)]).toEqual([name, 0]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("S3Store integrity in transit", () => {
  it("signs the SHA-256 of every part and single put, so S3 rejects bytes damaged on the way", async () => {
    const store = makeStore({ partSize: 5 * MIB, concurrency: 2 });
    // What left the client, read after signing (the deserialize step sees the final request).
    const sent: { operation: string; header: string | undefined; actual: string; md5: boolean }[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers: Record<string, string>; body?: unknown };
        if (Buffer.isBuffer(request.body) || request.body instanceof Uint8Array) {
          sent.push({
            operation: context.commandName ?? "",
            header: request.headers["x-amz-content-sha256"],
            actual: createHash("sha256").update(request.body).digest("hex"),
            md5: "content-md5" in request.headers,
          });
        }
        return next(args);
      },
      { step: "deserialize", name: "captureSignedPayload" },
    );
    const big = generatedBody(12 * MIB);
    await store.put("integrity/multi", big.stream, { digest: big.digest as `sha256:${string}` });
    await store.put("integrity/single", Buffer.from("small object"), {});
    const uploads = sent.filter((s) => s.operation === "UploadPartCommand");
    expect(uploads).toHaveLength(3);
    expect(sent.filter((s) => s.operation === "PutObjectCommand")).toHaveLength(1);
    for (const request of sent.filter((s) => /^(UploadPart|PutObject)Command$/.test(s.operation))) {
      expect(request.header).toBe(request.actual);
      expect(request.md5).toBe(false);
    }
  });
});

describe("S3Store errors", () => {
  it("names an unreachable endpoint within seconds", async () => {
    const port = await freePort();
    const store = makeStore({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 2 });
    const started = Date.now();
    const error = await store.put("a/b", Buffer.from("x")).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(
      `cannot reach the S3 endpoint http://127.0.0.1:${port}: connection refused: nothing listens on that port (ECONNREFUSED)`,
    );
    expect((error as UserError).code).toBe("S3_UNREACHABLE");
    await expect(store.head("a/b")).rejects.toThrow(/cannot reach the S3 endpoint/);
  });

  it("explains wrong credentials without echoing them", async () => {
    const secret = "very-secret-value-123";
    const store = makeStore({ credentials: { accessKeyId: "NOT-S3RVER", secretAccessKey: secret } });
    for (const attempt of [() => store.put("a/b", Buffer.from("x")), () => store.head("a/b")]) {
      const error = await attempt().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(UserError);
      const { message, hint, code } = error as UserError;
      expect(code).toBe("S3_ACCESS_DENIED");
      expect(message).toContain("s3://raas/a/b");
      expect(message).toContain(s3rver.endpoint);
      expect(hint).toContain("AWS_ACCESS_KEY_ID");
      expect(`${message} ${hint}`).not.toContain(secret);
    }
  });

  it("points at `raas setup --create` for a missing bucket, and can create it", async () => {
    const store = makeStore({ bucket: "not-there-yet" });
    for (const attempt of [() => store.put("a/b", Buffer.from("x")), () => store.head("a/b")]) {
      const error = await attempt().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).code).toBe("S3_NO_SUCH_BUCKET");
      expect((error as UserError).hint).toContain("raas setup <isv> --create");
    }
    // Given the ISV (as the CLI does), the hint names the command to run.
    const owned = makeStore({ bucket: "not-there-yet", isv: "acme" });
    const named = await owned.head("a/b").catch((err: unknown) => err);
    expect((named as UserError).hint).toContain("raas setup acme --create");
    expect(await store.bucketExists()).toBe(false);
    await store.createBucket();
    await store.createBucket();
    expect(await store.bucketExists()).toBe(true);
    await store.probe();
  });

  it("validates options before any request", () => {
    expect(() => makeStore({ partSize: 1 * MIB })).toThrow(/part size/);
    expect(() => makeStore({ concurrency: 0 })).toThrow(/concurrency/);
    expect(() => makeStore({ bucket: "Bad_Bucket" })).toThrow(/invalid S3 bucket name/);
    expect(() => makeStore({ endpoint: "ftp://example.com" })).toThrow(/only http and https/);
    const withSecret = () => makeStore({ endpoint: "http://user:hunter2@127.0.0.1:9000" });
    expect(withSecret).toThrow(UserError);
    expect(withSecret).not.toThrow(/hunter2/);
  });
});

describe("S3Store URLs", () => {
  it("serves public-read objects at publicUrl() to a plain fetch", async () => {
    const store = makeStore();
    const data = Buffer.from("public blob");
    const key = `app/blobs/${sha256Digest(data)}`;
    await store.put(key, data, { contentType: "application/octet-stream", publicRead: true });
    const url = store.publicUrl(key);
    expect(url).toBe(`${s3rver.endpoint}/raas/${key}`);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true);
  });
});
