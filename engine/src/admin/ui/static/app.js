// qbridge admin UI: keeps countdowns running (the server renders the remaining time, so the
// page is correct without this script and with any client clock; this only ticks it down),
// and posts a chosen plugin component to the API as its raw bytes, as the CLI does.
"use strict";
(function () {
  const start = Date.now();
  const items = Array.from(document.querySelectorAll("[data-remaining-ms]")).map((el) => ({
    el,
    ms: Number(el.getAttribute("data-remaining-ms")) || 0,
  }));
  function format(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? `${h}h ${pad(m)}m ${pad(sec)}s` : `${m}m ${pad(sec)}s`;
  }
  function tick() {
    const elapsed = Date.now() - start;
    for (const item of items) {
      const left = item.ms - elapsed;
      item.el.textContent = left > 0 ? format(left) : "0s (ended)";
    }
  }
  if (items.length > 0) {
    tick();
    setInterval(tick, 1000);
  }
})();

(function () {
  const form = document.getElementById("plugin-upload");
  if (!form) return;
  const notices = { activated: "plugin-activated", staged: "plugin-staged", already_active: "plugin-unchanged" };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("plugin-upload-status");
    const file = document.getElementById("plugin-file").files[0];
    const signature = document.getElementById("plugin-signature").files[0];
    if (!file) return;
    const headers = { "Content-Type": "application/wasm" };
    if (signature) {
      // A header holds one line: the .minisig file's newlines travel as the two characters \n.
      headers["X-Qbridge-Signature"] = (await signature.text()).replace(/\r\n/g, "\n").split("\n").join("\\n");
    }
    status.textContent = "Installing " + file.name + "…";
    try {
      const resp = await fetch("/api/v1/plugins", { method: "POST", headers, body: file, credentials: "same-origin" });
      const body = await resp.json().catch(() => ({}));
      if (resp.ok) {
        location.assign("/plugins?notice=" + (notices[body.outcome] || "plugin-activated"));
      } else {
        status.textContent = "Not installed: " + (body.error || "HTTP " + resp.status);
      }
    } catch (e) {
      status.textContent = "Not installed: " + e;
    }
  });
})();
