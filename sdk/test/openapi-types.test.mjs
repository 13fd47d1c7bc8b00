// The SDK's types are the contract's: regenerating them from schemas/openapi.yaml must give
// the committed sdk/src/openapi.ts byte for byte.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");

test("sdk/src/openapi.ts is what openapi-typescript generates from the contract today", () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-sdk-types-"));
  try {
    const out = join(dir, "openapi.ts");
    execFileSync(join(ROOT, "node_modules/.bin/openapi-typescript"), ["schemas/openapi.yaml", "-o", out], { cwd: ROOT, stdio: "ignore" });
    const fresh = readFileSync(out, "utf8");
    const committed = readFileSync(join(ROOT, "sdk/src/openapi.ts"), "utf8");
    assert.ok(fresh === committed, "sdk/src/openapi.ts is stale: run `npx openapi-typescript schemas/openapi.yaml -o sdk/src/openapi.ts`");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
