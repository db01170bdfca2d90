import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build is embedded in the orderflow binary and committed; the test command rebuilds
// it and fails when it differs, so it must be reproducible: no timestamps, stable names.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` against a local `orderflow serve`.
    proxy: Object.fromEntries(
      ["/order", "/orders", "/events", "/inventory", "/webhook", "/refund", "/simulate", "/healthz"].map(
        (p) => [p, "http://127.0.0.1:3000"],
      ),
    ),
  },
});
