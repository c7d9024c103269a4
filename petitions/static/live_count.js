// The live count on a petition's page and its dashboard: polls the petition's count endpoint
// (GET /api/v1/petitions/<slug>/count, cheap and cached by the server) about once a second and
// updates the figures the page rendered. Changes are announced to screen readers politely and
// at most every ANNOUNCE_MS, never on every poll. Without this script the page shows the count
// as it was when loaded.
"use strict";

(function () {
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 30000;
  const ANNOUNCE_MS = 10000;
  const number = (value) => Number(value).toLocaleString("en-US");

  function percentOf(count, threshold) {
    return threshold ? Math.min(100, Math.floor((count * 100) / threshold)) : 0;
  }

  function watch(box) {
    const url = box.dataset.liveCount;
    const text = box.querySelector(".progress-text");
    let value = box.querySelector("[data-live-value]");
    let reachedShown = "reached" in box.dataset;
    const percent = box.querySelector("[data-live-percent]");
    const bar = box.querySelector("[data-live-progress]");
    const note = box.querySelector("[data-live-status]");
    const announcer = box.querySelector("[data-live-announce]");
    let threshold = Number(box.dataset.threshold) || 0;
    let shown = Number((value.textContent || "0").replace(/[^0-9]/g, ""));
    let state = null;
    let announced = shown;
    let lastAnnounced = 0;
    let announceTimer = null;
    let delay = POLL_MS;
    let timer = null;
    let inFlight = false;
    let stopped = false;

    function say(text) {
      announcer.textContent = text;
      lastAnnounced = Date.now();
    }

    function announce() {
      if (announceTimer !== null || shown === announced) return;
      const wait = lastAnnounced + ANNOUNCE_MS - Date.now();
      if (wait > 0) {
        announceTimer = setTimeout(() => {
          announceTimer = null;
          announce();
        }, wait);
        return;
      }
      announced = shown;
      say(`${number(shown)} of ${number(threshold)} signatures.`);
    }

    // A page loaded before the threshold was met says "N of M signatures needed"; once it is
    // met, the words become the server's: "N signatures: threshold of M reached on <date>"
    // (the date is localised by local_time.js, which watches for new <time> elements).
    function tellReached(data) {
      const count = document.createElement("strong");
      count.className = "count";
      count.dataset.liveValue = "";
      count.textContent = number(data.count);
      const words = [count, ` signatures: threshold of ${number(threshold)} reached`];
      if (data.reached_at) {
        const when = document.createElement("time");
        when.dateTime = data.reached_at;
        when.dataset.style = "date";
        when.textContent = data.reached_at.slice(0, 10);
        words.push(" on ", when);
      }
      text.replaceChildren(...words, " ", ...(percent ? [percent] : []));
      value = count;
      reachedShown = true;
    }

    function show(data) {
      if (typeof data.threshold === "number" && data.threshold > 0) threshold = data.threshold;
      const reached = data.reached_at || (threshold && data.count >= threshold);
      if (!reachedShown && reached && data.state !== "closed" && text) tellReached(data);
      if (state !== null && state !== data.state && data.state === "triggered") {
        say("The threshold has been reached.");
      }
      state = data.state;
      // A closed petition's count no longer moves.
      if (state === "closed") stopped = true;
      if (data.count === shown) return;
      shown = data.count;
      const pct = percentOf(shown, threshold);
      value.textContent = number(shown);
      if (percent) percent.textContent = `(${pct}%)`;
      if (bar) {
        bar.value = Math.min(shown, threshold);
        bar.textContent = `${pct}%`;
      }
      box.dispatchEvent(new CustomEvent("live-count", { bubbles: true, detail: data }));
      announce();
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
        // no-cache: the answer may be kept for a second by caches; the count must be fresh.
        const response = await fetch(url, {
          cache: "no-cache",
          headers: { Accept: "application/json" },
        });
        if (response.status === 404) {
          stopped = true;
          if (note) note.hidden = true;
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        show(await response.json());
        delay = POLL_MS;
        if (note) {
          note.textContent = "The count updates live.";
          note.hidden = false;
        }
      } catch (error) {
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
        if (note) {
          note.textContent = "Live updates interrupted; trying again.";
          note.hidden = false;
        }
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
    poll();
  }

  document.querySelectorAll("[data-live-count]").forEach(watch);
})();
