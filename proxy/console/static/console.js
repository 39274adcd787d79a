// The console page: polls /console/api/state and draws tables and inline SVG charts.
"use strict";

const POLL_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";
const DAY = 86400;

function el(tag, attrs, parent, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function when(epoch) {
  return epoch == null ? "—" : new Date(epoch * 1000).toLocaleString();
}

function duration(seconds) {
  if (seconds == null) return "—";
  if (seconds < 10) return `${seconds.toPrecision(2)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * DAY) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / DAY).toFixed(1)} days`;
}

function percent(ratio) {
  return `${(100 * ratio).toFixed(1)} %`;
}

function number(n) {
  return Math.round(n).toLocaleString();
}

const COMPACT = new Intl.NumberFormat(undefined, { notation: "compact" });

const STATE_BADGES = {
  ok: "ok", expiring: "warn", expired: "warn", missing: "bad", needs_reauthorization: "bad",
};

function facts(parent, rows) {
  const list = el("dl", { class: "facts" }, parent);
  for (const [label, value] of rows) {
    el("dt", {}, list, label);
    const dd = el("dd", {}, list);
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
  }
}

function tokenBadge(token) {
  const span = el("span", {});
  const kind = token.needs_reauthorization ? "bad" : STATE_BADGES[token.state] || "warn";
  el("span", { class: `badge ${kind}`, "data-state": token.state }, span,
    token.needs_reauthorization ? "needs re-authorization" : token.state);
  if (token.fix) el("code", { class: "fix" }, span, token.fix.replace(/^run: /, ""));
  return span;
}

function legend(parent, items) {
  const box = el("div", { class: "legend" }, parent);
  for (const [cls, label] of items) {
    const item = el("span", {}, box);
    el("i", { class: cls }, item);
    item.appendChild(document.createTextNode(label));
  }
}

// Calls by the month's end at the rate spent so far (the pacer forecasts with the same rate).
function monthEndCalls(budget, now) {
  const elapsed = Math.max(now - budget.month_start, 1);
  return budget.used * (budget.month_end - budget.month_start) / elapsed;
}

function pacedText(interval) {
  if (interval == null) return "no refresh affordable until next month";
  if (interval === 0) return "not paced: replies refresh when they go stale";
  return `each live key refreshed every ${duration(interval)}`;
}

// Month burn-down: budget left at each day's end, the even line the budget allows, the
// forecast at this month's rate, and the calls of each day as bars.
function burndown(parent, budget, now) {
  const W = 560, H = 220, L = 56, R = 12, T = 12, B = 26;
  const span = budget.month_end - budget.month_start;
  const x = (t) => L + ((t - budget.month_start) / span) * (W - L - R);
  const y = (left) => T + (1 - left / budget.limit) * (H - T - B);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "burndown", role: "img",
    "aria-label": `Month budget of ${budget.tenant}` }, parent);
  el("svg:line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }, svg);
  el("svg:line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }, svg);
  el("svg:text", { x: L - 6, y: T + 4, "text-anchor": "end" }, svg, COMPACT.format(budget.limit));
  el("svg:text", { x: L - 6, y: H - B, "text-anchor": "end" }, svg, "0");
  const days = Math.round(span / DAY);
  for (let d = 0; d < days; d += 7) {
    el("svg:text", { x: x(budget.month_start + d * DAY), y: H - 8, "text-anchor": "middle" },
      svg, `day ${d + 1}`);
  }
  const most = Math.max(1, ...budget.per_day);
  const barWidth = Math.max(2, (W - L - R) / days - 2);
  const bars = el("svg:g", { class: "days" }, svg);
  budget.per_day.forEach((calls, i) => {
    const h = (calls / most) * (H - T - B) * 0.3;
    const rect = el("svg:rect", { class: "day-bar", x: x(budget.month_start + i * DAY) + 1,
      y: H - B - h, width: barWidth, height: h }, bars);
    el("svg:title", {}, rect, `day ${i + 1}: ${number(calls)} calls`);
  });
  el("svg:polyline", { class: "allowed",
    points: `${x(budget.month_start)},${y(budget.limit)} ${x(budget.month_end)},${y(0)}` }, svg);
  const points = [[budget.month_start, budget.limit]];
  let spent = 0;
  budget.per_day.forEach((calls, i) => {
    spent += calls;
    const end = Math.min(budget.month_start + (i + 1) * DAY, now);
    points.push([end, budget.limit - spent]);
  });
  el("svg:polyline", { class: "spent",
    points: points.map(([t, left]) => `${x(t)},${y(Math.max(0, left))}`).join(" ") }, svg);
  const spentDots = el("svg:g", { class: "points" }, svg);
  for (const [t, left] of points.slice(1)) {
    const dot = el("svg:circle", { class: "point", cx: x(t), cy: y(Math.max(0, left)), r: 3 },
      spentDots);
    el("svg:title", {}, dot, `${number(left)} calls left at ${when(t)}`);
  }
  const left = budget.limit - budget.used;
  const until = budget.exhausts_at ?? budget.month_end;
  const atEnd = budget.exhausts_at ? 0 : Math.max(0, budget.limit - monthEndCalls(budget, now));
  el("svg:polyline", { class: "forecast",
    points: `${x(now)},${y(Math.max(0, left))} ${x(until)},${y(atEnd)}` }, svg);
  legend(parent, [["spent", "budget left"], ["allowed", "what the budget allows"],
    ["forecast", "forecast"], ["day-bar", "calls per day"]]);
}

function tenantCard(parent, tenant, now) {
  const card = el("article", { class: "tenant", "data-tenant": tenant.name }, parent);
  const title = el("h2", {}, card, tenant.name);
  el("span", { class: "plan" }, title, `${tenant.plan} plan`);
  const token = tenant.token, budget = tenant.budget;
  facts(card, [
    ["Token", tokenBadge(token)],
    ["Valid until", when(token.valid_until)],
    ["Refresh due", when(token.refresh_due)],
    ["Refresh token age", token.refresh_token_obtained == null ? "—"
      : `${duration(now - token.refresh_token_obtained)} (renewed after ${duration(window.keepAliveAge)} unused)`],
    ["v4 app", budget.app_tenants.length > 1
      ? `${budget.app}, budget shared by ${budget.app_tenants.join(", ")}` : budget.app],
    ["Month budget", `${number(budget.used)} of ${number(budget.limit)} used, ${number(budget.remaining)} left`],
    ["Forecast", budget.exhausts_at ? `runs out ${when(budget.exhausts_at)}`
      : `lasts the month (${number(monthEndCalls(budget, now))} calls by month end)`],
    ["Paced refresh interval", pacedText(budget.paced_interval)],
  ]);
  for (const block of tenant.blocks) blockNotice(card, tenant.name, block);
  burndown(card, budget, now);
}

// An upstream 429 block of the tenant's app, with a button that clears it.
function blockNotice(parent, tenantName, block) {
  const notice = el("p", { class: "block" }, parent, `Blocked: ${block.text} `);
  const button = el("button", { type: "button" }, notice, "Clear block");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const response = await fetch("/console/api/clear-block", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ tenant: tenantName }),
    });
    notice.textContent = response.ok ? "Block cleared" : `Clearing failed (${response.status})`;
  });
}

function trafficChart(parent, hours) {
  const W = 900, H = 200, L = 48, R = 12, T = 12, B = 24;
  const series = ["upstream", "hit", "stale"];
  const most = Math.max(1, ...hours.flatMap((h) => series.map((s) => h[s])));
  const x = (i) => L + (i / Math.max(1, hours.length - 1)) * (W - L - R);
  const y = (v) => T + (1 - v / most) * (H - T - B);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "traffic", role: "img",
    "aria-label": "Upstream calls, cache hits and stale answers per hour" }, parent);
  el("svg:line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }, svg);
  el("svg:text", { x: L - 6, y: T + 4, "text-anchor": "end" }, svg, COMPACT.format(most));
  el("svg:text", { x: L - 6, y: H - B, "text-anchor": "end" }, svg, "0");
  hours.forEach((h, i) => {
    if (i % 6 === 0 || i === hours.length - 1) {
      const label = new Date(h.start * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      const anchor = i === hours.length - 1 ? "end" : i === 0 ? "start" : "middle";
      el("svg:text", { x: x(i), y: H - 6, "text-anchor": anchor }, svg, label);
    }
  });
  for (const name of series) {
    el("svg:polyline", { class: name,
      points: hours.map((h, i) => `${x(i)},${y(h[name])}`).join(" ") }, svg);
    const dots = el("svg:g", {}, svg);
    hours.forEach((h, i) => {
      const dot = el("svg:circle", { class: `${name} point`, cx: x(i), cy: y(h[name]), r: 2.5 }, dots);
      el("svg:title", {}, dot, `${name}: ${number(h[name])} (hour from ${when(h.start)})`);
    });
  }
  legend(parent, [["upstream", "upstream calls"], ["hit", "cache hits"], ["stale", "stale answers"]]);
}

function rows(table, items, cells, emptyText) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  if (items.length === 0) {
    el("td", { colspan: table.querySelectorAll("th").length, class: "empty" },
      el("tr", {}, body), emptyText);
    return;
  }
  for (const item of items) {
    const tr = el("tr", {}, body);
    for (const [value, cls] of cells(item)) el("td", cls ? { class: cls } : {}, tr, value);
  }
}

function render(state) {
  window.keepAliveAge = state.keep_alive_age;
  document.getElementById("updated").textContent = `updated ${when(state.now)}`;
  const tenants = document.getElementById("tenants");
  tenants.replaceChildren();
  for (const tenant of state.tenants) tenantCard(tenants, tenant, state.now);
  const traffic = document.getElementById("traffic");
  traffic.replaceChildren();
  trafficChart(traffic, state.traffic);
  rows(document.getElementById("clients"), state.clients, (c) => [
    [c.name], [c.kind], [number(c.requests_today), "num"], [percent(c.upstream_share), "num"],
    [percent(c.error_rate), "num"], [when(c.last_seen)],
  ], "no clients configured");
  rows(document.getElementById("errors"), state.errors, (e) => [
    [when(e.at)], [e.status], [e.endpoint], [number(e.count), "num"],
  ], "no upstream errors recently");
}

async function poll() {
  try {
    const response = await fetch("/console/api/state", { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      window.location.reload();  // the session ended: back to the login form
      return;
    }
    if (response.ok) render(await response.json());
    else document.getElementById("updated").textContent = `state unavailable (${response.status})`;
  } catch (error) {
    document.getElementById("updated").textContent = "proxy unreachable; retrying";
  }
  setTimeout(poll, POLL_MS);
}

poll();
