/// <reference types="vitest/config" />
//! The console's build: served by the platform worker under /console/, so every asset URL
//! carries that base; the manifest lets scripts/console.mjs measure the first load.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    target: "es2022",
    // Inline assets would become data: URLs for scripts or styles, which the CSP refuses.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
