// The membership roll pages: refuse a file over the size limit before it is sent, and follow an
// import's progress by polling its JSON endpoint, then open the report when it is done.
"use strict";

(function () {
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 30000;

  function checkFileSize() {
    const input = document.getElementById("roll-file");
    const message = document.getElementById("roll-file-size-error");
    if (!input || !message) return;
    const limit = Number(input.dataset.maxBytes);
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      const tooBig = Boolean(file && limit && file.size > limit);
      const text = tooBig
        ? `${file.name} is larger than the ${input.dataset.maxSize} a browser upload may be.`
        : "";
      input.setCustomValidity(text);
      message.textContent = text;
      message.hidden = !tooBig;
    });
  }

  function followProgress() {
    const box = document.getElementById("roll-progress");
    if (!box) return;
    const url = box.dataset.progressUrl;
    const bar = document.getElementById("roll-progress-bar");
    const message = document.getElementById("roll-progress-message");

    const show = (status) => {
      if (status.percent !== null && status.total_bytes) {
        bar.max = status.total_bytes;
        bar.value = status.bytes_read;
        bar.textContent = `${status.percent}%`;
      } else {
        // Not reading (waiting, checking, merging): a bar that says "busy" without a figure.
        bar.removeAttribute("value");
        bar.textContent = "";
      }
      if (message.textContent !== status.message) message.textContent = status.message;
    };

    let failures = 0;
    const poll = async () => {
      let status;
      try {
        const response = await fetch(url, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          message.textContent = "This page can no longer follow the import: refresh it.";
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        status = await response.json();
      } catch {
        // The server may be busy (a 503 during a long import on SQLite) or restarting: wait
        // longer after each failure, up to a cap, instead of asking every second.
        failures += 1;
        window.setTimeout(poll, Math.min(POLL_MS * 2 ** failures, MAX_BACKOFF_MS));
        return;
      }
      failures = 0;
      show(status);
      if (status.state === "done") {
        window.location.assign(status.report_url || status.page_url);
        return;
      }
      window.setTimeout(poll, POLL_MS);
    };

    window.setTimeout(poll, POLL_MS);
  }

  checkFileSize();
  followProgress();
})();
