// /docs: start Swagger UI (served from /static/swagger, no CDN) on this server's OpenAPI schema.
// No deep links: Swagger puts them inside each operation's button (a link in a button reaches no one).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl, domNode: root, deepLinking: false,
    presets: [window.SwaggerUIBundle.presets.apis], layout: "BaseLayout",
  });
  // Swagger's group titles are h3 under its h2 title... after our page's own h1-less header: say they are
  // level 2, in order, and keep saying so as Swagger redraws.
  // Swagger's controls get the names a screen reader needs (axe-core finds nothing on this page either).
  const fix = () => {
    root.querySelectorAll("h3.opblock-tag:not([aria-level])").forEach((h) => h.setAttribute("aria-level", "2"));
    root.querySelectorAll("h4:not([aria-level])").forEach((h) => h.setAttribute("aria-level", "3"));
    root.querySelectorAll("h5:not([aria-level])").forEach((h) => h.setAttribute("aria-level", "4"));
    root.querySelectorAll(".copy-to-clipboard > button:not([aria-label])").forEach((b) => b.setAttribute("aria-label", "Copy to the clipboard"));
    root.querySelectorAll(".curl:not([tabindex])").forEach((pre) => pre.setAttribute("tabindex", "0"));
    root.querySelectorAll("img:not([alt])").forEach((img) => img.setAttribute("alt", "The answer's image"));
    root.querySelectorAll("tr input:not([aria-label]), tr select:not([aria-label]), tr textarea:not([aria-label])").forEach((el) => {
      const row = el.closest("tr");
      const name = row.dataset.propertyName || row.dataset.paramName || (row.querySelector(".parameter__name") || {}).textContent;
      if (name) el.setAttribute("aria-label", name.replace("*", "").trim());
    });
  };
  new MutationObserver(fix).observe(root, { childList: true, subtree: true });
});
