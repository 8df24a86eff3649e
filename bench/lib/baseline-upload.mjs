// The baseline: a plain parallel multipart upload of the same blob files to the same endpoint
// with the AWS SDK's own managed uploader, no verification, no metadata. Prints seconds.
// Usage: node baseline-upload.mjs <endpoint> <bucket> <prefix> <blobsDir> <partMiB> <parts in flight> <blobs in flight>
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createReadStream, readdirSync, statSync } from "node:fs";
import path from "node:path";

const [endpoint, bucket, prefix, blobsDir, partMiB, queueSize, blobsInFlight] = process.argv.slice(2);
const client = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
});
const files = readdirSync(blobsDir).filter((f) => /^[a-f0-9]{64}$/.test(f));
const started = process.hrtime.bigint();
let next = 0;
let bytes = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    bytes += statSync(path.join(blobsDir, file)).size;
    await new Upload({
      client,
      params: {
        Bucket: bucket,
        Key: `${prefix}/blobs/sha256:${file}`,
        Body: createReadStream(path.join(blobsDir, file)),
      },
      partSize: Number(partMiB) * 1024 * 1024,
      queueSize: Number(queueSize),
    }).done();
  }
}
await Promise.all(Array.from({ length: Number(blobsInFlight) }, worker));
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(JSON.stringify({ seconds, bytes }) + "\n");
