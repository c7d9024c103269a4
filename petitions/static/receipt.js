// Checks a signer's receipt in the browser, from public data only: the latest signed head's
// Ed25519 signature, the RFC 6962 inclusion proof of the receipt's leaf against its root, and
// whether the signature still counts: each leaf the server says cancels it is checked (its
// bytes, what it names, its inclusion) and, for a head of a size a browser can read, every leaf
// of the head is read and hashed up to the root, so that no cancelling leaf can be left out.
//
// Pages show entries counted from 1 (entry 1 is the log's first leaf); the API and the receipt's
// address use the leaf index, counted from 0.
"use strict";

(function () {
  const box = document.getElementById("receipt-check");
  if (!box) return;
  const result = document.getElementById("receipt-result");
  const PAGE = 1000;

  // ``lines``: the verdict, then sentences saying what was checked.
  const say = (lines, kind) => {
    const paragraphs = (Array.isArray(lines) ? lines : [lines]).map((text, at) => {
      const paragraph = document.createElement("p");
      paragraph.textContent = text;
      if (at === 0) paragraph.className = "verdict";
      return paragraph;
    });
    result.replaceChildren(...paragraphs);
    result.className = kind ? `check-${kind}` : "";
  };

  const when = (iso) =>
    new Intl.DateTimeFormat(undefined, {
      day: "numeric",
      month: "long",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    }).format(new Date(iso));
  const count = (n) => n.toLocaleString();
  const entries = (n) => `${count(n)} ${n === 1 ? "entry" : "entries"}`;

  const hexToBytes = (hex) => {
    if (!/^([0-9a-f]{2})*$/.test(hex)) throw new Error("not hex");
    return new Uint8Array(hex.match(/../g)?.map((pair) => parseInt(pair, 16)) ?? []);
  };
  const bytesToHex = (bytes) =>
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const b64ToBytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const sha256 = async (...parts) => {
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    const joined = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
  };
  const leafHashOf = (bytes) => sha256(new Uint8Array([0]), bytes);
  const nodeHash = (left, right) => sha256(new Uint8Array([1]), left, right);

  // RFC 9162, section 2.1.3.2.
  async function rootFromProof(index, size, leafHash, path) {
    if (index >= size) return null;
    let fn = index;
    let sn = size - 1;
    let r = leafHash;
    for (const p of path) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn >>= 1;
            sn >>= 1;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    return sn === 0 ? r : null;
  }

  // The RFC 6962 root of the leaf hashes: pairing neighbours level by level, a last odd node
  // rising unchanged, gives the same tree as the RFC's split at the largest power of two.
  async function rootOf(hashes) {
    let level = hashes;
    while (level.length > 1) {
      const pairs = [];
      for (let at = 0; at + 1 < level.length; at += 2) pairs.push(nodeHash(level[at], level[at + 1]));
      const next = await Promise.all(pairs);
      if (level.length % 2 === 1) next.push(level[level.length - 1]);
      level = next;
    }
    return level[0];
  }

  function headMessage(slug, head) {
    // The same canonical JSON the server signs: sorted keys, no spaces.
    return new TextEncoder().encode(
      `{"petition":${JSON.stringify(slug)},"root_hash":${JSON.stringify(head.root_hash)},` +
        `"size":${head.size},"timestamp":${JSON.stringify(head.timestamp)}}`,
    );
  }

  const decodeLeaf = (bytes) => JSON.parse(new TextDecoder().decode(bytes));
  const cancels = (fields, index) =>
    (fields.type === "invalidation" || fields.type === "withdrawal") && fields.cancels === index;

  async function included(proofUrl, index, size, leafHash) {
    const response = await fetch(`${proofUrl}?index=${index}&size=${size}`);
    if (!response.ok) return false;
    const proof = await response.json();
    const root = await rootFromProof(index, size, leafHash, proof.audit_path.map(hexToBytes));
    return root;
  }

  // A cancelling leaf as the server gives it, checked: its bytes hash to its leaf hash, and
  // they name the receipt's leaf. Null when it does not check out.
  async function checkedCancellation(item, index) {
    const bytes = b64ToBytes(item.leaf_input);
    const hash = await leafHashOf(bytes);
    if (bytesToHex(hash) !== item.leaf_hash) return null;
    const fields = decodeLeaf(bytes);
    if (!cancels(fields, index) || fields.index !== item.index) return null;
    return { index: item.index, hash, fields, reasonText: item.reason_text };
  }

  // Every leaf of the head, read page by page and hashed up to the root; the leaves among them
  // that cancel ``index``, or null if they do not lead to the head's root.
  async function cancellationsInWholeLog(leavesUrl, head, index) {
    const hashes = [];
    const found = [];
    while (hashes.length < head.size) {
      const limit = Math.min(PAGE, head.size - hashes.length);
      const response = await fetch(`${leavesUrl}?start=${hashes.length}&limit=${limit}`);
      if (!response.ok) return null;
      const page = await response.json();
      if (page.leaves.length === 0) return null;
      for (const leaf of page.leaves.slice(0, head.size - hashes.length)) {
        if (leaf.index !== hashes.length) return null;
        const bytes = b64ToBytes(leaf.leaf_input);
        hashes.push(leafHashOf(bytes));
        const fields = decodeLeaf(bytes);
        if (cancels(fields, index)) found.push({ index: leaf.index, fields });
      }
    }
    const root = await rootOf(await Promise.all(hashes));
    return bytesToHex(root) === head.root_hash ? found : null;
  }

  async function check() {
    const { slug, index, leafHash, publicKey, headUrl, proofUrl } = box.dataset;
    const { leavesUrl, cancellationsUrl } = box.dataset;
    const browserLimit = Number.parseInt(box.dataset.browserLimit, 10);
    const leafIndex = /^[0-9]+$/.test(index) ? Number.parseInt(index, 10) : NaN;
    if (!Number.isSafeInteger(leafIndex) || !/^[0-9a-f]{64}$/.test(leafHash)) {
      say(
        "This receipt is incomplete: it needs its index in the log and its 64-character leaf " +
          "hash, as in the link on the page that confirmed your signature.",
        "bad",
      );
      return;
    }
    const entry = leafIndex + 1;
    say("Checking…");
    const headResponse = await fetch(headUrl);
    if (!headResponse.ok) {
      say("The log has no signed head yet; try again in a few seconds.", "bad");
      return;
    }
    const head = await headResponse.json();
    const key = await crypto.subtle.importKey(
      "raw", b64ToBytes(publicKey), { name: "Ed25519" }, false, ["verify"],
    );
    const signed = await crypto.subtle.verify(
      { name: "Ed25519" }, key, b64ToBytes(head.signature), headMessage(slug, head),
    );
    if (!signed) {
      say("The latest head's signature does not verify with the published key.", "bad");
      return;
    }
    const signedAt = when(head.timestamp);
    if (leafIndex >= head.size) {
      say(
        `The latest signed head covers ${entries(head.size)} and yours is entry ${count(entry)}: ` +
          "it is newer than the head. Heads are signed every few seconds; check again shortly.",
      );
      return;
    }
    const root = await included(proofUrl, leafIndex, head.size, hexToBytes(leafHash));
    if (root === false) {
      say("The server did not give a proof for this leaf.", "bad");
      return;
    }
    if (root === null || bytesToHex(root) !== head.root_hash) {
      say("The proof does not lead to the signed root: your entry is NOT in this head.", "bad");
      return;
    }
    const inHead =
      `Entry ${count(entry)} of the log is included in the head of ${entries(head.size)} ` +
      `signed on ${signedAt} (root ${head.root_hash.slice(0, 16)}…).`;

    const cancellationsResponse = await fetch(`${cancellationsUrl}?index=${leafIndex}`);
    if (!cancellationsResponse.ok) {
      say(["Your signature is in the log, but the server did not say whether it still counts.",
        inHead], "bad");
      return;
    }
    const reported = (await cancellationsResponse.json()).cancelled_by;
    const cancellations = [];
    for (const item of reported) {
      const checked = await checkedCancellation(item, leafIndex);
      if (checked === null) {
        say([`The server's entry ${count(item.index + 1)}, said to cancel yours, does not ` +
          "check out: its bytes do not match its hash or do not name your entry.", inHead], "bad");
        return;
      }
      cancellations.push(checked);
    }

    let wholeLog = null;
    if (head.size <= browserLimit) {
      wholeLog = await cancellationsInWholeLog(leavesUrl, head, leafIndex);
      if (wholeLog === null) {
        say(["The entries the server gave do not lead to the signed root, so whether your " +
          "signature still counts could not be checked.", inHead], "bad");
        return;
      }
      const known = new Set(cancellations.map((item) => item.index));
      const hidden = wholeLog.filter((item) => !known.has(item.index));
      if (hidden.length > 0) {
        say([`Your signature no longer counts, and the server did not say so: entry ` +
          `${count(hidden[0].index + 1)} of the signed head cancels it.`, inHead], "bad");
        return;
      }
    }

    const current = cancellations.filter((item) => item.index < head.size);
    const pending = cancellations.filter((item) => item.index >= head.size);
    const cancelling = current[0] ?? pending[0];
    if (cancelling) {
      const lines = [
        "Your signature was in the log, but it no longer counts.",
        `Entry ${count(cancelling.index + 1)}, added on ${when(cancelling.fields.time)}, ` +
          `cancels it. The published reason: ${cancelling.reasonText}.`,
      ];
      if (current.length > 0) {
        const proof = await included(proofUrl, cancelling.index, head.size, cancelling.hash);
        if (!proof || bytesToHex(proof) !== head.root_hash) {
          say(["The proof of the entry cancelling yours does not lead to the signed root.",
            inHead], "bad");
          return;
        }
        lines.push(
          `Your browser checked that both your entry ${count(entry)} and entry ` +
            `${count(cancelling.index + 1)} are in the head of ${entries(head.size)} signed ` +
            `on ${signedAt}.`,
        );
      } else {
        lines.push(
          `${inHead} The cancelling entry is newer than that head; check again shortly to ` +
            "see it proved.",
        );
      }
      say(lines, "cancelled");
      return;
    }

    const lines = ["Your signature is in the log and still counts.", inHead];
    if (wholeLog !== null) {
      lines.push(
        `Your browser read all ${entries(head.size)} of that head, checked them against its ` +
          "root, and found none that cancels yours.",
      );
    } else {
      lines.push(
        `The server says no entry cancels yours. The log has ${entries(head.size)}, more than ` +
          `the ${count(browserLimit)} your browser reads, so it did not check that itself: ` +
          "the verifier on the results page does.",
      );
    }
    say(lines, "ok");
  }

  const run = () =>
    check().catch((error) => say(`The check could not run: ${error.message}`, "bad"));
  document.getElementById("receipt-run").addEventListener("click", run);
  run();
})();
