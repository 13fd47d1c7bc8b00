// The developer guide is executable: every `curl` in docs/api.md's step-by-step section runs,
// in order, in bash against the local stack, answers the status its `<!-- run: … -->` line
// promises with a body the contract accepts, and hands the values it `keep`s to later steps.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ROOT } from "../scripts/stack.mjs";
import { checkResponse, workerOf } from "./support/contract.mjs";
import { signIn } from "./support/developer.mjs";
import { testStack } from "./support/stack.mjs";
import { connectStripe } from "./support/stripe.mjs";

const guide = readFileSync(join(ROOT, "docs", "api.md"), "utf8");
const steps = [...guide.matchAll(/<!-- run: expect (\d{3})(?:; keep ([^>]+?))? -->\s*```sh\n([\s\S]*?)```/g)].map(([, status, keep, script]) => ({
  status: Number(status),
  keep: (keep ?? "").split(/\s+/).filter(Boolean).map((pair) => pair.split("=")),
  script,
}));

// The guide's `curl` lines stay as a reader types them; the run adds the status line.
const PRELUDE = `set -euo pipefail\ncurl() { command curl -sS -w '\\n%{http_code}' "$@"; }\n`;

let stack;
before(async () => {
  stack = await testStack();
  // The console's Connect button, for the sub the guide signs in as.
  await connectStripe(stack, await signIn(stack, "you"), "test");
});
after(() => stack?.stop());

test("the guide has a runnable step for each part of an integration", () => {
  const text = steps.map((s) => s.script).join("\n");
  for (const part of ["/dev/token", "/v1/projects", "/tiers", "/api/customers", "/api/data", "/api/customer-token", "/api/create-checkout", "webhook-endpoints"]) {
    assert.ok(text.includes(part), `a step calls ${part}`);
  }
});

test("every curl in the guide answers as the guide says", () => {
  // The guide calls one base URL: the gateway, which forwards each path to its worker.
  const env = { ...process.env, TOLLGATE: stack.urls.gateway };
  for (const step of steps) {
    // Act
    const output = execFileSync("bash", ["-c", PRELUDE + step.script], { env, encoding: "utf8" });

    // Assert
    const lines = output.trimEnd().split("\n");
    const status = Number(lines.pop());
    const text = lines.join("\n");
    const [, path] = /"\$TOLLGATE([^"\s]*)"/.exec(step.script) ?? [];
    assert.ok(path !== undefined, `every step calls "$TOLLGATE/…": ${step.script}`);
    const method = /-X (\w+)/.exec(step.script)?.[1] ?? "GET";
    const resolved = path.replace(/\$(\w+)/g, (_, name) => env[name]);
    assert.equal(status, step.status, `${method} ${path}: ${text}`);
    const body = JSON.parse(text);
    checkResponse({ worker: workerOf(method, resolved), method, path: resolved, status, headers: new Headers({ "x-request-id": "req_docs" }), body, text });
    for (const [name, pointer] of step.keep) {
      const value = pointer.split(".").reduce((at, key) => at?.[key], body);
      assert.ok(value, `${method} ${path} answers ${pointer}`);
      env[name] = String(value);
    }
  }
});
