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
  if (result.cold_start) {
    const exploring = result.items.some((i) => i.explore) ? ", with a new item to explore" : "";
    notes.push(`A new visitor: no history yet, so these are the most popular and trending items${exploring}.`);
  }
  if (result.degraded.length) notes.push(`Degraded answer (${result.degraded.join("; ")}).`);
  notice.textContent = notes.join(" ");
  notice.hidden = notes.length === 0;
  notice.dataset.coldStart = String(result.cold_start);

  $("rec-meta").textContent =
    `model ${result.model_version} · ${result.took_ms.toFixed(1)} ms` + (result.cached ? " · cached" : "");

  const list = $("recs");
  const previous = new Set(shownIds);
  list.replaceChildren();
  for (const [index, item] of result.items.entries()) {
    const rank = index + 1;
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
          el("span", { class: "rank", text: `${rank}` }),
          el("span", {}, el("span", { class: "title", text: item.title }),
            fresh ? el("span", { class: "new-tag", text: "new" }) : null,
            item.explore ? el("span", { class: "explore-tag", "data-testid": "explore", text: "exploring" }) : null),
          el("span", { class: "score", title: "relevance (higher is better)", text: item.score.toFixed(3) }),
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

// ---- landing: the dataset, sample users, title search ---------------------------------------

function month(ts) {
  return new Date(ts * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short" });
}

function pickUser(userId) {
  $("user-input").value = userId;
  shownIds = [];
  setStatus("");
  return guarded(() => loadUser(userId));
}

async function showOverview() {
  const o = await api("GET", "/v1/overview");
  const span = o.first_event === null ? "" : `, events from ${month(o.first_event)} to ${month(o.last_event)}`;
  $("dataset-facts").textContent =
    `Dataset ${o.dataset}: ${o.users.toLocaleString()} users, ${o.items.toLocaleString()} items, ` +
    `${o.training_events.toLocaleString()} training events${span}.` +
    (o.event_clock === "data" ? " Your clicks are timed on the data's clock, from its last event on." : "");
  const visitor = `visitor-${Math.random().toString(36).slice(2, 8)}`;
  const samples = [...o.sample_users.map((s) => [s.user_id, `${s.user_id} · ${s.kind}, ${s.events} events`]), [visitor, "a new visitor"]];
  $("sample-users").replaceChildren(
    ...samples.map(([id, label]) =>
      el("button", { type: "button", class: "chip", "data-testid": "sample-user", dataset: { userId: id }, text: label, onclick: () => pickUser(id) }),
    ),
  );
  $("user-suggestions").replaceChildren(...samples.map(([id]) => el("option", { value: id })));
  if (!o.sample_users.length) setStatus("Type one of your user ids to begin (imported datasets list no sample users).");
}

async function searchTitles(text) {
  const found = await api("GET", `/v1/items?q=${encodeURIComponent(text)}&k=8`);
  const list = $("search-results");
  list.hidden = false;
  list.replaceChildren(
    ...found.items.map((hit) =>
      el(
        "li",
        { "data-testid": "search-hit", dataset: { itemId: hit.item_id } },
        el("button", { type: "button", class: "link", title: "show similar items", text: hit.title, onclick: () => guarded(() => loadSimilar(hit.item_id)) }),
        el("span", { class: "muted", text: ` ${hit.genres.join(", ")}` }),
      ),
    ),
  );
  if (!found.items.length) list.append(el("li", { class: "empty", text: `No title contains “${text}”.` }));
}

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
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("search-input").value.trim();
    if (text) guarded(() => searchTitles(text));
  });
  guarded(showOverview);
  guarded(showHealth);
  const m = /^#user=(.+)$/.exec(location.hash);
  if (m) {
    const user = decodeURIComponent(m[1]);
    $("user-input").value = user;
    guarded(() => loadUser(user));
  }
});
