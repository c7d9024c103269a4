// "Copy link" beside a petition's link (templates/_share.html). The button is hidden until this
// script runs: without it the link stays in its read-only field, to select and copy by hand.
"use strict";

(function () {
  function copied(status, text) {
    status.textContent = text;
  }

  function copyByHand(field) {
    // Where the Clipboard API is not allowed (an insecure origin, an old browser), copy the
    // selected text the older way; if even that fails, the link is left selected.
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (error) {
      return false;
    }
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    const field = document.getElementById(button.dataset.copy);
    const status = button.closest(".share-link").querySelector(".share-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      const done = function () {
        copied(status, "Link copied. Paste it into a message or a post.");
      };
      const failed = function () {
        if (copyByHand(field)) {
          done();
        } else {
          copied(status, "Copying did not work here: the link is selected, copy it by hand.");
        }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, failed);
      } else {
        failed();
      }
    });
  });

  document.querySelectorAll(".share-copy input[readonly]").forEach(function (field) {
    field.addEventListener("focus", function () {
      field.select();
    });
  });
})();
