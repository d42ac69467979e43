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
  <link rel="stylesheet" href="docs.css" />
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
  // Deep links would put a link inside each operation's toggle button (nested controls).
  deepLinking: false
});
// Scrolling examples must be reachable by keyboard.
new MutationObserver(function () {
  document.querySelectorAll(".body-param__example, .highlight-code > pre, .microlight").forEach(function (e) {
    if (!e.hasAttribute("tabindex")) e.setAttribute("tabindex", "0");
  });
}).observe(document.body, { subtree: true, childList: true });
`,
);
// Swagger UI's own colours fall short of WCAG AA contrast in places: darker ones.
writeFileSync(
  join(out, "docs.css"),
  `.swagger-ui .opblock .opblock-summary-method { color: #fff; }
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #0b5394; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #1e6b43; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #8a4b00; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #0f6e64; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #a3141f; }
.swagger-ui .info .title small pre, .swagger-ui .info .title small.version-stamp { background: #3b4151; }
.swagger-ui .info .title small { background: #3b4151; }
.swagger-ui .info a, .swagger-ui .info .url, .swagger-ui a.nostyle { color: #0b4f8a; }
.swagger-ui .btn { color: #1b1f1c; }
.swagger-ui .btn.authorize span { color: #1e6b43; }
.swagger-ui .btn.authorize { border-color: #1e6b43; }
.swagger-ui .btn.authorize svg { fill: #1e6b43; }
.swagger-ui .topbar { background: #1b1f1c; }
.swagger-ui .opblock-tag small, .swagger-ui .opblock-summary-description, .swagger-ui .parameter__in, .swagger-ui .prop-format { color: #3b4151; }
.swagger-ui .response-col_status, .swagger-ui .response-col_links { color: #3b4151; }
.swagger-ui .json-schema-2020-12-expand-deep-button { color: #3b4151; }
`,
);
console.log("docs: dist/docs/ (Swagger UI from swagger-ui-dist, both OpenAPI documents)");
