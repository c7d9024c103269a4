// Wide tables on the organiser pages become cards on a phone: each row a block, each cell
// named by its column. This gives every cell of a table of CARD_FROM columns or more a
// data-label (its column's heading, which organiser.css shows before the cell at phone
// width) and marks the table data-cards; it also states the table's roles, which a table
// laid out as blocks would otherwise lose. Without this script the table scrolls sideways
// in its own box, as before. Rows a page adds later (a refreshed section) get labels too.
"use strict";

(function () {
  const CARD_FROM = 4;

  function headings(table) {
    const row = table.tHead && table.tHead.rows[0];
    if (!row) return null;
    const names = [];
    for (const cell of row.cells) {
      // A heading's own words: not the controls it holds, nor what it hides.
      const words = cell.cloneNode(true);
      words.querySelectorAll("[hidden], input, label, button").forEach((part) => part.remove());
      const name = words.textContent.replace(/\s+/g, " ").trim();
      for (let i = 0; i < (cell.colSpan || 1); i += 1) names.push(name);
    }
    return names;
  }

  function card(table) {
    const names = headings(table);
    if (!names || names.length < CARD_FROM) return;
    table.setAttribute("role", "table");
    for (const group of [table.tHead, ...table.tBodies, table.tFoot]) {
      if (!group) continue;
      group.setAttribute("role", "rowgroup");
      for (const row of group.rows) {
        row.setAttribute("role", "row");
        let column = 0;
        for (const cell of row.cells) {
          const heading = cell.tagName === "TH";
          if (group === table.tHead) {
            cell.setAttribute("role", "columnheader");
            if (cell.querySelector("input, button, select")) cell.dataset.control = "";
          }
          else cell.setAttribute("role", heading ? "rowheader" : "cell");
          if (group !== table.tHead && names[column] && cell.colSpan === 1) {
            cell.dataset.label = names[column];
          }
          column += cell.colSpan || 1;
        }
      }
    }
    table.dataset.cards = "";
  }

  function cardAll(root) {
    if (root.matches && root.matches("table.data-table")) card(root);
    if (root.querySelectorAll) root.querySelectorAll("table.data-table").forEach(card);
  }

  function start() {
    cardAll(document);
    new MutationObserver((changes) => {
      for (const change of changes) change.addedNodes.forEach(cardAll);
    }).observe(document.body, { subtree: true, childList: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
