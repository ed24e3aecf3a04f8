// Receipt verification in the browser (RFC 9162 §2.1.3-2.1.4, C2SP signed-note and
// tlog-cosignature), written for this page: SHA-256 and Ed25519 come from WebCrypto;
// where the browser has no Ed25519, the signatures are checked by the hub (and said so).
"use strict";
(() => {
  const enc = new TextEncoder();
  const DASH = "\u2014 ";

  function b64(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  function same(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  async function sha256(...parts) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
  }
  const leafHash = (entry) => sha256(Uint8Array.of(0), entry);
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or an error.
  async function inclusionRoot(index, size, leaf, proof) {
    if (!(index < size)) throw new Error("the index is beyond the tree size");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Error("the inclusion proof is too long");
      if (odd(fn) || fn === sn) {
        r = await nodeHash(p, r);
        while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn); sn = half(sn);
    }
    if (sn !== 0) throw new Error("the inclusion proof is too short");
    return r;
  }

  // RFC 9162 §2.1.4.2: whether proof shows the tree of size n2 extends that of n1.
  async function consistent(n1, n2, r1, r2, proof) {
    if (n1 === n2) return proof.length === 0 && same(r1, r2);
    if (n1 < 1 || n1 > n2 || proof.length === 0) return false;
    let path = proof;
    if ((n1 & (n1 - 1)) === 0) path = [r1, ...proof];
    let fn = n1 - 1, sn = n2 - 1;
    while (odd(fn)) { fn = half(fn); sn = half(sn); }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr); sr = await nodeHash(c, sr);
        while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn); sn = half(sn);
    }
    return sn === 0 && same(fr, r1) && same(sr, r2);
  }

  // A C2SP note: its text (to the last blank line, with its newline) and signature lines.
  function splitNote(note) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0) throw new Error("the checkpoint has no signatures");
    const text = note.slice(0, cut + 1);
    const sigs = note.slice(cut + 2).split("\n").filter((l) => l).map((line) => {
      if (!line.startsWith(DASH)) throw new Error("a signature line is malformed");
      const [name, sig] = line.slice(DASH.length).split(" ");
      return { name, bytes: b64(sig) };
    });
    const lines = text.split("\n");
    return { text, sigs, origin: lines[0], size: Number(lines[1]), root: b64(lines[2]) };
  }

  function parseKey(vkey) {
    const [name, hex, ...rest] = vkey.trim().split("+");
    const raw = b64(rest.join("+")); // base64 may itself hold "+"
    if (raw.length !== 33) throw new Error(`the key of ${name} is malformed`);
    return { name, id: hex, alg: raw[0], pub: raw.slice(1), text: vkey.trim() };
  }
  const hexOf = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  let ed25519 = null; // null: not tried; false: this browser lacks it
  async function edVerify(pub, sig, message) {
    if (ed25519 === false) return null;
    try {
      const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
      ed25519 = true;
      return await crypto.subtle.verify({ name: "Ed25519" }, key, sig, message);
    } catch (err) {
      if (err && err.name === "NotSupportedError") { ed25519 = false; return null; }
      throw err;
    }
  }

  // Verify one note signature by key; true/false, or null when left to the server.
  async function signedBy(note, key) {
    const found = note.sigs.find((s) => s.name === key.name && hexOf(s.bytes.slice(0, 4)) === key.id);
    if (!found) return false;
    const text = enc.encode(note.text);
    if (key.alg === 0x01) return edVerify(key.pub, found.bytes.slice(4), text);
    if (key.alg === 0x04) {
      const body = found.bytes.slice(4);
      if (body.length !== 72) return false;
      let ts = 0n;
      for (const b of body.slice(0, 8)) ts = (ts << 8n) | BigInt(b);
      const message = concat(enc.encode(`cosignature/v1\ntime ${ts}\n`), text);
      return edVerify(key.pub, body.slice(8), message);
    }
    return false;
  }

  function step(list, ok, text) {
    const li = document.createElement("li");
    li.textContent = (ok === true ? "✔ " : ok === false ? "✘ " : "… ") + text;
    li.className = ok === false ? "error" : "";
    list.appendChild(li);
  }

  async function serverCheck(receiptText) {
    const answer = await fetch("/api/v1/ledger/receipts/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ receipt: receiptText }),
    });
    return answer.json();
  }

  async function verify(receiptText, steps) {
    let receipt;
    try { receipt = JSON.parse(receiptText); } catch (err) { throw new Error("the receipt is not JSON"); }
    const logKey = parseKey(document.getElementById("log-key").textContent);
    const witnessKeys = Array.from(document.querySelectorAll(".witness-key"), (el) => parseKey(el.textContent));
    if (receipt.log_key.trim() !== logKey.text) throw new Error("the receipt names another log key than this hub publishes");
    step(steps, true, "the receipt names the log key this hub publishes");
    const note = splitNote(receipt.checkpoint);
    if (note.origin !== logKey.name) throw new Error("the checkpoint is for another log");
    const entry = enc.encode(receipt.entry);
    const root = await inclusionRoot(receipt.index, note.size, await leafHash(entry), receipt.inclusion_proof.map(b64));
    if (!same(root, note.root)) throw new Error("the inclusion proof does not lead to the checkpoint's root");
    step(steps, true, `entry ${receipt.index} is included in the log of ${note.size} entries (SHA-256 here)`);
    const logSigned = await signedBy(note, logKey);
    let byServer = false;
    if (logSigned === false) throw new Error("the checkpoint is not signed by the log's key");
    if (logSigned === null) {
      const answer = await serverCheck(receiptText);
      if (!answer.valid) throw new Error(`the hub found the signature invalid: ${answer.detail}`);
      byServer = true;
      step(steps, null, "this browser has no Ed25519: the log's signature was checked by the hub");
    } else {
      step(steps, true, "the checkpoint is signed by the log's key (Ed25519 here)");
    }
    let cosigned = 0;
    for (const key of witnessKeys) {
      const ok = await signedBy(note, key);
      if (ok) { cosigned += 1; step(steps, true, `co-signed by witness ${key.name}`); }
      else if (ok === null) step(steps, null, `witness ${key.name}: cosignature left to the hub`);
    }
    if (witnessKeys.length && !cosigned && !byServer) step(steps, null, "no witness had co-signed this checkpoint yet");
    const latest = splitNote(await (await fetch("/log/checkpoint")).text());
    if (latest.size > note.size) {
      const p = await (await fetch(`/api/v1/ledger/proofs/consistency?old=${note.size}&new=${latest.size}`)).json();
      if (!(await consistent(note.size, latest.size, note.root, latest.root, p.proof.map(b64)))) {
        throw new Error("today's log does not extend the receipt's checkpoint: report this");
      }
      const latestSigned = await signedBy(latest, logKey);
      if (latestSigned === false) throw new Error("today's checkpoint is not signed by the log");
      step(steps, true, `still in today's log of ${latest.size} entries (consistency proof checked here)`);
    } else {
      step(steps, true, "the receipt's checkpoint is today's");
    }
    return JSON.parse(receipt.entry);
  }

  const form = document.getElementById("verify-form");
  if (!form) return;
  const file = document.getElementById("receipt-file");
  file.addEventListener("change", async () => {
    if (file.files.length) document.getElementById("receipt-text").value = await file.files[0].text();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("result");
    const steps = document.getElementById("steps");
    steps.textContent = "";
    result.className = "";
    result.textContent = "Checking…";
    try {
      const entry = await verify(document.getElementById("receipt-text").value, steps);
      const what = entry.kind === "consent"
        ? `pooling ${entry.pooling}, research ${entry.research}, recorded by ${entry.recorded_by}`
        : `access by ${entry.who} for ${entry.purpose}`;
      result.className = "notice";
      result.textContent = `Receipt verified: ${what}.`;
      result.dataset.outcome = "verified";
    } catch (err) {
      result.className = "error";
      result.textContent = `Receipt NOT verified: ${err.message}`;
      result.dataset.outcome = "failed";
    }
  });
})();
