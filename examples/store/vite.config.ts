//! The store example's build: a plain Vite + React app that examples/shared/backend.mjs serves
//! from dist/. No inline scripts or data: URLs, so the backend's strict CSP needs no exception.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
