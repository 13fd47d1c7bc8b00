// The console's first-load budget counts the entry chunk and what it imports statically, not
// the chunks it loads on demand (scripts/console.mjs).

import assert from "node:assert/strict";
import { test } from "node:test";
import { FIRST_LOAD_BUDGET_GZ, firstLoadFiles } from "../scripts/console.mjs";

test("the first load is the entry and its static imports, transitively, each once", () => {
  const manifest = {
    "index.html": { file: "assets/index.js", isEntry: true, imports: ["_vendor.js"], dynamicImports: ["src/dashboard.tsx"] },
    "_vendor.js": { file: "assets/vendor.js", imports: ["_shared.js"] },
    "_shared.js": { file: "assets/shared.js", imports: ["_vendor.js"] },
    "src/dashboard.tsx": { file: "assets/dashboard.js", isDynamicEntry: true, imports: ["index.html"] },
  };

  assert.deepEqual(firstLoadFiles(manifest), ["assets/index.js", "assets/vendor.js", "assets/shared.js"]);
  assert.equal(FIRST_LOAD_BUDGET_GZ, 200_000);
});

test("a manifest without an entry is refused", () => {
  assert.throws(() => firstLoadFiles({ "a.js": { file: "a.js" } }), /no entry/);
});
