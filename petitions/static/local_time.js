// Writes each <time datetime="..."> of the page in the reader's own time zone and language; the
// server's text (in UTC) stays for readers without JavaScript.
"use strict";

(function () {
  const format = new Intl.DateTimeFormat(undefined, {
    day: "numeric",
    month: "long",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });
  for (const element of document.querySelectorAll("main time[datetime]")) {
    const moment = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) element.textContent = format.format(moment);
  }
})();
