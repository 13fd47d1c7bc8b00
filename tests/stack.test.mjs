// The local stack itself: state survives a restart, stopping leaves no workerd behind, and
// every worker listens on its own port.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, WORKERS, freePorts, startStack } from "../scripts/stack.mjs";
import { testStack, workerdChildren } from "./support/stack.mjs";

test("rows written before a restart are there after it, and migrations are not re-run", async () => {
  // Arrange
  const dir = mkdtempSync(join(tmpdir(), "tollgate-restart-"));
  try {
    const first = await testStack({ persistDir: dir });
    const db = await first.d1();
    await db
      .prepare("INSERT INTO platforms (id, issuer, subject, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)")
      .bind("plt_restart", "https://issuer.test", "dev-1", Date.now())
      .run();
    await first.stop();

    // Act
    const second = await testStack({ persistDir: dir });
    const row = await (await second.d1()).prepare("SELECT subject FROM platforms WHERE id = ?1").bind("plt_restart").first();
    const applied = await (await second.d1()).prepare("SELECT COUNT(*) AS n FROM d1_migrations").first();
    await second.stop();

    // Assert
    assert.equal(row?.subject, "dev-1");
    const files = readdirSync(join(ROOT, "migrations")).filter((f) => f.endsWith(".sql"));
    assert.equal(applied.n, files.length, "each migration is recorded once");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("stopping the stack leaves no workerd process behind", async () => {
  const before = workerdChildren();
  const stack = await testStack();
  assert.ok(workerdChildren().length > before.length, "the stack runs a workerd child while up");

  await stack.stop();

  assert.deepEqual(workerdChildren(), before);
});

test("each worker answers on the port it was given, and only as itself", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-ports-"));
  const ports = {};
  const free = await freePorts(WORKERS.length);
  WORKERS.forEach((worker, i) => (ports[worker] = free[i]));
  const stack = await startStack({ persistDir: dir, ports, quiet: true });
  try {
    for (const worker of WORKERS) {
      assert.equal(stack.urls[worker], `http://127.0.0.1:${ports[worker]}`);
      const res = await fetch(`${stack.urls[worker]}/health`);
      assert.equal((await res.json()).worker, worker);
    }
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
