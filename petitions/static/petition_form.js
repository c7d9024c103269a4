// The new-petition form: fill the web address (slug) from the title as it is typed, until the
// organiser edits the address themselves. The hidden slug_from_title field tells the server
// that the address shown was made here, so that it makes it (unique) from the title itself.
(function () {
  "use strict";

  var MAX_LENGTH = 64;
  var slug = document.querySelector("input[data-follows]");
  var title = slug && document.getElementById(slug.getAttribute("data-follows"));
  var marker = document.getElementById("slug_from_title");
  if (!slug || !title || !marker) {
    return;
  }

  // Lowercase ASCII letters, digits and hyphens, cut at a word to 64 characters: accents are
  // dropped ("Ça" gives "ca"); other scripts give nothing, and the server makes the address.
  function fromTitle(text) {
    var words = text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/['\u2019]/g, "")
      .split(/[^a-z0-9]+/)
      .filter(Boolean);
    var made = "";
    for (var i = 0; i < words.length; i += 1) {
      var next = made ? made + "-" + words[i] : words[i];
      if (next.length > MAX_LENGTH) {
        return made || next.slice(0, MAX_LENGTH);
      }
      made = next;
    }
    return made;
  }

  // Following the title: on a fresh form, or when the server sent back one it was following.
  var following = marker.value === "1" || slug.value === "" || slug.value === fromTitle(title.value);

  function follow() {
    if (following) {
      slug.value = fromTitle(title.value);
      marker.value = "1";
    }
  }

  title.addEventListener("input", follow);
  slug.addEventListener("input", function () {
    // Emptied, it follows the title again; anything typed is the organiser's own.
    following = slug.value === "";
    marker.value = "";
  });
  follow();
})();
