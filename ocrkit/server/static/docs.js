// Starts Swagger UI on this server's OpenAPI document. A file, not an inline script: the
// docs page is served with a Content-Security-Policy that allows scripts from 'self' only.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No request to validator.swagger.io (or anywhere but this server).
    validatorUrl: null,
  });
});
