import { describe, expect, it } from "vitest";
import { ApiError, apiErrorFrom, describeError } from "./errors";

describe("API errors", () => {
  it("keep the contract's message, code, requestId and field errors", () => {
    const e = apiErrorFrom(422, { error: "Invalid.", code: "validation_failed", requestId: "req_1", fieldErrors: { name: ["is required"] } }, "req_h");
    expect([e.status, e.code, e.message, e.requestId, e.fieldErrors]).toEqual([422, "validation_failed", "Invalid.", "req_1", { name: ["is required"] }]);
  });

  it.each([
    ["no body", undefined],
    ["a string body", "oops"],
    ["a body without fields", {}],
  ])("fall back to the status and the header's request id for %s", (_name, body) => {
    const e = apiErrorFrom(502, body, "req_h");
    expect([e.code, e.message, e.requestId]).toEqual(["http_502", "The server answered 502.", "req_h"]);
  });

  it("tell a stale edit to reload", () => {
    const d = describeError(new ApiError(409, "stale_update", "Stale.", "req_2"));
    expect(d.message).toMatch(/changed elsewhere.*Reload/);
    expect(d.requestId).toBe("req_2");
  });

  it("describe a plain failure by its message", () => {
    expect(describeError(new Error("network down"))).toEqual({ message: "network down", code: null, requestId: null, fieldErrors: {} });
  });
});
