// Account page: copy the new token, or hand it to the OCR page (this browser's storage).
"use strict";

(function () {
  function say(msg) {
    const out = document.getElementById("copy-status");
    if (out) out.textContent = msg;
  }

  async function copy(input) {
    try {
      await navigator.clipboard.writeText(input.value);
      say("Copied.");
    } catch (e) {
      input.focus();
      input.select();
      const ok = document.execCommand && document.execCommand("copy");
      say(ok ? "Copied." : "Selected: press Ctrl+C (or \u2318C) to copy.");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-copy]").forEach((b) =>
      b.addEventListener("click", () => copy(document.getElementById(b.dataset.copy))),
    );
    document.querySelectorAll("[data-use-token]").forEach((b) =>
      b.addEventListener("click", () => {
        const value = document.getElementById(b.dataset.useToken).value;
        try {
          localStorage.setItem("ocrkit.token", value);
          say("The OCR page will use this token in this browser.");
        } catch (e) {
          say("This browser does not let the page keep the token.");
        }
      }),
    );
  });
})();
