/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { resolve } from "node:path";

// One build, three pages behind the gateway: the storefront (/), the operations console
// (/ops/) and the API docs (/docs/, its renderer copied in by scripts/docs.mjs).
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: {
      input: {
        storefront: resolve(import.meta.dirname, "index.html"),
        ops: resolve(import.meta.dirname, "ops/index.html"),
      },
      // What both apps load: the libraries in one chunk (cached across the apps and releases
      // that change only our code), our shared modules in another.
      output: {
        advancedChunks: {
          groups: [
            { name: "vendor", test: /node_modules/ },
            { name: "shared", test: /\/src\/shared\// },
          ],
        },
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
