// The API docs page (/docs/): Swagger UI, bundled locally from swagger-ui-dist (nothing from the
// internet), rendering both services' OpenAPI documents as committed under openapi/.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ui = dirname(require.resolve("swagger-ui-dist/package.json"));
const out = join(import.meta.dirname, "..", "dist", "docs");
mkdirSync(out, { recursive: true });
for (const f of ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"]) {
  copyFileSync(join(ui, f), join(out, f));
}
for (const f of ["command.json", "query.json"]) {
  copyFileSync(join(import.meta.dirname, "..", "openapi", f), join(out, f));
}
writeFileSync(
  join(out, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>Freshline API</title>
  <link rel="stylesheet" href="swagger-ui.css" />
  <link rel="icon" href="favicon-32x32.png" />
</head>
<body>
  <main id="swagger-ui" aria-label="Freshline API reference"></main>
  <script src="swagger-ui-bundle.js"></script>
  <script src="swagger-ui-standalone-preset.js"></script>
  <script src="init.js"></script>
</body>
</html>
`,
);
writeFileSync(
  join(out, "init.js"),
  `window.ui = SwaggerUIBundle({
  urls: [
    { url: "command.json", name: "Commands (command-api)" },
    { url: "query.json", name: "Queries (query-api)" }
  ],
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  deepLinking: true
});
`,
);
console.log("docs: dist/docs/ (Swagger UI from swagger-ui-dist, both OpenAPI documents)");
