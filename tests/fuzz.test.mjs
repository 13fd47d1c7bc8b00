// Schemathesis against the local stack: every operation of schemas/openapi.yaml, on every
// worker that serves it, with generated valid and invalid requests. No answer may be a 5xx,
// and every answer must match the spec (status, content type, body schema).
//
// Deterministic and bounded: a fixed seed and a fixed number of examples per operation and
// phase. The arranged world gives the path parameters real ids (a project, tiers, a product, an
// end user, a checkout session, a webhook endpoint), so requests reach the handlers rather than
// stopping at a 404; writes that destroy what the rest of the run needs (deleting a project,
// rotating or revoking its key, deleting an end user or an endpoint) aim at victims of their
// own. Workers run one after the other, the api worker first, so the developer routes that
// archive or disconnect things cannot starve it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { ROOT, WORKERS } from "../scripts/stack.mjs";
import { createProject, signIn, uploadAsset } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe, stripeApi } from "./support/stripe.mjs";

const ST = join(ROOT, ".tools", "schemathesis", "bin", "st");
const SPEC = join(ROOT, "schemas", "openapi.yaml");
const SEED = 20261124;
/** Cases per operation and phase (coverage adds its own boundary cases on top). */
const MAX_EXAMPLES = Number(process.env.FUZZ_MAX_EXAMPLES ?? 50);
/** Operations of the api worker that need a store project's keys (the rest speak for a SaaS app). */
const STORE_OPERATIONS = ["cartCheckout", "listProducts", "listEntitlements", "revokeEntitlement", "issueDownload"];
/**
 * The runs, one per worker (the api and billing workers' in several, one per project type and
 * key lane), the customer API first: the developer routes of the others archive tiers and
 * disconnect Stripe.
 */
const RUNS = [
  { name: "api (app keys)", worker: "api", project: "saas", skip: STORE_OPERATIONS },
  { name: "api (shop keys)", worker: "api", project: "store", only: STORE_OPERATIONS },
  // Where an operation takes either key schemathesis sends the secret one: the browser lane
  // gets a run of its own.
  { name: "api (app publishable key)", worker: "api", project: "saas", lane: "publishable", skip: STORE_OPERATIONS },
  { name: "api (shop publishable key)", worker: "api", project: "store", lane: "publishable", only: STORE_OPERATIONS },
  // The buying routes again, straight to the worker the api forwards them to.
  { name: "billing (app keys)", worker: "billing", project: "saas", skip: STORE_OPERATIONS },
  { name: "billing (shop keys)", worker: "billing", project: "store", only: STORE_OPERATIONS },
  { name: "webhooks", worker: "webhooks" },
  { name: "catalog", worker: "catalog" },
  { name: "platform", worker: "platform" },
  { name: "stripe-sandbox", worker: "stripe-sandbox" },
  // Internal (bound by script name), but its health and development controls are in the spec.
  { name: "meter", worker: "meter" },
];
const OPERATOR = "dev_fuzz";
/** A 1×1 PNG: public assets must sniff as an image. */
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

const spec = parse(readFileSync(SPEC, "utf8"));
const operationIds = (worker) =>
  Object.values(spec.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([method, op]) => ["get", "put", "post", "patch", "delete"].includes(method) && op.tags.includes(worker))
      .map(([, op]) => op.operationId),
  );

const takesPublishableKey = new Set(
  Object.values(spec.paths).flatMap((item) =>
    Object.values(item)
      .filter((op) => op?.security?.some((requirement) => "publishableKey" in requirement))
      .map((op) => op.operationId),
  ),
);

let stack;
let dir;
let world;

before(async () => {
  // The fuzzer is one developer sending hundreds of requests a second and creating records
  // by the hundred: the developer rate limit and the per-tenant caps would turn most of its
  // cases into 429s and 422s (both tested on their own in caps.test.mjs).
  const unbounded = "1000000";
  stack = await testStack({
    vars: {
      OPERATOR_SUBJECTS: OPERATOR,
      DEVELOPER_RATE_LIMIT: unbounded,
      LIMIT_PROJECTS_PER_DEVELOPER: unbounded,
      LIMIT_END_USERS_PER_TEST_PROJECT: unbounded,
      LIMIT_CATALOG_ITEMS_PER_TEST_PROJECT: unbounded,
      LIMIT_ASSETS_PER_PROJECT: unbounded,
    },
  });
  dir = mkdtempSync(join(tmpdir(), "tollgate-fuzz-"));
  world = await arrange(stack);
});
after(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function arrange(stack) {
  const dev = await signIn(stack, OPERATOR);
  const asDev = { Authorization: `Bearer ${dev.token}` };
  const { connection } = await connectStripe(stack, dev, "test");
  const catalog = async (method, path, body) => {
    const res = await stack.call("catalog", method, path, { headers: asDev, body });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.body.data;
  };
  const saas = await createProject(dev, { name: "Fuzz app", type: "saas" });
  const store = await createProject(dev, { name: "Fuzz shop", type: "store" });
  const victim = await createProject(dev, { name: "Fuzz victim", type: "saas" });
  // Rate limits far above what the run sends: a 429 would hide what the handler does.
  await (await stack.d1())
    .prepare("UPDATE projects SET rate_limit_secret = 1000000, rate_limit_publishable = 1000000 WHERE id IN (?1, ?2, ?3)")
    .bind(saas.project.id, store.project.id, victim.project.id)
    .run();
  const upload = (project, bytes, query) => uploadAsset(stack, project, bytes, query);
  const file = await upload(store, Buffer.from("the fuzzed file"), { filename: "file.txt", visibility: "private" });
  const image = await upload(saas, Buffer.from(PNG, "base64"), { filename: "dot.png", visibility: "public" });
  await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, { name: "free", displayName: "Free", price: 0, limit: 1000000 });
  const pro = await catalog("POST", `/v1/projects/${saas.project.id}/tiers`, { name: "pro", displayName: "Pro", price: 900, limit: 1000000 });
  const product = await catalog("POST", `/v1/projects/${store.project.id}/products`, { name: "ebook", displayName: "E-book", price: 1500, inventory: 1000, assetId: file.id });

  const hooks = async (body) => {
    const res = await stack.call("webhooks", "POST", `/v1/projects/${saas.project.id}/webhook-endpoints`, { headers: asDev, body });
    assert.equal(res.status, 201, res.text);
    return res.body.data;
  };
  // Before the payments, so their events are delivered to it.
  const endpoint = await hooks({ url: "http://127.0.0.1:9/hook", events: ["*"] });
  const doomedEndpoint = await hooks({ url: "http://127.0.0.1:9/doomed", events: ["*"] });
  const server = async (project, method, path, body, headers = {}) => {
    const res = await stack.call("api", method, path, { headers: { Authorization: `Bearer ${project.secretKey}`, ...headers }, body });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const user = (await server(saas, "POST", "/api/customers", { email: "fuzz@example.test" })).data;
  const doomedUser = (await server(saas, "POST", "/api/customers", { email: "doomed@example.test" })).data;
  const quitter = (await server(saas, "POST", "/api/customers", { email: "quitter@example.test" })).data;
  const buyer = (await server(store, "POST", "/api/customers", { email: "buyer@example.test" })).data;
  const token = (await server(saas, "POST", "/api/customer-token", { userId: user.id })).data.token;
  const buyerToken = (await server(store, "POST", "/api/customer-token", { userId: buyer.id })).data.token;
  const back = { successUrl: "http://127.0.0.1:5173/ok", cancelUrl: "http://127.0.0.1:5173/no" };
  const open = await server(saas, "POST", "/api/create-checkout", { tier: "pro", ...back }, { "X-User-Id": user.id });
  const lapsed = await server(saas, "POST", "/api/create-checkout", { tier: "pro", ...back }, { "X-User-Id": user.id, "Idempotency-Key": "lapsed" });
  // The event stream of an open session stays open until its webhook: a lapsed one answers at once.
  await (await stack.d1()).prepare("UPDATE checkout_sessions SET status = 'expired' WHERE id = ?1").bind(lapsed.sessionId).run();
  // Paid through the sandbox: the app's end user subscribes to pro, the shop's buyer owns the e-book.
  const pay = async (sessionId) => {
    const paid = await stripeApi(stack, "POST", `/_sandbox/checkout/sessions/${sessionId}/complete`, { account: connection.accountId });
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
  };
  await pay(open.sessionId);
  // Cancelling ends a subscription: the cancel and resume routes get a subscriber of their own.
  const quitting = await server(saas, "POST", "/api/create-checkout", { tier: "pro", ...back }, { "X-User-Id": quitter.id });
  await pay(quitting.sessionId);
  const quitterToken = (await server(saas, "POST", "/api/customer-token", { userId: quitter.id })).data.token;
  const order = await server(store, "POST", "/api/cart/checkout", { items: [{ productId: product.id }], ...back }, { "X-User-Id": buyer.id });
  await pay(order.sessionId);
  const entitlement = await (await stack.d1()).prepare("SELECT id FROM entitlements WHERE order_id = ?1").bind(order.orderId).first();
  assert.ok(entitlement, "the paid order granted an entitlement");
  const download = await server(store, "POST", "/api/downloads", { productId: product.id }, { "X-User-Id": buyer.id });

  const victimKeys = await dev.call("GET", `/v1/projects/${victim.project.id}/keys`);
  // The payments above left Stripe events in the log and deliveries to the endpoint.
  const events = await stack.call("webhooks", "GET", `/v1/projects/${saas.project.id}/events`, { headers: asDev });
  assert.ok(events.body.data.length > 0, "the payments left events");
  // Deliveries are queued: wait for the first (up to 10 s).
  let deliveries;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    deliveries = await stack.call("webhooks", "GET", `/v1/projects/${saas.project.id}/webhook-deliveries`, { headers: asDev });
    if (deliveries.body.data.length > 0) break;
  }
  assert.ok(deliveries.body.data.length > 0, `no delivery: ${deliveries.text}`);
  return {
    token: dev.token,
    saas,
    store,
    victim,
    victimKeyId: victimKeys.body.data[0].id,
    pro,
    product,
    user,
    doomedUser,
    buyer,
    endUserToken: token,
    quitter: { id: quitter.id, token: quitterToken },
    buyerToken,
    eventId: events.body.data[0].id,
    deliveryId: deliveries.body.data[0].id,
    paidSession: open.sessionId,
    entitlementId: entitlement.id,
    downloadToken: new URL(download.data.url).pathname.split("/").pop(),
    image: new URL(image.url).pathname.split("/"),
    lapsedSession: lapsed.sessionId,
    endpoint,
    doomedEndpoint,
  };
}

/** TOML for a string. */
const str = (value) => JSON.stringify(String(value));

/** `location.name` of every parameter an operation declares. */
const declared = new Map(
  Object.values(spec.paths).flatMap((item) =>
    Object.entries(item)
      .filter(([method]) => ["get", "put", "post", "patch", "delete"].includes(method))
      .map(([, op]) => [
        op.operationId,
        [...(item.parameters ?? []), ...(op.parameters ?? [])]
          .map((p) => (p.$ref ? spec.components.parameters[p.$ref.split("/").pop()] : p))
          .map((p) => `${p.in}.${p.name}`),
      ]),
  ),
);

/**
 * Fixed parameters per operation of `run`: real ids in the path, the end user in the headers,
 * so requests reach the handlers. Each operation gets one merged table (schemathesis takes an
 * operation's parameters from the first matching section only).
 */
function fixedParameters({ worker, project = "saas" }) {
  const w = world;
  const saasId = w.saas.project.id;
  const [user, token] = project === "store" ? [w.buyer.id, w.buyerToken] : [w.user.id, w.endUserToken];
  const common = {
    // Developer routes: the app project, its paid tier and an endpoint.
    "path.id": saasId,
    "path.itemId": w.pro.id,
    "path.endpointId": w.endpoint.id,
    "path.eventId": w.eventId,
    "path.deliveryId": w.deliveryId,
    // The end user, in either lane (a secret key reads X-User-Id, a publishable key the token).
    "header.X-User-Id": user,
    "header.X-End-User-Token": token,
    // The public image, by its own URL's path segments (`/assets/public/{projectId}/{name}`).
    "path.projectId": w.image[3],
    "path.name": w.image[4],
    "path.token": w.downloadToken,
  };
  const special = {
    deleteProject: { "path.id": w.victim.project.id },
    rotateKey: { "path.id": w.victim.project.id },
    revokeKey: { "path.id": w.victim.project.id, "path.keyId": w.victimKeyId },
    deleteWebhookEndpoint: { "path.endpointId": w.doomedEndpoint.id },
    getCustomer: { "path.id": w.user.id },
    updateCustomer: { "path.id": w.user.id },
    deleteCustomer: { "path.id": w.doomedUser.id },
    checkoutStatus: { "path.sessionId": w.paidSession },
    reconcileCheckout: { "path.sessionId": w.paidSession },
    revokeEntitlement: { "path.id": w.entitlementId },
    cancelSubscription: { "header.X-User-Id": w.quitter.id, "header.X-End-User-Token": w.quitter.token },
    resumeSubscription: { "header.X-User-Id": w.quitter.id, "header.X-End-User-Token": w.quitter.token },
    checkoutEvents: { "path.sessionId": w.lapsedSession },
  };
  for (const id of ["listCatalogProducts", "createProduct", "getProduct", "editProduct", "archiveProduct"]) {
    special[id] = { "path.id": w.store.project.id, "path.itemId": w.product.id };
  }
  const table = {};
  for (const id of operationIds(worker)) {
    const merged = { ...common, ...special[id] };
    const own = Object.fromEntries(Object.entries(merged).filter(([key]) => declared.get(id).includes(key)));
    if (Object.keys(own).length > 0) table[id] = own;
  }
  return table;
}

/** schemathesis.toml for one run: bounds, checks, credentials and the fixed parameters. */
function config(run) {
  const w = world;
  const keys = w[run.project ?? "saas"];
  const lines = [
    // Deterministic generation (the same cases every run, whatever the seed); the seed pins
    // whatever randomness is left (the order of the coverage phase's variants).
    `seed = ${SEED}`,
    "workers = 1",
    "max-failures = 50",
    "continue-on-failure = true",
    "request-timeout = 10",
    "max-stream-events = 2",
    "",
    "[cache]",
    "enabled = false",
    "",
    "[generation]",
    `max-examples = ${MAX_EXAMPLES}`,
    'database = "none"',
    "deterministic = true",
    "no-shrink = true",
    "",
    "[phases.stateful]",
    // No links in the spec to chain; the arranged ids stand in for them.
    "enabled = false",
    "",
    // Every check schemathesis has, but one: no 5xx, status codes, content types, response
    // schemas and headers, invalid data refused, required headers required, ...
    "[checks]",
    // A schema-valid id that names nothing answers 404, rightly: valid data is not always accepted data.
    "positive_data_acceptance.enabled = false",
    // Invalid data may also be refused for its size (413, a body over 16 KiB) besides schemathesis' list.
    'negative_data_rejection.expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]',
    "",
    "[auth.openapi.developerJwt]",
    `bearer = ${str(w.token)}`,
    ...(run.lane === "publishable" ? [] : ["[auth.openapi.secretKey]", `bearer = ${str(keys.secretKey)}`]),
    "[auth.openapi.publishableKey]",
    `api_key = ${str(keys.project.publishableKey)}`,
    "",
  ];
  const section = (ids, body) => {
    lines.push("[[operations]]", `include-operation-id = [${ids.map(str).join(", ")}]`, ...body, "");
  };
  // Ids inside bodies: drawn from the arranged world most of the time, generated otherwise.
  const project = run.project ?? "saas";
  const dictionaries = {
    users: [project === "store" ? w.buyer.id : w.user.id],
    tiers: ["pro", "free"],
    products: [w.product.id],
  };
  for (const [name, values] of Object.entries(dictionaries)) {
    lines.splice(lines.indexOf("[cache]"), 0, `[dictionaries.${name}]`, `values = [${values.map(str).join(", ")}]`, "");
  }
  const bound = {
    mintCustomerToken: { "body.userId": "users" },
    createCheckout: { "body.tier": "tiers" },
    changeSubscription: { "body.tier": "tiers" },
    cartCheckout: { "body.items[*].productId": "products" },
    issueDownload: { "body.productId": "products" },
  };
  const fixed = fixedParameters(run);
  for (const [id, bindings] of Object.entries(bound)) {
    if (!operationIds(run.worker).includes(id)) continue;
    const values = Object.entries(fixed[id] ?? {}).map(([k, v]) => `${str(k)} = ${str(v)}`);
    const draws = Object.entries(bindings).map(([k, d]) => `${str(k)} = { dictionary = ${str(d)}, probability = 0.8 }`);
    section([id], ["[operations.parameters]", ...values, ...draws]);
    delete fixed[id];
  }
  for (const [id, parameters] of Object.entries(fixed)) {
    section([id], ["[operations.parameters]", ...Object.entries(parameters).map(([k, v]) => `${str(k)} = ${str(v)}`)]);
  }
  // Fails on purpose: the route exists so tests can prove a failure stays an opaque 500.
  section(["devFail"], ["[operations.checks]", "not_a_server_error.enabled = false"]);
  // Without their HMAC header the internal routes answer 404 like an unknown route, on purpose.
  section(["internalReconcile", "internalForgetKeys"], ["[operations.checks]", "missing_required_header.expected-statuses = [404]"]);
  return lines.join("\n");
}

function run(plan, index) {
  const file = join(dir, `${index}.toml`);
  writeFileSync(file, config(plan));
  const ids = operationIds(plan.worker)
    .filter((id) => (!plan.only || plan.only.includes(id)) && !plan.skip?.includes(id))
    .filter((id) => plan.lane !== "publishable" || takesPublishableKey.has(id));
  // Operation ids, not the worker's tag: schemathesis ORs its include filters.
  const args = ["--config-file", file, "run", SPEC, "--url", stack.urls[plan.worker], "--no-color"];
  for (const id of ids) args.push("--include-operation-id", id);
  return new Promise((done, fail) => {
    const child = spawn(ST, args, { cwd: dir });
    const out = [];
    child.stdout.on("data", (chunk) => out.push(chunk));
    child.stderr.on("data", (chunk) => out.push(chunk));
    child.on("error", fail);
    child.on("close", (code) => done({ code, output: Buffer.concat(out).toString("utf8"), ids }));
  });
}

test("schemathesis finds no 5xx and no answer outside the spec, on every operation of every worker", { timeout: 600_000 }, async () => {
  assert.ok(existsSync(ST), `schemathesis is missing at ${ST}: run scripts/bootstrap.sh`);
  const totals = { cases: 0, operations: 0, runs: 0 };
  const covered = new Set();
  const failed = [];
  // FUZZ_ONLY=<worker> runs one worker's operations (while fixing what a run found).
  for (const [index, plan] of RUNS.entries()) {
    if (process.env.FUZZ_ONLY && plan.worker !== process.env.FUZZ_ONLY) continue;
    const worker = plan.name;
    const started = Date.now();
    const { code, output, ids } = await run(plan, index);
    for (const id of ids) covered.add(`${plan.worker} ${id}`);
    const cases = Number(/(\d+) generated/.exec(output)?.[1] ?? NaN);
    const operations = Number(/(\d+) selected/.exec(output)?.[1] ?? NaN);
    console.log(`schemathesis ${worker}: ${cases} cases over ${operations} operations in ${((Date.now() - started) / 1000).toFixed(1)} s, exit ${code}`);
    if (process.env.FUZZ_VERBOSE) console.log(output);
    assert.ok(cases > 0 && operations > 0, `${worker}: no case count in schemathesis' output:\n${output}`);
    totals.cases += cases;
    totals.runs += 1;
    totals.operations += operations;
    if (code !== 0) {
      failed.push(`${worker}:\n${output}`);
    }
  }
  console.log(
    `schemathesis: ${totals.cases} cases over ${totals.operations} operations in ${totals.runs} runs ` +
      `(${covered.size} operation–worker pairs), ${failed.length} failing runs`,
  );
  // Every operation of every worker was fuzzed (a filter gone wrong would pass vacuously).
  if (!process.env.FUZZ_ONLY) {
    const all = WORKERS.flatMap((worker) => operationIds(worker).map((id) => `${worker} ${id}`));
    assert.deepEqual(all.filter((pair) => !covered.has(pair)), []);
  }
  assert.deepEqual(failed, []);
});
