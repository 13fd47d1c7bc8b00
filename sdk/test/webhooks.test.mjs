// The webhook verifier: the Standard Webhooks spec's own vector, a vector computed here with
// node:crypto, tampering, the timestamp tolerance, several signatures and rotated secrets.

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { Webhook, WebhookVerificationError, constantTimeEqual } from "../dist/webhooks-entry.js";

const secret = () => `whsec_${randomBytes(32).toString("base64")}`;
/** Signs like Tollgate's sender, independently of the SDK: node:crypto's HMAC. */
function sign(secretText, id, timestamp, body) {
  const key = Buffer.from(secretText.slice("whsec_".length), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}
const event = { id: "evt_1", type: "order.completed", createdAt: 1_800_000_000_000, projectId: "prj_1", mode: "test", data: { id: "ord_1", items: [] } };
const body = JSON.stringify(event);
const NOW = 1_800_000_000_000;
const ts = String(NOW / 1000);
const headers = (signature, extra = {}) => ({ "webhook-id": "evt_1", "webhook-timestamp": ts, "webhook-signature": signature, ...extra });
const refused = (reason) => (e) => e instanceof WebhookVerificationError && e.reason === reason;

describe("verifying a delivery", () => {
  test("the Standard Webhooks spec's test vector verifies", async () => {
    const hook = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    const payload = '{"test": 2432232314}';
    const got = await hook.verify(
      payload,
      { "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330", "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" },
      1614265330_000,
    );
    assert.deepEqual(got, { test: 2432232314 });
  });

  test("a delivery signed with node:crypto verifies and answers the typed event", async () => {
    const key = secret();
    const got = await new Webhook(key).verify(body, headers(sign(key, "evt_1", ts, body)), NOW);
    assert.deepEqual(got, event);
  });

  test("bytes, a Headers object and header names in any case work the same", async () => {
    const key = secret();
    const h = new Headers(headers(sign(key, "evt_1", ts, body)));
    assert.equal((await new Webhook(key).verify(new TextEncoder().encode(body), h, NOW)).id, "evt_1");
    const upper = { "Webhook-Id": "evt_1", "Webhook-Timestamp": ts, "Webhook-Signature": sign(key, "evt_1", ts, body) };
    assert.equal((await new Webhook(key).verify(body, upper, NOW)).id, "evt_1");
  });

  test("a tampered body, id, timestamp or signature is refused", async () => {
    const key = secret();
    const good = sign(key, "evt_1", ts, body);
    const hook = new Webhook(key);
    await assert.rejects(hook.verify(body.replace("ord_1", "ord_2"), headers(good), NOW), refused("no_matching_signature"));
    await assert.rejects(hook.verify(body, headers(good, { "webhook-id": "evt_2" }), NOW), refused("no_matching_signature"));
    await assert.rejects(hook.verify(body, headers(good, { "webhook-timestamp": String(Number(ts) + 1) }), NOW), refused("no_matching_signature"));
    const flipped = good.slice(0, -3) + (good.at(-3) === "A" ? "B" : "A") + good.slice(-2);
    await assert.rejects(hook.verify(body, headers(flipped), NOW), refused("no_matching_signature"));
    await assert.rejects(hook.verify(body, headers(good.replace("v1,", "v2,")), NOW), refused("no_matching_signature"));
    await assert.rejects(new Webhook(secret()).verify(body, headers(good), NOW), refused("no_matching_signature"), "another secret");
  });

  test("a timestamp outside the tolerance is refused either way; inside it passes", async () => {
    const key = secret();
    const at = (seconds) => String(Number(ts) + seconds);
    const hook = new Webhook(key);
    for (const offset of [-301, 301, -86_400]) {
      await assert.rejects(hook.verify(body, headers(sign(key, "evt_1", at(offset), body), { "webhook-timestamp": at(offset) }), NOW), refused("timestamp_out_of_tolerance"));
    }
    for (const offset of [-300, 0, 299]) {
      assert.equal((await hook.verify(body, headers(sign(key, "evt_1", at(offset), body), { "webhook-timestamp": at(offset) }), NOW)).id, "evt_1");
    }
    const strict = new Webhook(key, { toleranceSeconds: 5 });
    await assert.rejects(strict.verify(body, headers(sign(key, "evt_1", at(-6), body), { "webhook-timestamp": at(-6) }), NOW), refused("timestamp_out_of_tolerance"));
  });

  test("several space-separated signatures pass when any one matches (the sender's rotation)", async () => {
    const oldKey = secret();
    const newKey = secret();
    const both = `${sign(oldKey, "evt_1", ts, body)} ${sign(newKey, "evt_1", ts, body)}`;
    assert.equal((await new Webhook(newKey).verify(body, headers(both), NOW)).id, "evt_1");
    assert.equal((await new Webhook(oldKey).verify(body, headers(both), NOW)).id, "evt_1");
  });

  test("a receiver holding the old and the new secret accepts either (the receiver's rotation)", async () => {
    const oldKey = secret();
    const newKey = secret();
    const hook = new Webhook([newKey, oldKey]);
    assert.equal((await hook.verify(body, headers(sign(oldKey, "evt_1", ts, body)), NOW)).id, "evt_1");
    assert.equal((await hook.verify(body, headers(sign(newKey, "evt_1", ts, body)), NOW)).id, "evt_1");
  });

  test("missing headers and a timestamp that is not seconds are refused with their reason", async () => {
    const key = secret();
    const hook = new Webhook(key);
    const good = headers(sign(key, "evt_1", ts, body));
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const { [name]: _, ...rest } = good;
      await assert.rejects(hook.verify(body, rest, NOW), refused("missing_headers"), name);
    }
    await assert.rejects(hook.verify(body, { ...good, "webhook-timestamp": "1.8e9" }, NOW), refused("invalid_timestamp"));
  });

  test("a secret that is not base64 after whsec_ is refused at construction", () => {
    assert.throws(() => new Webhook("whsec_not base64!!"), TypeError);
    assert.throws(() => new Webhook([]), TypeError);
  });

  test("byte comparison is equal only for the same bytes of the same length", () => {
    const a = new Uint8Array([1, 2, 3]);
    assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 3])), true);
    assert.equal(constantTimeEqual(a, new Uint8Array([1, 2, 4])), false);
    assert.equal(constantTimeEqual(a, new Uint8Array([1, 2])), false);
  });
});
