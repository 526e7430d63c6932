// liverec operator dashboard: polls GET /v1/dashboard every 2 s and draws it (uPlot charts).
// Shared helpers (api, el, errors, the API-key form) come from common.js.
"use strict";

const REFRESH_MS = 2000;
const charts = {};

function fmt(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}

function pct(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)}%`;
}

function ago(ts) {
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function chart(name, target, series) {
  const width = Math.max(320, target.clientWidth);
  const opts = {
    width,
    height: 220,
    scales: { x: { time: true } },
    // Points too: a step with traffic between two without is a single point, not a line.
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: true, size: 4 } }))],
    axes: [{ stroke: "#8a93a3" }, { stroke: "#8a93a3" }],
  };
  const empty = [[], ...series.map(() => [])];
  charts[name] = new uPlot(opts, empty, target);
}

function drawCharts(traffic) {
  const t = traffic.series.map((p) => p.t);
  charts.traffic.setData([t, traffic.series.map((p) => p.requests_per_s), traffic.series.map((p) => p.events_per_s)]);
  charts.latency.setData([t, traffic.series.map((p) => p.p50_ms), traffic.series.map((p) => p.p99_ms)]);
}

function rows(body, items, cells) {
  body.replaceChildren(...items.map((item) => el("tr", {}, ...cells(item).map((c) => el("td", { text: c })))));
}

function drawTiles(d) {
  const last = d.traffic.series.slice(-3); // the last 30 s: a steadier "now" than one step
  const mean = (key) => last.reduce((s, p) => s + p[key], 0) / Math.max(1, last.length);
  const p99 = last.map((p) => p.p99_ms).filter((v) => v !== null);
  $("t-rps").textContent = fmt(mean("requests_per_s"));
  $("t-eps").textContent = fmt(mean("events_per_s"));
  $("t-p99").textContent = p99.length ? `${fmt(Math.max(...p99), 2)} ms` : "–";
  $("t-hit").textContent = pct(d.traffic.cache_hit_ratio);
  $("t-degraded").textContent = pct(d.traffic.degraded_rate);
  $("t-items").textContent = fmt(d.counts.catalog_items, 0);
  $("t-users").textContent = fmt(d.counts.users, 0);
  $("t-seq").textContent = fmt(d.counts.applied_seq, 0);
}

function drawModel(m) {
  const facts = [
    ["version", m.version],
    ["dataset", m.dataset],
    ["trained", `${new Date(m.trained_at * 1000).toLocaleString()} (${ago(m.trained_at)})`],
    ["training took", m.train_seconds === null ? "–" : `${fmt(m.train_seconds)} s`],
    ["training data", `${fmt(m.training_events, 0)} events · ${fmt(m.training_users, 0)} users · ${fmt(m.training_items, 0)} items (log up to ${fmt(m.log_seq_at_training, 0)})`],
    ...Object.entries(m.validation).map(([k, v]) => [`validation: ${k}`, fmt(v, 4)]),
  ];
  $("model-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v, "data-testid": `model-${k.split(":")[0].replace(/ /g, "-")}` })]));
  const body = $("components-body");
  body.replaceChildren(
    ...m.components.map((c) =>
      el(
        "tr",
        {},
        el("td", { text: c.name }),
        el("td", { text: c.train_seconds === null ? "–" : `${fmt(c.train_seconds, 2)} s` }),
        el("td", { class: "facts-cell", text: Object.entries(c.facts).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ") }),
      ),
    ),
  );
}

function interval(i, percent = true) {
  if (!i || i.value === null) return "–";
  const f = (x) => (percent ? `${(100 * x).toFixed(2)}%` : x.toFixed(3));
  return `${f(i.value)} (${f(i.lower)} to ${f(i.upper)})`;
}

function drawExperiment(report) {
  const table = document.querySelector("[data-testid=exp-arms]");
  if (report === null) {
    table.hidden = true;
    return;
  }
  const srm = report.srm_ok ? "traffic split as planned" : `sample ratio mismatch (p=${report.srm_pvalue.toFixed(4)})`;
  $("exp-summary").textContent =
    `${report.name} · ${report.mode} · ${report.status} · ${fmt(report.users, 0)} users, ` +
    `${fmt(report.exposures, 0)} exposures · ${srm} · decision: ${report.decision}`;
  table.hidden = false;
  rows($("exp-body"), report.arms, (a) => [
    a.name,
    pct(a.share),
    fmt(a.users, 0),
    fmt(a.exposures, 0),
    interval(a.ctr),
    interval(a.conversion),
    a.ctr_effect ? `${interval(a.ctr_effect.rel_effect)}${a.ctr_effect.pvalue === null ? "" : ` p=${a.ctr_effect.pvalue.toFixed(3)}`}` : "control",
  ]);
}

async function refresh() {
  const d = await api("GET", "/v1/dashboard");
  drawTiles(d);
  drawCharts(d.traffic);
  rows($("routes-body"), d.traffic.routes, (r) => [r.name, fmt(r.calls, 0), fmt(r.errors, 0), fmt(r.p50_ms, 2), fmt(r.p99_ms, 2)]);
  rows($("stages-body"), d.traffic.stages, (s) => [s.name, fmt(s.calls, 0), fmt(s.p50_ms, 2), fmt(s.p99_ms, 2)]);
  drawModel(d.model);
  drawExperiment(d.experiment);
  $("health").textContent = `model ${d.model.version} · up ${fmt(d.counts.uptime_s / 60, 1)} min · log seq ${d.counts.applied_seq}`;
  document.body.dataset.loaded = "true";
}

async function tick() {
  clearError();
  try {
    await refresh();
  } catch (err) {
    showError(err instanceof ApiError ? err.message : `unexpected problem: ${err.message || err}`);
  }
  setTimeout(tick, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  wireKeyForm();
  chart("traffic", $("chart-traffic"), [["requests/s", "#2f6fdf"], ["events/s", "#16a34a"]]);
  chart("latency", $("chart-latency"), [["p50 ms", "#8b5cf6"], ["p99 ms", "#dc2626"]]);
  tick();
});
