// liverec web page: plain DOM, no build step. Every server text goes through textContent.
// Shared helpers (api, el, errors, the API-key form) come from common.js.
"use strict";

let currentUser = null;
let shownIds = [];

function busy(list, on) {
  list.setAttribute("aria-busy", on ? "true" : "false");
}

function tags(values, kind) {
  // kind is "genres" or "reasons"; each tag is testable as data-testid="genre" / "reason"
  const testid = kind.replace(/s$/, "");
  return el("ul", { class: `tags ${kind}` }, ...values.map((v) => el("li", { "data-testid": testid, text: v })));
}

function when(ts) {
  const d = new Date(ts * 1000);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString();
}

// ---- user: history and recommendations -------------------------------------------------------

async function loadUser(userId) {
  const recs = $("recs");
  busy(recs, true);
  try {
    const q = encodeURIComponent(userId);
    const [profile, result] = await Promise.all([
      api("GET", `/v1/users/${q}?limit=15`).catch((err) => {
        if (err.status === 404) return null; // never seen: a new user
        throw err;
      }),
      api("GET", `/v1/users/${q}/recommendations?k=10&explain=true`),
    ]);
    currentUser = userId;
    if (location.hash !== `#user=${q}`) history.replaceState(null, "", `#user=${q}`);
    renderProfile(userId, profile);
    renderRecs(result);
  } finally {
    busy(recs, false);
  }
}

function renderProfile(userId, profile) {
  const summary = $("user-summary");
  const list = $("history");
  list.replaceChildren();
  if (profile === null) {
    summary.replaceChildren(el("strong", { text: userId }), " is a new user: no events yet.");
    summary.dataset.newUser = "true";
    list.append(el("li", { class: "empty", text: "Nothing yet. Click a recommendation to start." }));
    return;
  }
  summary.dataset.newUser = "false";
  const n = profile.event_count;
  summary.replaceChildren(el("strong", { text: userId }), ` · ${n} event${n === 1 ? "" : "s"}`);
  for (const entry of profile.recent) {
    list.append(
      el(
        "li",
        { "data-testid": "history-item", dataset: { itemId: entry.item_id, type: entry.type } },
        el("span", { class: `badge ${entry.type}`, text: entry.type }),
        el("button", {
          type: "button",
          class: "link",
          title: "show similar items",
          text: entry.title,
          onclick: () => guarded(() => loadSimilar(entry.item_id)),
        }),
        el("time", { datetime: new Date(entry.ts * 1000).toISOString(), text: when(entry.ts) }),
      ),
    );
  }
}

function renderRecs(result) {
  const notice = $("rec-notice");
  const notes = [];
  if (result.cold_start) notes.push("Cold start: this user has no history yet, so these are popular and trending items.");
  if (result.degraded.length) notes.push(`Degraded answer (${result.degraded.join("; ")}).`);
  notice.textContent = notes.join(" ");
  notice.hidden = notes.length === 0;
  notice.dataset.coldStart = String(result.cold_start);

  $("rec-meta").textContent =
    `model ${result.model_version} · ${result.took_ms.toFixed(1)} ms` + (result.cached ? " · cached" : "");

  const list = $("recs");
  const previous = new Set(shownIds);
  list.replaceChildren();
  for (const item of result.items) {
    const fresh = shownIds.length > 0 && !previous.has(item.item_id);
    list.append(
      el(
        "li",
        { class: fresh ? "card fresh" : "card", "data-testid": "rec-item", dataset: { itemId: item.item_id } },
        el(
          "button",
          {
            type: "button",
            class: "pick",
            "data-testid": "rec-click",
            "aria-label": `log a click on ${item.title}`,
            onclick: () => guarded(() => clickItem(item)),
          },
          el("span", {}, el("span", { class: "title", text: item.title }),
            fresh ? el("span", { class: "new-tag", text: "new" }) : null),
          el("span", { class: "score", title: "score", text: item.score.toFixed(3) }),
        ),
        tags(item.genres, "genres"),
        tags(item.reasons, "reasons"),
        el("button", {
          type: "button",
          class: "link small",
          text: "similar items",
          onclick: () => guarded(() => loadSimilar(item.item_id)),
        }),
      ),
    );
  }
  if (!result.items.length) list.append(el("li", { class: "empty", text: "No recommendations." }));
  shownIds = result.items.map((i) => i.item_id);
}

async function clickItem(item) {
  if (currentUser === null) return;
  const user = currentUser;
  busy($("recs"), true);
  try {
    const ack = await api("POST", "/v1/events", { user_id: user, item_id: item.item_id, type: "click" });
    await loadUser(user);
    showHealth().catch(() => {}); // the header's log position is informational only
    setStatus(`logged click on ${item.title} (event #${ack.last_seq}); recommendations refreshed`);
  } finally {
    busy($("recs"), false);
  }
}

// ---- similar items -----------------------------------------------------------------------------

async function loadSimilar(itemId) {
  const list = $("similar");
  const heading = $("similar-heading");
  $("similar-input").value = itemId;
  busy(list, true);
  try {
    const result = await api("GET", `/v1/items/${encodeURIComponent(itemId)}/similar?k=8`);
    heading.textContent = `Like ${result.title}`;
    heading.hidden = false;
    list.replaceChildren();
    for (const item of result.items) {
      list.append(
        el(
          "li",
          { "data-testid": "similar-item", dataset: { itemId: item.item_id } },
          el("button", {
            type: "button",
            class: "link",
            title: "show items similar to this one",
            text: item.title,
            onclick: () => guarded(() => loadSimilar(item.item_id)),
          }),
          tags(item.reasons, "reasons"),
        ),
      );
    }
    if (!result.items.length) list.append(el("li", { class: "empty", text: "Nothing similar found." }));
  } catch (err) {
    heading.hidden = true;
    list.replaceChildren();
    throw err;
  } finally {
    busy(list, false);
  }
}

// ---- add an item ---------------------------------------------------------------------------------

async function saveItem(form) {
  const data = new FormData(form);
  const itemId = String(data.get("item_id")).trim();
  const year = String(data.get("year")).trim();
  const body = {
    title: String(data.get("title")).trim(),
    genres: String(data.get("genres"))
      .split(",")
      .map((g) => g.trim())
      .filter(Boolean),
    description: String(data.get("description")).trim(),
  };
  if (year) body.year = Number(year);
  const item = await api("PUT", `/v1/items/${encodeURIComponent(itemId)}`, body);
  const genres = item.genres.length ? ` · ${item.genres.join(", ")}` : "";
  const out = $("item-result");
  out.replaceChildren(
    "Saved ",
    el("strong", { text: item.title }),
    ` (id ${item.item_id}${item.year ? `, ${item.year}` : ""})${genres}. `,
    el("button", {
      type: "button",
      class: "link",
      text: "show similar",
      onclick: () => guarded(() => loadSimilar(item.item_id)),
    }),
  );
  $("similar-input").value = item.item_id;
  setStatus(`saved item ${item.item_id}`);
}

// ---- wiring --------------------------------------------------------------------------------------

async function showHealth() {
  const h = await api("GET", "/healthz");
  $("health").textContent = `model ${h.model_version} · log seq ${h.applied_seq}`;
}

document.addEventListener("DOMContentLoaded", () => {
  $("user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const user = $("user-input").value.trim();
    if (!user) return;
    shownIds = [];
    setStatus("");
    guarded(() => loadUser(user));
  });
  $("similar-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const item = $("similar-input").value.trim();
    if (item) guarded(() => loadSimilar(item));
  });
  $("item-form").addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => saveItem(e.target));
  });
  wireKeyForm();
  guarded(showHealth);
  const m = /^#user=(.+)$/.exec(location.hash);
  if (m) {
    const user = decodeURIComponent(m[1]);
    $("user-input").value = user;
    guarded(() => loadUser(user));
  }
});
