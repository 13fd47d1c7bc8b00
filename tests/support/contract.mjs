// The contract check every integration test runs on every response: the body must match
// schemas/openapi.yaml for the operation, worker and status that produced it.
//
// Rules: every response carries a well-formed X-Request-Id. A request that hits an operation
// tagged with the answering worker must get a status that operation documents (or its
// `default`), with a body matching that response's schema. Any other request may only answer
// 404 or 405, in the shared Error shape. HEAD answers have no body.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { ROOT } from "../../scripts/stack.mjs";

const spec = parse(readFileSync(join(ROOT, "schemas", "openapi.yaml"), "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, "openapi");

const validators = new Map();
function validatorFor(pointer) {
  if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: `openapi${pointer}` }));
  return validators.get(pointer);
}

const escape = (segment) => segment.replaceAll("~", "~0").replaceAll("/", "~1");
const resolve = (node) => {
  let current = node;
  while (current?.$ref) current = current.$ref.slice(2).split("/").reduce((at, key) => at[key.replaceAll("~1", "/").replaceAll("~0", "~")], spec);
  return current;
};

const operations = Object.entries(spec.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([method]) => ["get", "put", "post", "patch", "delete", "options"].includes(method))
    .map(([method, op]) => ({
      template,
      method,
      op,
      regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
    })),
);

function findOperation(worker, method, path) {
  const wanted = method === "head" ? "get" : method;
  return operations.find((o) => o.method === wanted && o.regex.test(path) && o.op.tags.includes(worker));
}

/**
 * The Tollgate worker that serves `method path` by the contract: the one public worker its
 * operation is tagged with (what the one origin forwards it to). `undefined` when none is.
 */
export function workerOf(method, path) {
  const wanted = method.toLowerCase() === "head" ? "get" : method.toLowerCase();
  const found = operations.filter((o) => o.method === wanted && o.regex.test(path.split("?")[0]));
  const tags = [...new Set(found.flatMap((o) => o.op.tags))].filter((t) => ["platform", "catalog", "api", "webhooks"].includes(t));
  return tags.length === 1 ? tags[0] : undefined;
}

/** Throws with a readable message when a response breaks the contract. */
export function checkResponse({ worker, method, path, status, headers, body, text }) {
  const where = `${worker} ${method.toUpperCase()} ${path} → ${status}`;
  const requestId = headers.get("x-request-id");
  if (!requestId || !/^[A-Za-z0-9._:-]{1,128}$/.test(requestId)) {
    throw new Error(`${where}: missing or malformed X-Request-Id (${requestId})`);
  }
  const verb = method.toLowerCase();
  if (verb === "options" && status === 204) {
    // A CORS preflight from an allowed origin (see the spec's description).
    if (text !== "") throw new Error(`${where}: a preflight answered with a body`);
    return;
  }
  if (verb === "head") {
    if (text !== "") throw new Error(`${where}: HEAD answered with a body`);
    return;
  }
  const found = findOperation(worker, verb, path.split("?")[0]);
  let pointer;
  if (found) {
    const responses = found.op.responses;
    const key = String(status) in responses ? String(status) : "default" in responses ? "default" : null;
    if (!key) throw new Error(`${where}: status ${status} is not documented for ${found.template}`);
    if (resolve(responses[key]).content?.["text/event-stream"]) {
      // A server-sent event stream: its messages are checked by the test that reads them.
      if (!headers.get("content-type")?.startsWith("text/event-stream")) {
        throw new Error(`${where}: documented as text/event-stream, answered ${headers.get("content-type")}`);
      }
      return;
    }
    const content = resolve(responses[key]).content?.["application/json"];
    if (!content) {
      // A response documented without content (a redirect) must have no body.
      if (text !== "") throw new Error(`${where}: documented without a body, answered with one`);
      return;
    }
    const response = responses[key].$ref
      ? responses[key].$ref.slice(1)
      : `/paths/${escape(found.template)}/${found.method}/responses/${key}`;
    pointer = `#${response}/content/application~1json/schema`;
  } else {
    // Unknown routes answer 404/405; a refused CORS preflight answers 403.
    const allowed = verb === "options" ? [403, 404, 405] : [404, 405];
    if (!allowed.includes(status)) throw new Error(`${where}: undocumented route answered ${status}`);
    pointer = "#/components/schemas/Error";
  }
  const validate = validatorFor(pointer);
  if (!validate(body)) {
    throw new Error(`${where}: body does not match ${pointer}: ${ajv.errorsText(validate.errors)}\n${text}`);
  }
}
