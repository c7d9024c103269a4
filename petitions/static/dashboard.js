// The organisers' dashboard: every few seconds, fetch the figures (live.json) and swap in the
// sections whose figures changed. A section holding the keyboard focus is left alone until the
// focus moves on, so that nobody loses their place; open <details> stay open. The count itself
// is kept live by live_count.js.
"use strict";

(function () {
  const root = document.querySelector("[data-dashboard]");
  if (!root) return;
  const POLL_MS = 5000;
  const MAX_BACKOFF_MS = 60000;
  const url = root.dataset.liveJson;
  const status = root.querySelector("[data-dashboard-status]");
  const updated = root.querySelector("[data-updated] time");
  let delay = POLL_MS;
  let timer = null;
  let inFlight = false;
  let stopped = false;

  function swap(element, section) {
    if (element.dataset.digest === section.digest) return;
    if (element.contains(document.activeElement)) return; // next time, once the focus has left
    const open = Array.from(element.querySelectorAll("details"), (details) => details.open);
    element.innerHTML = section.html;
    element.querySelectorAll("details").forEach((details, index) => {
      if (open[index]) details.open = true;
    });
    element.dataset.digest = section.digest;
  }

  function show(data) {
    for (const [name, section] of Object.entries(data.sections)) {
      const element = root.querySelector(`[data-section="${name}"]`);
      if (element) swap(element, section);
    }
    if (updated && data.computed_at) {
      updated.dateTime = data.computed_at;
      updated.textContent = `${data.computed_at.slice(11, 19)} UTC`;
    }
  }

  function schedule() {
    if (stopped || document.hidden || timer !== null || inFlight) return;
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    timer = null;
    if (stopped || inFlight || document.hidden) return;
    inFlight = true;
    try {
      const response = await fetch(url, {
        cache: "no-store",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        stopped = true;
        status.textContent = "The figures are no longer updating: reload the page (you may need to sign in again).";
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      show(await response.json());
      delay = POLL_MS;
      status.textContent = "";
    } catch (error) {
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      status.textContent = "Could not update the figures; trying again.";
    } finally {
      inFlight = false;
      schedule();
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    clearTimeout(timer);
    timer = null;
    poll();
  });
  schedule();
})();
