// The API page (/api/docs): Swagger UI, drawn from the OpenAPI document the page names.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    // No deep-link anchors: they would sit inside the buttons that open each operation.
    deepLinking: false,
    // The plain layout: no top bar asking for another document's address.
    layout: "BaseLayout",
    // Tags and operations open at first, so the page reads without clicking.
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    // No call to swagger.io's validator badge from this page.
    validatorUrl: null,
  });
});
