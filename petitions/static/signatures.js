// The signatures list: a box that selects every counted signature on the page, and a count of
// what is selected. Without this script the page works the same, one box at a time.
(function () {
  "use strict";

  function init() {
    var form = document.getElementById("selection-form");
    var all = document.getElementById("select-page");
    var count = document.getElementById("selected-count");
    if (!form) {
      return;
    }
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input.select-signature"));

    function update() {
      var chosen = boxes.filter(function (box) { return box.checked; }).length;
      if (count) {
        count.textContent = chosen === 0 ? "" :
          chosen + (chosen === 1 ? " signature selected on this page" : " signatures selected on this page");
      }
      if (all) {
        all.checked = boxes.length > 0 && chosen === boxes.length;
        all.indeterminate = chosen > 0 && chosen < boxes.length;
      }
    }

    if (all && boxes.length > 0) {
      all.hidden = false;
      var label = document.querySelector("label[for='select-page']");
      if (label) {
        label.hidden = false;
      }
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
