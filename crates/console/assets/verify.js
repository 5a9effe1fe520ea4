// The proof check, in the browser and trusting nothing the server says beyond the bytes it
// sends: the leaf hash of the record (RFC 9162 §2.1.1), the root from the inclusion proof
// (§2.1.3.2), and the checkpoint's Ed25519 signature (C2SP signed-note) against a key the
// reader chose. Pure functions over WebCrypto; the page code is in proof.js.

const enc = new TextEncoder();

function b64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function same(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** SHA-256(0x00 ‖ record). */
export async function leafHash(recordText) {
  return sha256(concat(new Uint8Array([0]), enc.encode(recordText)));
}

/** The root an inclusion proof leads to, or throws why it cannot (RFC 9162 §2.1.3.2). */
export async function rootFromInclusion(index, size, leaf, path) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new Error(`position ${index} is not in a tree of size ${size}`);
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
    if (sn === 0) throw new Error("the proof is longer than the tree allows");
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat(new Uint8Array([1]), p, r));
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(concat(new Uint8Array([1]), r, p));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the proof is shorter than the tree needs");
  return r;
}

/** A verifier key `name+keyid+base64(0x01 ‖ public key)`. */
export async function parseKey(text) {
  return parseTypedKey(text, 1, "an Ed25519 signed-note key");
}

/** A witness's key `name+keyid+base64(0x04 ‖ public key)` (C2SP tlog-cosignature v1). */
export async function parseWitnessKey(text) {
  return parseTypedKey(text, 4, "a cosignature v1 (0x04) key");
}

async function parseTypedKey(text, type, what) {
  // The name and the key id hold no "+", but standard base64 may.
  const t = String(text).trim();
  const a = t.indexOf("+");
  const b = a < 0 ? -1 : t.indexOf("+", a + 1);
  if (a <= 0 || b < 0) throw new Error("a verifier key is name+keyid+base64");
  const name = t.slice(0, a);
  const idHex = t.slice(a + 1, b);
  const keyB64 = t.slice(b + 1);
  let raw;
  try { raw = b64(keyB64); } catch { throw new Error("the key is not base64"); }
  if (raw.length !== 33 || raw[0] !== type) throw new Error(`the key is not ${what}`);
  const pub = raw.slice(1);
  const id = (await sha256(concat(enc.encode(name + "\n"), new Uint8Array([type]), pub))).slice(0, 4);
  const hex = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex !== idHex.toLowerCase()) throw new Error("the key id does not match the key");
  const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  return { name, id, key, text: String(text).trim() };
}

/**
 * Opens a signed checkpoint note with `key`: its origin, size and root; `cosignedBy`, the
 * names of `witnesses` (parsed witness keys) whose timestamped cosignature over the note
 * verifies; and `cosignatures`, every other signature line. A line that claims one of
 * `witnesses` (its name and key id) but does not verify makes the note fail: a forged
 * cosignature is worse than none.
 */
export async function openCheckpoint(note, key, witnesses = []) {
  const split = note.indexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint has no signature block");
  const body = note.slice(0, split + 1);
  const lines = body.split("\n");
  if (lines.length < 4) throw new Error("the checkpoint lacks origin, size or root");
  const [origin, sizeText, rootText] = lines;
  if (!/^[0-9]+$/.test(sizeText)) throw new Error("the checkpoint's size is not a number");
  const size = Number(sizeText);
  const root = b64(rootText);
  let signed = false;
  let others = 0;
  const cosignedBy = [];
  for (const line of note.slice(split + 2).split("\n")) {
    if (!line) continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error("a signature line is malformed");
    const sig = b64(m[2]);
    const witness = witnesses.find((w) => w.name === m[1] && sig.length >= 4 && same(sig.slice(0, 4), w.id));
    if (m[1] === key.name && sig.length === 68 && same(sig.slice(0, 4), key.id)) {
      if (await crypto.subtle.verify("Ed25519", key.key, sig.slice(4), enc.encode(body))) signed = true;
    } else if (witness) {
      if (!(await cosignatureVerifies(witness, sig, body))) {
        throw new Error(`the cosignature of ${witness.name} does not verify`);
      }
      if (!cosignedBy.includes(witness.name)) cosignedBy.push(witness.name);
    } else {
      others += 1;
    }
  }
  if (!signed) throw new Error(`the checkpoint is not signed by ${key.name}`);
  if (origin !== key.name) throw new Error("the checkpoint's origin is not the key's name");
  return { origin, size, root, cosignatures: others + cosignedBy.length, cosignedBy };
}

/**
 * tlog-cosignature v1: key id (4) ‖ timestamp (8, big-endian seconds) ‖ Ed25519 signature (64)
 * over `cosignature/v1\ntime <timestamp>\n` followed by the note's body.
 */
async function cosignatureVerifies(witness, sig, body) {
  if (sig.length !== 4 + 8 + 64) return false;
  let time = 0n;
  for (const b of sig.slice(4, 12)) time = (time << 8n) | BigInt(b);
  // As the Rust verifier: a time beyond a signed 64-bit integer is no time.
  if (time > 9223372036854775807n) return false;
  const message = enc.encode(`cosignature/v1\ntime ${time}\n${body}`);
  return crypto.subtle.verify("Ed25519", witness.key, sig.slice(12), message);
}

/**
 * Checks an inclusion bundle (SPEC §5) against a key text and the witnesses' key texts;
 * answers what it proves or throws why not.
 */
export async function checkInclusion(bundle, keyText, witnessTexts = []) {
  const key = await parseKey(keyText);
  const witnesses = await Promise.all(witnessTexts.map(parseWitnessKey));
  const cp = await openCheckpoint(bundle.checkpoint, key, witnesses);
  if (cp.size !== bundle.tree_size) throw new Error("the bundle's tree size is not the checkpoint's");
  let record;
  try { record = JSON.parse(bundle.record); } catch { throw new Error("the record is not JSON"); }
  if (record.position !== bundle.position) throw new Error("the record's position is not the bundle's");
  const leaf = await leafHash(bundle.record);
  const root = await rootFromInclusion(bundle.position, bundle.tree_size, leaf, bundle.inclusion.map(b64));
  if (!same(root, cp.root)) throw new Error("the proof does not lead to the signed root");
  return { treeSize: cp.size, keyName: key.name, cosignatures: cp.cosignatures, cosignedBy: cp.cosignedBy, eventId: record.event_id };
}
