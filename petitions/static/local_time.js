// Every moment on a page is a <time datetime="ISO" data-style="..."> the server wrote in UTC
// (petitions/web/moments.py). This rewrites its text into the reader's own time zone with
// Intl.DateTimeFormat, in the same layout ("3 December 2026, 19:00 CET"), and keeps the
// datetime attribute. Moments a page adds or changes later (the dashboard's refreshed
// sections) are rewritten too. Without this script the page shows UTC.
"use strict";

(function () {
  const OPTIONS = {
    minute: { day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" },
    second: { day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" },
    date: { day: "numeric", month: "long", year: "numeric" },
    month: { month: "long", year: "numeric" },
    time: { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" },
  };
  const formats = {};

  function format(style) {
    if (!formats[style]) {
      formats[style] = new Intl.DateTimeFormat("en-GB", { hourCycle: "h23", ...OPTIONS[style] });
    }
    return formats[style];
  }

  function words(date, style) {
    const part = {};
    for (const { type, value } of format(style).formatToParts(date)) part[type] = value;
    const day = [part.day, part.month, part.year].filter(Boolean).join(" ");
    let clock = [part.hour, part.minute, part.second].filter(Boolean).join(":");
    if (clock && part.timeZoneName) clock += ` ${part.timeZoneName}`;
    return [day, clock].filter(Boolean).join(", ");
  }

  function localise(element) {
    const style = element.dataset.style;
    if (!OPTIONS[style] || element.dataset.localised === element.dateTime + element.textContent) return;
    const date = new Date(element.dateTime);
    if (Number.isNaN(date.getTime())) return;
    element.textContent = words(date, style);
    element.dataset.localised = element.dateTime + element.textContent;
  }

  function localiseAll(root) {
    if (root.matches && root.matches("time[data-style]")) localise(root);
    if (root.querySelectorAll) root.querySelectorAll("time[data-style]").forEach(localise);
  }

  function start() {
    localiseAll(document);
    new MutationObserver((changes) => {
      for (const change of changes) {
        const target = change.target.nodeType === Node.ELEMENT_NODE ? change.target : change.target.parentElement;
        if (target && target.closest) {
          const time = target.closest("time[data-style]");
          if (time) localise(time);
        }
        change.addedNodes.forEach(localiseAll);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["datetime"] });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
