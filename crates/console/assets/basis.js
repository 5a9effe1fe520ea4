// The basis bar: the slider shows the tree size it stands at; a known_at date, when given,
// takes the place of the slider; an untouched slider at the end submits nothing, so that a
// page asked for "now" keeps following the ledger.
const bar = document.querySelector("form.basis");
if (bar) {
  const slider = bar.querySelector("#basis-known-at");
  const out = bar.querySelector("#basis-known-at-out");
  const date = bar.querySelector("#basis-known-at-date");
  const given = new URLSearchParams(location.search).has("known_at") || new URLSearchParams(location.search).has("known_at_date");
  let moved = false;
  slider.addEventListener("input", () => { out.textContent = slider.value; moved = true; if (date) date.value = ""; });
  bar.addEventListener("submit", () => {
    if (date && date.value) slider.disabled = true;
    else if (!moved && !given && slider.value === slider.max) slider.disabled = true;
    for (const el of bar.querySelectorAll("input")) if (el.value === "" && el.name) el.disabled = true;
  });
}
