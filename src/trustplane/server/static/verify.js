// trustplane: verify a log entry in the browser.
//
// 1. Hash the entry's exact canonical bytes (embedded in the page) as an RFC 9162 leaf: SHA-256(0x00 || data).
// 2. Fetch the inclusion proof and walk the audit path to a root (RFC 9162 §2.1.3.2).
// 3. Compare that root with the signed tree head's root.
// 4. Check the tree head's Ed25519 signature over its canonical JSON (RFC 8785) with WebCrypto.
// Where WebCrypto is missing (plain HTTP from a non-local host) a built-in SHA-256 still checks the hashes.
(function () {
  "use strict";

  const TREE_HEAD_TYPE = "trustplane.tree_head.v1";
  const HEX64 = /^[0-9a-f]{64}$/;
  const HEX128 = /^[0-9a-f]{128}$/;

  class VerifyError extends Error {}

  // --- bytes ------------------------------------------------------------------------------------------
  function hexToBytes(hex) {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function base64ToBytes(b64) {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function concat() {
    let total = 0;
    for (const part of arguments) total += part.length;
    const out = new Uint8Array(total);
    let offset = 0;
    for (const part of arguments) { out.set(part, offset); offset += part.length; }
    return out;
  }

  function short(hex, n) {
    n = n || 16;
    return hex.length > n ? hex.slice(0, n) + "…" : hex;
  }

  function utcIso(ms) {
    return new Date(ms).toISOString();
  }

  // --- SHA-256 ----------------------------------------------------------------------------------------
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  function ror(x, n) { return (x >>> n) | (x << (32 - n)); }

  // FIPS 180-4 SHA-256 in plain JavaScript, for pages that are not a secure context (no crypto.subtle).
  function sha256Fallback(data) {
    const len = data.length;
    const padded = new Uint8Array(Math.ceil((len + 9) / 64) * 64);
    padded.set(data);
    padded[len] = 0x80;
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(len / 0x20000000));
    view.setUint32(padded.length - 4, (len * 8) >>> 0);
    const H = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    const W = new Uint32Array(64);
    for (let off = 0; off < padded.length; off += 64) {
      for (let t = 0; t < 16; t++) W[t] = view.getUint32(off + 4 * t);
      for (let t = 16; t < 64; t++) {
        const s0 = ror(W[t - 15], 7) ^ ror(W[t - 15], 18) ^ (W[t - 15] >>> 3);
        const s1 = ror(W[t - 2], 17) ^ ror(W[t - 2], 19) ^ (W[t - 2] >>> 10);
        W[t] = (W[t - 16] + s0 + W[t - 7] + s1) >>> 0;
      }
      let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (let t = 0; t < 64; t++) {
        const t1 = (h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + W[t]) >>> 0;
        const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      H[0] = (H[0] + a) >>> 0; H[1] = (H[1] + b) >>> 0; H[2] = (H[2] + c) >>> 0; H[3] = (H[3] + d) >>> 0;
      H[4] = (H[4] + e) >>> 0; H[5] = (H[5] + f) >>> 0; H[6] = (H[6] + g) >>> 0; H[7] = (H[7] + h) >>> 0;
    }
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) outView.setUint32(4 * i, H[i]);
    return out;
  }

  function hasSubtle() {
    return !!(window.crypto && window.crypto.subtle);
  }

  async function sha256(data) {
    if (hasSubtle()) return new Uint8Array(await window.crypto.subtle.digest("SHA-256", data));
    return sha256Fallback(data);
  }

  function leafHash(data) { return sha256(concat(Uint8Array.of(0), data)); }
  function nodeHash(left, right) { return sha256(concat(Uint8Array.of(1), left, right)); }

  // --- RFC 9162 §2.1.3.2 ------------------------------------------------------------------------------
  async function rootFromInclusionProof(index, size, leaf, path) {
    if (!(index >= 0 && index < size)) throw new VerifyError("index " + index + " is beyond tree size " + size);
    let fn = index, sn = size - 1, r = leaf;
    const odd = function (x) { return x % 2 === 1; };
    const half = function (x) { return Math.floor(x / 2); };
    for (const p of path) {
      if (sn === 0) {
        throw new VerifyError("the audit path is too long: " + path.length + " hashes for entry " + index +
          " in a tree of size " + size);
      }
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!odd(fn)) {
          while (fn !== 0 && !odd(fn)) { fn = half(fn); sn = half(sn); }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) {
      throw new VerifyError("the audit path is too short: " + path.length + " hashes for entry " + index +
        " in a tree of size " + size);
    }
    return r;
  }

  // The signed message: RFC 8785 canonical JSON of the head without its signature. Every value is an
  // ASCII string or a safe integer, so JSON.stringify with sorted keys and no spaces is canonical.
  function canonicalTreeHead(head) {
    const fields = {
      type: TREE_HEAD_TYPE,
      log_id: head.log_id,
      tree_size: head.tree_size,
      root_hash: head.root_hash,
      timestamp: head.timestamp,
      key_id: head.key_id,
    };
    return JSON.stringify(fields, Object.keys(fields).sort());
  }

  // --- checking server responses ----------------------------------------------------------------------
  async function fetchJSON(url) {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    } catch (err) {
      throw new VerifyError("could not reach " + url + ": " + err.message);
    }
    if (!response.ok) {
      let detail = "";
      try { detail = (await response.json()).detail || ""; } catch (err) { /* not JSON */ }
      throw new VerifyError("the server answered " + url + " with HTTP " + response.status + (detail ? ": " + detail : ""));
    }
    try {
      return await response.json();
    } catch (err) {
      throw new VerifyError(url + " did not return JSON");
    }
  }

  function checkProof(proof, index) {
    if (!proof || proof.index !== index) throw new VerifyError("the server sent a proof for another entry");
    if (!Number.isSafeInteger(proof.tree_size) || proof.tree_size <= index) {
      throw new VerifyError("the proof's tree size is not a whole number above the entry's index");
    }
    if (!HEX64.test(proof.leaf_hash || "")) throw new VerifyError("the proof's leaf hash is not 64 hex digits");
    if (!Array.isArray(proof.path)) throw new VerifyError("the proof has no audit path");
    proof.path.forEach(function (h, i) {
      if (typeof h !== "string" || !HEX64.test(h)) {
        throw new VerifyError("audit path hash " + (i + 1) + " is not a 32-byte hex hash");
      }
    });
  }

  function checkHead(head) {
    if (!head || typeof head !== "object") throw new VerifyError("the server sent no signed tree head");
    if (head.type !== TREE_HEAD_TYPE) throw new VerifyError("the tree head's type is " + JSON.stringify(head.type));
    for (const field of ["log_id", "key_id", "root_hash"]) {
      if (!HEX64.test(head[field] || "")) throw new VerifyError("the tree head's " + field + " is not 64 hex digits");
    }
    for (const field of ["tree_size", "timestamp"]) {
      if (!Number.isSafeInteger(head[field]) || head[field] < 0) {
        throw new VerifyError("the tree head's " + field + " is not a non-negative integer");
      }
    }
    if (!HEX128.test(head.signature || "")) throw new VerifyError("the tree head's signature is not 64 bytes of hex");
  }

  // --- the whole check --------------------------------------------------------------------------------
  // Returns {state: "ok" | "partial" | "fail", headline, checks: [{status, text}]}.
  async function verifyEntry(section) {
    const checks = [];
    const add = function (status, text) { checks.push({ status: status, text: text }); };
    const index = Number(section.dataset.index);
    const proofUrl = section.dataset.proofUrl;
    try {
      const subtle = hasSubtle();
      if (!subtle) {
        add("warn", "WebCrypto is not available on this page (it needs HTTPS or localhost); " +
          "hashing with the built-in SHA-256, and the signature cannot be checked here.");
      }

      // 1. The leaf.
      const data = base64ToBytes(section.dataset.canonical);
      const leafHex = bytesToHex(await leafHash(data));
      if (leafHex !== section.dataset.leafHash) {
        throw new VerifyError("the entry's canonical bytes hash to " + short(leafHex) +
          ", not to the leaf hash shown on this page (" + short(section.dataset.leafHash) + ")");
      }
      add("ok", "Leaf hash recomputed from the entry's " + data.length + " canonical bytes: " + leafHex);

      // 2. The proof and the signed head it is for.
      let proof = await fetchJSON(proofUrl + "?index=" + index);
      checkProof(proof, index);
      let head = proof.tree_head;
      if (!head) {
        // No head signed at exactly this size: prove inclusion in the latest signed head instead.
        head = await fetchJSON(section.dataset.headUrl);
        checkHead(head);
        proof = await fetchJSON(proofUrl + "?index=" + index + "&tree_size=" + head.tree_size);
        checkProof(proof, index);
      }
      checkHead(head);
      if (proof.leaf_hash !== leafHex) {
        throw new VerifyError("the log's proof is for leaf hash " + short(proof.leaf_hash) +
          ", but this entry hashes to " + short(leafHex));
      }
      if (head.tree_size !== proof.tree_size) {
        throw new VerifyError("the proof is for a tree of size " + proof.tree_size +
          ", but the signed tree head is for size " + head.tree_size);
      }

      // 3. Walk the audit path.
      const path = proof.path.map(hexToBytes);
      const rootHex = bytesToHex(await rootFromInclusionProof(index, proof.tree_size, hexToBytes(leafHex), path));
      if (rootHex !== head.root_hash) {
        throw new VerifyError("the audit path leads to root " + short(rootHex) +
          ", but the signed tree head of size " + head.tree_size + " has root " + short(head.root_hash));
      }
      add("ok", "Audit path of " + path.length + " hash" + (path.length === 1 ? "" : "es") +
        " leads to root " + rootHex + ", the root of the tree head of size " + head.tree_size +
        " signed at " + utcIso(head.timestamp));

      // 4. The signing key.
      const keys = await fetchJSON(section.dataset.keysUrl);
      const key = Array.isArray(keys) ? keys.find(function (k) { return k && k.key_id === head.key_id; }) : undefined;
      if (!key) throw new VerifyError("the tree head names key " + short(head.key_id) + ", which the log does not list");
      if (!HEX64.test(key.public_key || "")) throw new VerifyError("the published key " + short(head.key_id) + " is not 32 bytes of hex");
      const publicKey = hexToBytes(key.public_key);
      const kidHex = bytesToHex(await sha256(publicKey));
      if (kidHex !== key.key_id) {
        throw new VerifyError("the published public key hashes to " + short(kidHex) + ", not to its key id " + short(key.key_id));
      }
      add("ok", "Key id " + key.key_id + " is the SHA-256 of the published public key");

      // 5. The signature.
      const included = "Entry " + index + " is included in the tree of size " + head.tree_size + ", root " + short(rootHex);
      if (!subtle) {
        return { state: "partial", headline: "⚠ " + included + "; the signature was not checked (no WebCrypto here).", checks: checks };
      }
      let cryptoKey;
      try {
        cryptoKey = await window.crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
      } catch (err) {
        if (err && err.name === "DataError") throw new VerifyError("the published key is not a valid Ed25519 public key");
        add("warn", "This browser's WebCrypto cannot verify Ed25519 signatures (" + (err && err.name || err) +
          "); check the signature offline with the CLI below.");
        return { state: "partial", headline: "⚠ " + included + "; signature not checked: this browser has no Ed25519.", checks: checks };
      }
      const message = new TextEncoder().encode(canonicalTreeHead(head));
      const valid = await window.crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, hexToBytes(head.signature), message);
      if (!valid) {
        throw new VerifyError("the tree head's Ed25519 signature is not valid for key " + short(head.key_id));
      }
      add("ok", "Ed25519 signature on the tree head is valid (key " + short(head.key_id) + ")");
      add("info", "The key came from this server; compare its id with a key you trust, or verify offline.");
      return { state: "ok", headline: "✓ " + included + "; signature valid (key " + short(head.key_id) + ").", checks: checks };
    } catch (err) {
      const reason = err instanceof VerifyError ? err.message : "unexpected error: " + (err && err.message || err);
      add("fail", reason.charAt(0).toUpperCase() + reason.slice(1));
      return { state: "fail", headline: "✗ Not verified: " + reason + (reason.endsWith("…") ? "" : "."), checks: checks };
    }
  }

  function render(box, result) {
    box.replaceChildren();
    box.dataset.state = result.state;
    const headline = document.createElement("p");
    headline.className = "headline";
    headline.textContent = result.headline;
    box.appendChild(headline);
    const list = document.createElement("ul");
    for (const check of result.checks) {
      const item = document.createElement("li");
      item.className = check.status;
      item.textContent = check.text;
      list.appendChild(item);
    }
    box.appendChild(list);
  }

  function init() {
    const section = document.getElementById("verify");
    const button = document.getElementById("verify-button");
    const box = document.getElementById("verify-result");
    if (!section || !button || !box) return;
    button.addEventListener("click", async function () {
      button.disabled = true;
      box.dataset.state = "running";
      box.textContent = "Verifying…";
      try {
        render(box, await verifyEntry(section));
      } finally {
        button.disabled = false;
      }
    });
  }

  window.TrustplaneVerify = {
    canonicalTreeHead: canonicalTreeHead,
    rootFromInclusionProof: rootFromInclusionProof,
    sha256Fallback: sha256Fallback,
    verifyEntry: verifyEntry,
    bytesToHex: bytesToHex,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
