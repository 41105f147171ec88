// qbridge admin UI: keeps countdowns running. The server renders the remaining time, so the
// page is correct without this script and with any client clock; this only ticks it down.
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
