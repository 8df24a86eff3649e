/**
 * Stands in for S3's object ACLs, which s3rver does not enforce (it serves every object to
 * anonymous clients and answers PutObjectAcl with NotImplemented). Put between raas and
 * s3rver, it remembers each object's canned ACL as S3 does (x-amz-acl on PutObject, CopyObject
 * and CreateMultipartUpload, or a later PutObjectAcl, which it answers itself) and refuses an
 * anonymous GET or HEAD of an object that is not public-read with 403 AccessDenied, as S3 does.
 * Authenticated requests (an Authorization header, or a presigned URL's X-Amz-Signature) pass.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface AclProxy {
  endpoint: string;
  /** ACL per "bucket/key", as S3 would hold it. */
  acls: Map<string, string>;
  putAclCalls(): number;
  close(): Promise<void>;
}

export async function startAclProxy(target: string): Promise<AclProxy> {
  const upstream = new URL(target);
  const acls = new Map<string, string>();
  let putAcl = 0;

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const object = decodeURIComponent(url.pathname.slice(1));
    const isObject = object.includes("/") && !object.endsWith("/");
    const signed = req.headers.authorization !== undefined || url.searchParams.has("X-Amz-Signature");
    const acl = (req.headers["x-amz-acl"] as string | undefined) ?? "private";
    if (isObject && signed && req.method === "PUT" && url.searchParams.has("acl")) {
      putAcl++;
      req.resume();
      req.on("end", () => {
        acls.set(object, acl);
        res.writeHead(200, { "Content-Length": "0" }).end();
      });
      return;
    }
    if (isObject && signed && req.method === "PUT" && !url.searchParams.has("uploadId")) {
      acls.set(object, acl);
    }
    if (isObject && signed && req.method === "POST" && url.searchParams.has("uploads")) acls.set(object, acl);
    if (isObject && signed && req.method === "DELETE") acls.delete(object);
    if (
      isObject &&
      !signed &&
      (req.method === "GET" || req.method === "HEAD") &&
      acls.get(object) !== "public-read"
    ) {
      req.resume();
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
      res.writeHead(403, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    forward(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    acls,
    putAclCalls: () => putAcl,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
