// The invitations page: every ~2 seconds, while a run is still going, fetch every run's
// progress and update its bar, numbers, state and which of its buttons show.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_BACKOFF_MS = 60000;
  var failures = 0;
  var table = document.getElementById("runs");
  if (!table || !window.fetch) {
    return;
  }
  var url = table.getAttribute("data-progress-url");
  var numberFormat = new Intl.NumberFormat("en-GB");

  function setText(element, text) {
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  function showAction(row, action, visible) {
    var form = row.querySelector('form[data-action="' + action + '"]');
    if (form) {
      form.hidden = !visible;
    }
  }

  function update(run) {
    var row = table.querySelector('tr[data-run="' + run.id + '"]');
    if (!row) {
      return;
    }
    var bar = row.querySelector('[data-field="bar"]');
    if (bar) {
      bar.max = Math.max(run.total, 1);
      bar.value = run.sent;
    }
    setText(
      row.querySelector('[data-field="numbers"]'),
      numberFormat.format(run.sent) + " of " + numberFormat.format(run.total) + " sent"
    );
    setText(row.querySelector('[data-field="state"]'), run.state_label);
    var skipped = row.querySelector('[data-field="skipped"]');
    if (skipped) {
      skipped.hidden = !run.skipped;
      setText(
        skipped,
        numberFormat.format(run.skipped) +
          " skipped: they opted out, signed or left the roll meanwhile"
      );
    }
    var error = row.querySelector('[data-field="error"]');
    if (error) {
      error.hidden = !run.error;
      setText(error, run.error || "");
    }
    showAction(row, "pause", run.state === "sending" || run.state === "retrying");
    showAction(row, "resume", run.state === "paused");
    showAction(row, "cancel", run.active);
  }

  function poll() {
    if (document.hidden) {
      // Nobody is looking: ask again later, without a request.
      window.setTimeout(poll, POLL_MS);
      return;
    }
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status >= 400 && response.status < 500) {
          // Signed out, or the petition is gone: a reload shows why; polling would not.
          return null;
        }
        if (!response.ok) {
          throw new Error("progress answered " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (!data) {
          return;
        }
        failures = 0;
        data.runs.forEach(update);
        // Paused runs wait for a person, who reloads the page by pressing a button.
        var going = data.runs.some(function (run) {
          return run.state === "sending" || run.state === "retrying";
        });
        if (going) {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () {
        // A network blip or a deploy: wait longer after each failure, up to a cap.
        failures += 1;
        window.setTimeout(poll, Math.min(POLL_MS * Math.pow(2, failures), MAX_BACKOFF_MS));
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
