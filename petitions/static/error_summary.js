// A page that refused a form opens on its error summary (templates/_errors.html): the focus goes
// to the summary, so that a screen reader reads it and a keyboard starts from it. A link in it
// moves the focus to its field and scrolls the field's label into view with it, as GOV.UK's
// error summary does.
"use strict";

(function () {
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) {
    return;
  }
  summary.focus();

  summary.addEventListener("click", function (event) {
    const link = event.target.closest("a[href^='#']");
    if (!link) {
      return;
    }
    const field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) {
      return;
    }
    event.preventDefault();
    const label = document.querySelector(`label[for="${field.id}"]`);
    const legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    (legend || label || field).scrollIntoView();
    field.focus({ preventScroll: true });
  });
})();
