// The dashboard's live feed: new events arrive over Server-Sent Events and are put at the top
// of the list, with the same test hooks as the rows the server drew. Pause stops the stream.
const list = document.getElementById("feed");
const state = document.getElementById("feed-state");
const toggle = document.getElementById("feed-toggle");
const MAX_ROWS = 50;

function row(e) {
  const li = document.createElement("li");
  li.className = "event";
  li.id = `event-${e.event_id}`;
  li.dataset.eventId = e.event_id;
  li.dataset.retracted = "false";
  const head = document.createElement("div");
  head.className = "event-head";
  const pos = document.createElement("span");
  pos.className = "pos";
  pos.textContent = `#${e.position}`;
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = e.what;
  head.append(pos, " ", what);
  const meta = document.createElement("p");
  meta.className = "sub";
  const [kind, id] = String(e.subject).split("/");
  const link = document.createElement("a");
  link.href = `/ui/${kind === "meeting" ? "meetings" : "commitments"}/${id}`;
  link.textContent = String(id);
  meta.append(`${e.actor} · ${e.recorded_at} · `, link);
  li.append(head, meta);
  return li;
}

if (list && list.dataset.feedLive === "true" && "EventSource" in window) {
  let from = Number(list.dataset.feedFrom);
  let source = null;
  const start = () => {
    source = new EventSource(`/ui/api/feed?from=${from}`);
    source.onopen = () => { state.textContent = "Live: new events appear at the top."; };
    source.onmessage = (m) => {
      const e = JSON.parse(m.data);
      from = e.position + 1;
      list.prepend(row(e));
      while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
    };
    source.onerror = () => { state.textContent = "Live updates interrupted; retrying."; };
  };
  start();
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    if (source) { source.close(); source = null; toggle.textContent = "Resume"; state.textContent = "Paused."; }
    else { start(); toggle.textContent = "Pause"; }
  });
}
