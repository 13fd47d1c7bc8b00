// The contract's examples: every operation's JSON request body and every JSON success response
// carries an example, the shared error response shows its common codes, and every example in
// schemas/openapi.yaml matches the schema beside it — under the same ajv setup that checks live
// responses (tests/support/contract.mjs). No stack: the spec alone. Bodies that are not JSON
// (file uploads and downloads, the checkout event stream) have no JSON example to check.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { ROOT } from "../scripts/stack.mjs";

const spec = parse(readFileSync(join(ROOT, "schemas", "openapi.yaml"), "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, "openapi");

const METHODS = ["get", "put", "post", "patch", "delete", "options"];
const escape = (segment) => segment.replaceAll("~", "~0").replaceAll("/", "~1");
const at = (pointer) => pointer.split("/").slice(1).reduce((node, key) => node?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], spec);

/** A media type's pointer, following a `$ref` to a component (request body or response). */
function jsonMedia(pointer) {
  let node = at(pointer);
  let where = pointer;
  while (node?.$ref) {
    where = node.$ref.slice(1);
    node = at(where);
  }
  const media = node?.content?.["application/json"];
  return media ? { where: `${where}/content/application~1json`, media } : undefined;
}

/** Every JSON request body and success response the operations name: `{ label, where, media }`. */
const required = [];
for (const [template, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!METHODS.includes(method)) continue;
    const base = `/paths/${escape(template)}/${method}`;
    if (op.requestBody) {
      const found = jsonMedia(`${base}/requestBody`);
      if (found) required.push({ label: `${op.operationId} request body`, ...found });
    }
    for (const status of Object.keys(op.responses ?? {}).filter((s) => /^2\d\d$/.test(s))) {
      const found = jsonMedia(`${base}/responses/${status}`);
      if (found) required.push({ label: `${op.operationId} ${status}`, ...found });
    }
  }
}

/** Every media type in the document that carries examples, wherever it is. */
function* mediaWithExamples(node, pointer) {
  if (!node || typeof node !== "object") return;
  if (node.content && typeof node.content === "object") {
    for (const [type, media] of Object.entries(node.content)) {
      if (media && ("example" in media || "examples" in media)) yield { where: `${pointer}/content/${escape(type)}`, media };
    }
  }
  for (const [key, value] of Object.entries(node)) yield* mediaWithExamples(value, `${pointer}/${escape(key)}`);
}

const examplesOf = (media) =>
  "example" in media ? [["example", media.example]] : Object.entries(media.examples ?? {}).map(([name, ex]) => [`examples.${name}`, ex.value]);

describe("examples in the OpenAPI document", () => {
  test("every operation's JSON request body and JSON success response has an example", () => {
    assert.ok(required.length > 100, `only ${required.length} bodies found: the walk is broken`);
    const missing = required.filter(({ media }) => !("example" in media) && !("examples" in media)).map((r) => r.label);
    assert.deepEqual(missing, [], `no example for: ${missing.join(", ")}`);
  });

  test("every example matches the schema beside it", () => {
    const found = [...mediaWithExamples(spec.paths, "/paths"), ...mediaWithExamples(spec.components, "/components")];
    assert.ok(found.length >= new Set(required.map((r) => r.where)).size, "fewer examples than bodies that need one");
    const failures = [];
    for (const { where, media } of found) {
      const validate = ajv.compile({ $ref: `openapi#${where}/schema` });
      for (const [name, value] of examplesOf(media)) {
        if (!validate(value)) failures.push(`${where} ${name}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test("the shared error response shows not_found, validation_failed with fieldErrors, and rate_limited", () => {
    const media = at("/components/responses/Error/content/application~1json");
    const values = examplesOf(media).map(([, value]) => value);
    for (const code of ["not_found", "validation_failed", "rate_limited"]) {
      assert.ok(values.some((v) => v.code === code), `no ${code} example`);
    }
    assert.ok(values.some((v) => v.code === "validation_failed" && Object.keys(v.fieldErrors ?? {}).length > 0));
  });

  test("ids in examples carry their kind's prefix and money is integer minor units", () => {
    const prefixes = { projectId: "prj_", platformId: "plt_", tierId: "tier_", productId: "prd_", customerId: "cus_", endUserId: "cus_", assetId: "ast_", orderId: "ord_", endpointId: "whe_", eventId: "evt_" };
    const problems = [];
    const walk = (value, where) => {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}/${i}`));
      else if (value && typeof value === "object") {
        for (const [key, v] of Object.entries(value)) {
          if (typeof v === "string" && prefixes[key] && !v.startsWith(prefixes[key])) problems.push(`${where}/${key}: ${v}`);
          if (/^(amount|price|unitAmount|unit_amount)$/.test(key) && typeof v === "number" && !Number.isInteger(v)) problems.push(`${where}/${key}: ${v}`);
          walk(v, `${where}/${key}`);
        }
      }
    };
    for (const { where, media } of [...mediaWithExamples(spec.paths, "/paths"), ...mediaWithExamples(spec.components, "/components")]) {
      for (const [name, value] of examplesOf(media)) walk(value, `${where} ${name}`);
    }
    assert.deepEqual(problems, []);
  });
});
