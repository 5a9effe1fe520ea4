// Proof badges: each `[data-proof-event]` gets its event's inclusion bundle and is checked
// by verify.js against the pinned key (localStorage), or until one is pinned the key this
// server announces, labelled so. The checkpoint badge checks the signature and the witnesses'
// cosignatures (against the witness keys the server is configured with, labelled so).
import { checkInclusion, parseKey, parseWitnessKey, openCheckpoint } from "./verify.js";

const PIN = "ikrar.pinned-key";

function pinned() {
  try { return localStorage.getItem(PIN); } catch { return null; }
}

function set(badge, state, text) {
  badge.dataset.proof = state;
  badge.textContent = text;
}

/** "cosigned by a, b (2 of 3 witnesses …)", or what is known of the other signatures. */
function witnessed(cp, witnessTexts) {
  const n = witnessTexts?.length ?? 0;
  if (n === 0) return `${cp.cosignatures} witness cosignatures`;
  const by = cp.cosignedBy.length ? `cosigned by ${cp.cosignedBy.join(", ")}` : "cosigned by no witness";
  return `${by} (${cp.cosignedBy.length} of ${n} witnesses announced by this server, checked here)`;
}

function keyFor(announced) {
  const pin = pinned();
  if (pin) return { text: pin, label: "pinned key" };
  if (announced) return { text: announced, label: "key announced by this server" };
  return null;
}

async function checkEvent(badge) {
  const id = badge.dataset.proofEvent;
  let answer;
  try {
    const res = await fetch(`/ui/api/proof/${encodeURIComponent(id)}`, { credentials: "same-origin" });
    answer = await res.json();
    if (!res.ok || answer.pending) { set(badge, "pending", `proof pending: ${answer.pending ?? answer.error?.message ?? res.status}`); return; }
  } catch (e) { set(badge, "pending", "proof pending: the server did not answer"); return; }
  const key = keyFor(answer.announced_key);
  if (!key) { set(badge, "pending", "proof pending: no verifier key is known"); return; }
  try {
    const ok = await checkInclusion(answer.bundle, key.text, answer.witness_keys ?? []);
    if (ok.eventId !== id) throw new Error("the bundle is for another event");
    set(badge, "verified", `verified: tree size ${ok.treeSize}, ${ok.keyName} (${key.label}), ${witnessed(ok, answer.witness_keys)}`);
  } catch (e) {
    set(badge, "failed", `failed: ${e.message}`);
  }
}

async function checkCheckpoint(badge) {
  try {
    const res = await fetch("/ui/api/checkpoint", { credentials: "same-origin" });
    const answer = await res.json();
    if (!res.ok || answer.pending) { set(badge, "pending", `signature pending: ${answer.pending ?? res.status}`); return answer; }
    const key = keyFor(answer.announced_key);
    if (!key) { set(badge, "pending", "no verifier key is known"); return answer; }
    const witnesses = await Promise.all((answer.witness_keys ?? []).map(parseWitnessKey));
    const cp = await openCheckpoint(answer.checkpoint, await parseKey(key.text), witnesses);
    badge.dataset.proofCosignedBy = cp.cosignedBy.join(" ");
    set(badge, "verified", `verified: tree size ${cp.size}, ${cp.origin} (${key.label}), ${witnessed(cp, answer.witness_keys)}`);
    return answer;
  } catch (e) {
    set(badge, "failed", `failed: ${e.message}`);
    return null;
  }
}

function keyPanel(announced) {
  const inUse = document.getElementById("key-in-use");
  if (!inUse) return;
  const pin = pinned();
  inUse.textContent = pin
    ? `Proofs are checked against your pinned key: ${pin}`
    : announced
      ? `Proofs are checked against the key announced by this server: ${announced}. Pin it, or the key you got from the ledger's publisher, to stop trusting this server for it.`
      : "No verifier key is known yet.";
  const form = document.getElementById("pin-form");
  const text = document.getElementById("pin-key");
  form?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await parseKey(text.value); localStorage.setItem(PIN, text.value.trim()); location.reload(); }
    catch (e) { inUse.textContent = `Not pinned: ${e.message}`; }
  });
  document.getElementById("pin-announced")?.addEventListener("click", () => {
    if (announced) { localStorage.setItem(PIN, announced); location.reload(); }
  });
  document.getElementById("unpin")?.addEventListener("click", () => { localStorage.removeItem(PIN); location.reload(); });
}

async function run() {
  let announced = null;
  for (const b of document.querySelectorAll("[data-proof-checkpoint]")) {
    const answer = await checkCheckpoint(b);
    announced = answer?.announced_key ?? announced;
  }
  keyPanel(announced);
  const badges = Array.from(document.querySelectorAll("[data-proof-event]"));
  // A few at a time: a long trail should not open hundreds of requests at once.
  const queue = badges.slice();
  const workers = Array.from({ length: 4 }, async () => {
    while (queue.length) await checkEvent(queue.shift());
  });
  await Promise.all(workers);
}

run();
