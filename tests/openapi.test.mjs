// The contract is complete: every route a worker serves is in schemas/openapi.yaml under that
// worker's tag, and nothing else is; every operation says who may call it, what it reads and
// what it answers. Reads the Rust route tables and the spec only (no stack).
//
// The Stripe sandbox is in only for the routes every worker shares (`/health`, `/dev/…`): its
// own routes are Stripe's API (form-encoded bodies, Stripe's error shape), whose contract is
// Stripe's and is held by tests/stripe-fidelity.test.mjs against the official SDK, and the
// worker never deploys. Its spec entries would be a second copy of Stripe's document.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { GATEWAY, ROOT, WORKERS } from "../scripts/stack.mjs";

const spec = parse(readFileSync(join(ROOT, "schemas", "openapi.yaml"), "utf8"));
const read = (path) => readFileSync(join(ROOT, path), "utf8");
const METHODS = ["get", "put", "post", "patch", "delete", "options", "head"];
/** `/v1/projects/{id}` and `/v1/projects/{projectId}` are the same route. */
const shape = (pattern) => pattern.replace(/\{[^}]+\}/g, "{}");

/**
 * The routes of each `const NAME: &[Route<…>] = &[ … ];` table in `source`, with the handler
 * variant each names: `Route::new(Method::Get, "/x", Api::X)` or the sandbox's
 * `api(Method::Get, "/x", Op::X)`, whitespace (rustfmt's line breaks) anywhere between.
 */
function routeTables(source) {
  const tables = {};
  for (const [, name, body] of source.matchAll(/const (\w+): &\[Route<\w+>\] = &\[([\s\S]*?)\];/g)) {
    tables[name] = [...body.matchAll(/(?:Route::new|\bapi)\(\s*Method::(\w+),\s*"([^"]+)",\s*([\w:]+)/g)].map(
      ([, method, pattern, variant]) => ({ method: method.toLowerCase(), pattern, variant }),
    );
  }
  return tables;
}

const shared = routeTables(read("crates/edge/src/serve.rs"));
const tables = Object.fromEntries(WORKERS.map((w) => [w, routeTables(read(`workers/${w}/src/lib.rs`))]));

/** Every `method shape` a worker answers (development routes too: the stack runs them). */
function codeRoutes(worker) {
  const own = worker === "stripe-sandbox" ? [] : [...(tables[worker].ROUTES ?? []), ...(tables[worker].DEV_ROUTES ?? [])];
  return new Set([...shared.SHARED, ...shared.SHARED_DEVELOPMENT, ...own].map((r) => `${r.method.toUpperCase()} ${shape(r.pattern)}`));
}

const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.includes(method))
    .map(([method, op]) => ({ path, method, op, where: `${method.toUpperCase()} ${path}` })),
);

function specRoutes(worker) {
  return new Set(operations.filter((o) => o.op.tags?.includes(worker)).map((o) => `${o.method.toUpperCase()} ${shape(o.path)}`));
}

/** Follows local `$ref`s; throws on one that leads nowhere. */
function resolve(node, seen = []) {
  if (!node?.$ref) return node;
  assert.ok(node.$ref.startsWith("#/"), `only local $refs: ${node.$ref}`);
  const target = node.$ref
    .slice(2)
    .split("/")
    .reduce((at, key) => at?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], spec);
  assert.ok(target !== undefined, `$ref ${node.$ref} resolves to nothing`);
  assert.ok(!seen.includes(node.$ref), `$ref cycle through ${node.$ref}`);
  return resolve(target, [...seen, node.$ref]);
}

test("the route tables are read from the source (the extraction itself works)", () => {
  assert.ok(shared.SHARED.some((r) => r.pattern === "/health"));
  assert.ok(shared.SHARED_DEVELOPMENT.some((r) => r.pattern === "/dev/noop"));
  // The meter worker serves no public route: its table holds development controls only.
  for (const worker of WORKERS.filter((w) => w !== "meter")) assert.ok(tables[worker].ROUTES?.length > 5, `${worker} has a ROUTES table`);
  assert.equal(tables.meter.DEV_ROUTES?.length, 2, "meter has its DEV_ROUTES table");
  // A pattern rustfmt broke over lines is still found.
  assert.ok(tables.webhooks.ROUTES.some((r) => r.pattern === "/v1/projects/{id}/webhook-endpoints/{endpointId}/rotate-secret"));
});

test("the api worker forwards exactly the billing worker's customer routes, so one base URL answers them all", () => {
  const key = (r) => `${r.method.toUpperCase()} ${r.pattern}`;
  const forwarded = tables.api.ROUTES.filter((r) => r.variant === "Api::Billing").map(key).sort();
  const billing = tables.billing.ROUTES.filter((r) => !r.pattern.startsWith("/internal/")).map(key).sort();
  assert.ok(billing.length > 5, "billing has a ROUTES table");
  assert.deepEqual(forwarded, billing);
});

for (const worker of WORKERS) {
  test(`every route the ${worker} worker serves is in the spec under its tag, and nothing more`, () => {
    const code = codeRoutes(worker);
    const documented = specRoutes(worker);
    const undocumented = [...code].filter((r) => !documented.has(r));
    const phantom = [...documented].filter((r) => !code.has(r));
    assert.deepEqual({ undocumented, phantom }, { undocumented: [], phantom: [] });
  });
}

test("development-only routes are marked x-environment: development, and only they", () => {
  const devOnly = new Set(
    [
      ...shared.SHARED_DEVELOPMENT.filter((r) => !shared.SHARED.some((s) => s.pattern === r.pattern && s.method === r.method)),
      ...WORKERS.flatMap((w) => tables[w].DEV_ROUTES ?? []),
    ].map((r) => `${r.method.toUpperCase()} ${shape(r.pattern)}`),
  );
  for (const { path, method, op, where } of operations) {
    const sandboxOnly = op.tags?.length === 1 && op.tags[0] === "stripe-sandbox";
    if (sandboxOnly) continue;
    const key = `${method.toUpperCase()} ${shape(path)}`;
    assert.equal(op["x-environment"] === "development", devOnly.has(key), `${where}: x-environment`);
  }
});

test("every operation has a unique operationId and is tagged with the workers that serve it", () => {
  const ids = operations.map((o) => o.op.operationId);
  for (const { op, where } of operations) {
    assert.match(op.operationId ?? "", /^[a-z][A-Za-z0-9]+$/, `${where}: operationId`);
    assert.ok(op.tags?.length > 0, `${where}: tags`);
    for (const tag of op.tags) assert.ok([...WORKERS, GATEWAY].includes(tag), `${where}: tag ${tag} is not a worker`);
  }
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], "duplicate operationIds");
});

test("every operation states its security (an empty list for public routes) from the defined schemes", () => {
  const schemes = Object.keys(spec.components.securitySchemes);
  const problems = [];
  for (const { op, where } of operations) {
    if (!Array.isArray(op.security)) problems.push(`${where}: no security (write security: [] for a public route)`);
    for (const requirement of op.security ?? []) {
      for (const name of Object.keys(requirement)) if (!schemes.includes(name)) problems.push(`${where}: unknown scheme ${name}`);
    }
  }
  assert.deepEqual(problems, []);
});

test("every response with JSON content has a schema, and every request body has one", () => {
  for (const { op, where } of operations) {
    for (const [status, response] of Object.entries(op.responses ?? {})) {
      for (const [type, media] of Object.entries(resolve(response).content ?? {})) {
        assert.ok(media.schema, `${where} → ${status} ${type}: no schema`);
      }
    }
    assert.ok(Object.keys(op.responses ?? {}).length > 0, `${where}: no responses`);
    if (op.requestBody) {
      const content = resolve(op.requestBody).content ?? {};
      assert.ok(Object.keys(content).length > 0, `${where}: request body without content`);
      for (const [type, media] of Object.entries(content)) assert.ok(media.schema, `${where}: request ${type} has no schema`);
    }
  }
});

/** The body of `fn name` in `source`: up to the next item at column 0. */
function functionBody(source, name) {
  const at = source.search(new RegExp(`^(?:pub(?:\\(crate\\))? )?(?:async )?fn ${name}\\b`, "m"));
  if (at < 0) return undefined;
  const rest = source.slice(at + 1);
  const end = rest.search(/\n(?:pub(?:\(crate\))? )?(?:async )?fn |\n(?:pub )?(?:struct|enum|impl|const|mod) /);
  return end < 0 ? rest : rest.slice(0, end);
}

test("every write whose handler reads a JSON body documents an application/json request schema", () => {
  const checked = [];
  const problems = [];
  for (const worker of WORKERS.filter((w) => w !== "stripe-sandbox")) {
    const lib = read(`workers/${worker}/src/lib.rs`);
    // GET and DELETE share a handler with their write (a flag picks the branch that reads).
    const writes = [...(tables[worker].ROUTES ?? []), ...(tables[worker].DEV_ROUTES ?? [])].filter((r) => ["post", "put", "patch"].includes(r.method));
    for (const route of writes) {
      // `Api::List(Kind::Tier)` dispatches through the arm `Api::List(kind) => items::list(…)`.
      const variant = route.variant.replace(/\(.*$/, "");
      const arm = lib.match(new RegExp(`${variant.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:\\([^)]*\\))? => (?:(\\w+)::)?(\\w+)\\(`));
      assert.ok(arm, `${worker}: no dispatch arm for ${route.variant}`);
      const [, module, fn] = arm;
      const body = functionBody(module ? read(`workers/${worker}/src/${module}.rs`) : lib, fn);
      assert.ok(body, `${worker}: ${module}::${fn} not found`);
      if (!/body::(?:json|parse)\b/.test(body)) continue;
      const op = spec.paths[Object.keys(spec.paths).find((p) => shape(p) === shape(route.pattern))]?.[route.method];
      const where = `${route.method.toUpperCase()} ${route.pattern}`;
      const request = resolve(op?.requestBody);
      const schema = resolve(request?.content?.["application/json"]?.schema);
      if (!schema) {
        problems.push(`${where} reads a JSON body; the spec has no application/json schema for it`);
      } else if (request.required && !schema.required?.length && !schema.minProperties && !schema.allOf && !schema.oneOf) {
        // An empty body reads as `{}` (crates/edge/src/body.rs), which this schema accepts.
        problems.push(`${where}: a body whose fields are all optional may be left out (required: false)`);
      }
      checked.push(where);
    }
  }
  assert.deepEqual(problems, []);
  // The scan found the body readers (a broken scan would pass vacuously).
  assert.ok(checked.length >= 20, `only ${checked.length} JSON-reading routes found: ${checked.join(", ")}`);
});

test("every $ref in the spec resolves", () => {
  const refs = [];
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === "object") {
      if (typeof node.$ref === "string") refs.push(node);
      Object.values(node).forEach(walk);
    }
  };
  walk(spec);
  assert.ok(refs.length > 50);
  for (const ref of refs) resolve(ref);
});
