// Assets: uploads streamed into R2 with their type sniffed from the bytes (never the
// Content-Type), size limits checked before and while reading, public images served with long
// cache headers, private files never public, idempotent uploads, and deletes only by the owner
// — each through the developer's console (platform) and the secret key (api).

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { createProject, signIn } from "./support/developer.mjs";
import { checkResponse } from "./support/contract.mjs";
import { testStack } from "./support/stack.mjs";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==", "base64");
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from("JFIF\0fake-jpeg-body")]);
const WEBP = Buffer.concat([Buffer.from("RIFF"), Buffer.from([0x24, 0, 0, 0]), Buffer.from("WEBPVP8 fake-webp-body")]);
const GIF = Buffer.from("GIF89a\x01\x00\x01\x00\x80\x00\x00fake-gif-body", "latin1");
const HTML = Buffer.from("<!doctype html><script>alert(document.cookie)</script>");
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>');
const PDF = Buffer.from("%PDF-1.7\n% a private guide\n".repeat(40));

let stack;
let dev;
let other;
let app;
let rival;

before(async () => {
  stack = await testStack();
  dev = await signIn(stack, "dev_assets");
  other = await signIn(stack, "dev_assets_other");
  app = await createProject(dev, { name: "Shop", type: "store" });
  rival = await createProject(other, { name: "Rival", type: "store" });
});
after(() => stack?.stop());

/**
 * A raw upload (the body is bytes, so the JSON helper does not fit); the answer is still
 * checked against the contract.
 */
async function upload(path, body, { worker = "platform", headers = {}, query = {} } = {}) {
  const qs = new URLSearchParams({ filename: "file.bin", visibility: "public", ...query });
  const res = await fetch(`${stack.urls[worker]}${path}?${qs}`, { method: "POST", headers, body, duplex: "half" });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  checkResponse({ worker, method: "POST", path, status: res.status, headers: res.headers, body: json, text });
  return { status: res.status, headers: res.headers, body: json };
}
/**
 * A POST over a bare socket: sends `body` whatever `contentLength` declares, and reads the
 * first answer however the upload went (a server may answer before taking the whole body
 * and close, which breaks the rest of the write; fetch can lose such an answer). The
 * answer is checked against the contract; `status` is null when none came.
 */
function rawHttp(worker, path, { headers = {}, contentLength, body, halfClose = false, holdBody = false }) {
  const { hostname, port } = new URL(stack.urls[worker]);
  return new Promise((done) => {
    const socket = connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const [head, ...rest] = received.toString("latin1").split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]) || null;
      const fields = new Headers(head.split("\r\n").slice(1).map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]));
      // Only the first answer: bytes sent past the declared length may draw a second.
      const text = Buffer.from(rest.join("\r\n\r\n"), "latin1").subarray(0, Number(fields.get("content-length") ?? 0)).toString();
      if (status) checkResponse({ worker, method: "POST", path: path.split("?")[0], status, headers: fields, body: JSON.parse(text), text });
      done({ status, text });
    };
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      const [head, ...rest] = received.toString("latin1").split("\r\n\r\n");
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? -1);
      if (rest.length && length >= 0 && Buffer.byteLength(rest.join("\r\n\r\n"), "latin1") >= length) finish();
    });
    socket.on("error", () => {});
    socket.on("close", finish);
    const lines = Object.entries({ Host: hostname, ...headers, "Content-Length": contentLength }).map(([k, v]) => `${k}: ${v}`);
    socket.write(`POST ${path} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`);
    const send = () => {
      if (settled) return;
      socket.write(body, () => {});
      if (halfClose) socket.end();
    };
    // `holdBody`: the body follows only if no answer came within 2 s of the headers.
    if (holdBody) setTimeout(send, 2_000);
    else send();
    setTimeout(finish, 10_000);
  });
}
const asDeveloper = (developer = dev) => ({ Authorization: `Bearer ${developer.token}` });
const consoleUpload = (body, options = {}) =>
  upload(`/v1/projects/${app.project.id}/assets`, body, { ...options, headers: { ...asDeveloper(), ...(options.headers ?? {}) } });
const keyUpload = (body, options = {}) =>
  upload("/api/assets", body, { ...options, worker: "api", headers: { Authorization: `Bearer ${app.secretKey}`, ...(options.headers ?? {}) } });

/** What storage holds for the project: live asset rows and R2 objects under both prefixes. */
async function stored(projectId = app.project.id) {
  const { n } = await (await stack.d1()).prepare("SELECT COUNT(*) AS n FROM assets WHERE project_id = ?1 AND deleted_at IS NULL").bind(projectId).first();
  const bucket = await stack.r2();
  const objects = [];
  for (const prefix of ["public", "private"]) objects.push(...(await bucket.list({ prefix: `${prefix}/${projectId}/` })).objects.map((o) => o.key));
  return { rows: n, objects: objects.sort() };
}
const row = async (id) => (await stack.d1()).prepare("SELECT * FROM assets WHERE id = ?1").bind(id).first();

describe("uploads", () => {
  test("png, jpeg, webp and gif are stored as the type their bytes show, whatever Content-Type claims", async () => {
    const cases = [
      [PNG, "text/plain", "image/png"],
      [JPEG, "application/octet-stream", "image/jpeg"],
      [WEBP, "image/png", "image/webp"],
      [GIF, "image/jpeg", "image/gif"],
    ];
    for (const [bytes, claimed, expected] of cases) {
      const res = await consoleUpload(bytes, { headers: { "Content-Type": claimed }, query: { filename: `x.${expected.slice(6)}` } });

      assert.equal(res.status, 201, JSON.stringify(res.body));
      const asset = res.body.data;
      assert.equal(asset.contentType, expected);
      assert.equal(asset.size, bytes.length);
      assert.equal(asset.sha256, (await import("node:crypto")).createHash("sha256").update(bytes).digest("hex"));
      assert.equal(asset.visibility, "public");
      const key = (await row(asset.id)).r2_key;
      assert.match(key, new RegExp(`^public/${app.project.id}/[0-9A-Za-z]{22}$`));
      assert.equal(asset.url, `${stack.urls.api}/assets/${key}`);
    }
  });

  test("html and svg are refused as public assets even when labelled image/png, and nothing is stored", async () => {
    const before = await stored();
    for (const bytes of [HTML, SVG, PDF]) {
      const res = await consoleUpload(bytes, { headers: { "Content-Type": "image/png" } });

      assert.equal(res.status, 415);
      assert.equal(res.body.code, "unsupported_file_type");
    }
    assert.deepEqual(await stored(), before);
  });

  test("a private file may be any type: recognised ones keep their type, others are octet streams, and it has no public URL", async () => {
    const pdf = await keyUpload(PDF, { query: { filename: "guide.pdf", visibility: "private" } });
    const html = await keyUpload(HTML, { query: { filename: "page.html", visibility: "private" } });

    assert.equal(pdf.status, 201, JSON.stringify(pdf.body));
    assert.deepEqual([pdf.body.data.contentType, pdf.body.data.visibility, pdf.body.data.url], ["application/pdf", "private", null]);
    assert.equal(html.body.data.contentType, "application/octet-stream");
    assert.match((await row(pdf.body.data.id)).r2_key, new RegExp(`^private/${app.project.id}/[0-9A-Za-z]{22}$`));
  });

  test("a body over the limit is refused from its Content-Length before it is read, and nothing is stored", async () => {
    const before = await stored();
    const six = Buffer.concat([PNG, Buffer.alloc(6_000_000 - PNG.length)]);

    // The headers go first and the body only if no answer came: the refusal must arrive
    // before a byte of the body was even sent. (Sending it at once races the server's close,
    // which can reset the connection before the client reads the answer.)
    const publicImage = await rawHttp("platform", `/v1/projects/${app.project.id}/assets?filename=big.png&visibility=public`, { headers: asDeveloper(), contentLength: six.length, body: six, holdBody: true });
    const privateFile = await rawHttp("api", "/api/assets?filename=big.bin&visibility=private", { headers: { Authorization: `Bearer ${app.secretKey}` }, contentLength: six.length, body: six, holdBody: true });

    for (const res of [publicImage, privateFile]) {
      assert.equal(res.status, 413, res.text);
      assert.equal(JSON.parse(res.text).code, "payload_too_large");
      assert.match(JSON.parse(res.text).error, /5242880 bytes/);
    }
    assert.deepEqual(await stored(), before);
  });

  test("a Content-Length that lies cannot carry more than it declared, nor store a short file", async () => {
    const before = await stored();
    const path = `/v1/projects/${app.project.id}/assets?filename=lying.png&visibility=public`;
    const declared = Buffer.concat([PNG, Buffer.alloc(100 - PNG.length)]);

    // Declares 100 bytes and sends 6 MB: the upload is the declared 100 bytes, no more.
    const longer = await rawHttp("platform", path, { headers: asDeveloper(), contentLength: 100, body: Buffer.concat([declared, Buffer.alloc(6_000_000, 7)]) });
    // Declares 200 bytes, sends 100 and stops: the write fails and nothing is stored.
    const shorter = await rawHttp("platform", path, { headers: asDeveloper(), contentLength: 200, body: declared, halfClose: true });

    assert.equal(longer.status, 201, longer.text);
    assert.equal(JSON.parse(longer.text).data.size, 100);
    assert.notEqual(shorter.status, 201, shorter.text);
    const after = await stored();
    assert.equal(after.rows, before.rows + 1, "only the declared 100 bytes were stored");
    assert.equal(after.objects.length, before.objects.length + 1);
  });

  test("an upload without Content-Length (chunked) is refused with 411, and an empty one with 400", async () => {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(PNG));
        controller.close();
      },
    });
    const chunked = await consoleUpload(body);
    const empty = await consoleUpload(Buffer.alloc(0));

    assert.equal(chunked.status, 411);
    assert.equal(chunked.body.code, "length_required");
    assert.equal(empty.status, 400);
    assert.equal(empty.body.code, "invalid_upload");
  });

  test("the file name and visibility are required and checked, before the body is read", async () => {
    const cases = [
      [{ visibility: "" }, "visibility"],
      [{ visibility: "secret" }, "visibility"],
      [{ filename: "" }, "filename"],
      [{ filename: "../../etc/passwd" }, "filename"],
      [{ filename: 'a"b.png' }, "filename"],
    ];
    for (const [query, field] of cases) {
      const res = await consoleUpload(PNG, { query });

      assert.equal(res.status, 422, JSON.stringify(query));
      assert.ok(res.body.fieldErrors[field], JSON.stringify(res.body));
    }
  });

  test("an Idempotency-Key replays the same upload once, and refuses another file under the same key", async () => {
    const before = await stored();
    const key = { "Idempotency-Key": `logo-${Date.now()}` };

    const first = await consoleUpload(PNG, { headers: key, query: { filename: "logo.png" } });
    const again = await consoleUpload(PNG, { headers: key, query: { filename: "logo.png" } });
    const otherFile = await consoleUpload(GIF, { headers: key, query: { filename: "logo.png" } });

    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    assert.deepEqual(again.body, first.body);
    assert.equal(otherFile.status, 422);
    assert.equal(otherFile.body.code, "idempotency_key_reused");
    const after = await stored();
    assert.equal(after.rows, before.rows + 1);
    assert.equal(after.objects.length, before.objects.length + 1, "the replay and the refusal left no object behind");
  });

  test("every upload is audited, under the developer or under the secret key's id", async () => {
    const byDeveloper = await consoleUpload(PNG, { query: { filename: "audited.png" } });
    const byKey = await keyUpload(PNG, { query: { filename: "audited-by-key.png" } });

    const d1 = await stack.d1();
    const events = await d1.prepare("SELECT actor, action, target_type, target_id, metadata FROM audit_events WHERE target_id IN (?1, ?2) ORDER BY created_at").bind(byDeveloper.body.data.id, byKey.body.data.id).all();
    assert.deepEqual(events.results.map((e) => [e.action, e.target_type]), [["asset.uploaded", "asset"], ["asset.uploaded", "asset"]]);
    assert.equal(events.results[0].actor, "dev_assets");
    assert.match(events.results[1].actor, /^key_/);
    assert.equal(JSON.parse(events.results[0].metadata).sha256, byDeveloper.body.data.sha256);
  });

  test("lists are paginated, newest first, the same through both lanes, and never another project's", async () => {
    const mine = await stack.call("platform", "GET", `/v1/projects/${app.project.id}/assets?pageSize=2`, { headers: asDeveloper() });
    const viaKey = await stack.call("api", "GET", "/api/assets?pageSize=2", { headers: { Authorization: `Bearer ${app.secretKey}` } });
    const theirs = await stack.call("platform", "GET", `/v1/projects/${app.project.id}/assets`, { headers: asDeveloper(other) });

    assert.equal(mine.status, 200);
    assert.equal(mine.body.data.length, 2);
    assert.equal(mine.body.total, (await stored()).rows);
    assert.ok(mine.body.data[0].createdAt >= mine.body.data[1].createdAt);
    assert.deepEqual(viaKey.body, mine.body);
    assert.equal(theirs.status, 404);
  });
});

describe("serving", () => {
  test("a public image is served with its stored type, an ETag, immutable caching and nosniff", async () => {
    const asset = (await consoleUpload(PNG, { headers: { "Content-Type": "text/html" }, query: { filename: "served.png" } })).body.data;

    const res = await fetch(asset.url);
    const bytes = Buffer.from(await res.arrayBuffer());
    const head = await fetch(asset.url, { method: "HEAD" });

    assert.equal(res.status, 200);
    assert.deepEqual(bytes, PNG);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(res.headers.get("etag"), /^"[0-9a-f]+"$/);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "image/png");
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  test("a private file is never served publicly, whatever its path says", async () => {
    const asset = (await keyUpload(PDF, { query: { filename: "secret.pdf", visibility: "private" } })).body.data;
    const [, project, name] = (await row(asset.id)).r2_key.split("/");

    const paths = [
      `/assets/public/${project}/${name}`,
      `/assets/private/${project}/${name}`,
      `/assets/public/${project}/..%2F..%2Fprivate%2F${project}%2F${name}`,
      `/assets/${encodeURIComponent(`private/${project}/${name}`)}`,
      `/assets/public/${project}/${name.slice(0, 21)}X`,
    ];
    for (const path of paths) {
      const res = await stack.call("api", "GET", path);
      assert.equal(res.status, 404, path);
      assert.equal(res.body.code, "not_found");
    }
  });
});

describe("deletes", () => {
  test("only the owner deletes: another developer or another project's key gets 404 and changes nothing", async () => {
    const asset = (await consoleUpload(PNG, { query: { filename: "keep.png" } })).body.data;

    const byStranger = await stack.call("platform", "DELETE", `/v1/projects/${app.project.id}/assets/${asset.id}`, { headers: asDeveloper(other) });
    const throughTheirProject = await stack.call("platform", "DELETE", `/v1/projects/${rival.project.id}/assets/${asset.id}`, { headers: asDeveloper(other) });
    const byTheirKey = await stack.call("api", "DELETE", `/api/assets/${asset.id}`, { headers: { Authorization: `Bearer ${rival.secretKey}` } });

    assert.deepEqual([byStranger.status, throughTheirProject.status, byTheirKey.status], [404, 404, 404]);
    assert.equal((await row(asset.id)).deleted_at, null);
    assert.equal((await fetch(asset.url)).status, 200);
  });

  test("the owner's delete removes the object, keeps the row for the record, is audited and is not repeated", async () => {
    const asset = (await consoleUpload(PNG, { query: { filename: "gone.png" } })).body.data;
    const key = (await row(asset.id)).r2_key;

    const res = await stack.call("platform", "DELETE", `/v1/projects/${app.project.id}/assets/${asset.id}`, { headers: asDeveloper() });
    const again = await stack.call("api", "DELETE", `/api/assets/${asset.id}`, { headers: { Authorization: `Bearer ${app.secretKey}` } });

    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, { id: asset.id, deleted: true });
    assert.equal(again.status, 404);
    assert.ok((await row(asset.id)).deleted_at > 0);
    assert.equal(await (await stack.r2()).head(key), null);
    assert.equal((await stack.call("api", "GET", new URL(asset.url).pathname)).status, 404);
    const audit = await stack.call("platform", "GET", `/v1/projects/${app.project.id}/audit`, { headers: asDeveloper() });
    const deleted = audit.body.data.filter((e) => e.action === "asset.deleted" && e.targetId === asset.id);
    assert.equal(deleted.length, 1);
    assert.equal(deleted[0].actor, "dev_assets");
    const listed = await stack.call("api", "GET", "/api/assets?pageSize=100", { headers: { Authorization: `Bearer ${app.secretKey}` } });
    assert.ok(!listed.body.data.some((a) => a.id === asset.id));
  });
});
