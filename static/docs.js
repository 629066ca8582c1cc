// /docs: start Swagger UI (served from /static/swagger, no CDN) on this server's OpenAPI schema.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl, domNode: root, deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis], layout: "BaseLayout",
  });
});
