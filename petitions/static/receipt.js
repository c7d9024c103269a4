// Checks a signer's receipt in the browser, from public data only: the latest signed head's
// Ed25519 signature, then the RFC 6962 inclusion proof of the receipt's leaf against its root.
"use strict";

(function () {
  const box = document.getElementById("receipt-check");
  if (!box) return;
  const result = document.getElementById("receipt-result");
  const say = (text, ok) => {
    result.textContent = text;
    result.className = ok === undefined ? "" : ok ? "check-ok" : "check-bad";
  };

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

  function headMessage(slug, head) {
    // The same canonical JSON the server signs: sorted keys, no spaces.
    return new TextEncoder().encode(
      `{"petition":${JSON.stringify(slug)},"root_hash":${JSON.stringify(head.root_hash)},` +
        `"size":${head.size},"timestamp":${JSON.stringify(head.timestamp)}}`,
    );
  }

  async function check() {
    const { slug, index, leafHash, publicKey, headUrl, proofUrl } = box.dataset;
    const leafIndex = Number.parseInt(index, 10);
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || !/^[0-9a-f]{64}$/.test(leafHash)) {
      say("This receipt is incomplete: it needs a leaf number and a 64-character leaf hash.", false);
      return;
    }
    say("Checking…");
    const headResponse = await fetch(headUrl);
    if (!headResponse.ok) {
      say("The log has no signed head yet; try again in a few seconds.", false);
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
      say("The latest head's signature does not verify with the published key.", false);
      return;
    }
    if (leafIndex >= head.size) {
      say(
        `The latest signed head covers ${head.size} leaves and yours is number ${leafIndex}: ` +
          "it is newer than the head. Heads are signed every few seconds; check again shortly.",
      );
      return;
    }
    const proofResponse = await fetch(`${proofUrl}?index=${leafIndex}&size=${head.size}`);
    if (!proofResponse.ok) {
      say("The server did not give a proof for this leaf.", false);
      return;
    }
    const proof = await proofResponse.json();
    const root = await rootFromProof(
      leafIndex, head.size, hexToBytes(leafHash), proof.audit_path.map(hexToBytes),
    );
    if (root !== null && bytesToHex(root) === head.root_hash) {
      say(
        `Your signature is in the log: leaf ${leafIndex} is included in the head of ` +
          `${head.size} ${head.size === 1 ? "leaf" : "leaves"} signed at ${head.timestamp} ` +
          `(root ${head.root_hash.slice(0, 16)}…).`,
        true,
      );
    } else {
      say("The proof does not lead to the signed root: your leaf is NOT in this head.", false);
    }
  }

  document.getElementById("receipt-run").addEventListener("click", () => {
    check().catch((error) => say(`The check could not run: ${error.message}`, false));
  });
  check().catch((error) => say(`The check could not run: ${error.message}`, false));
})();
