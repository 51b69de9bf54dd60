// efi-poller dashboard: reads the host's REST API and renders the fleet, a device's page,
// the latest plan with the outbox and the recent plans, and the plugins. Device data is untrusted (a CPE names
// itself): it is only ever written with textContent, never parsed as HTML.
"use strict";

const state = { token: sessionStorage.getItem("efi-token"), devices: [], timer: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

class Unauthorised extends Error {}

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401) throw new Unauthorised("the API needs a token");
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(`${path}: ${(body && body.error) || response.status}`);
  return body;
}

function showError(e) {
  const box = document.getElementById("error");
  if (e instanceof Unauthorised) {
    document.getElementById("login").hidden = false;
    box.hidden = true;
    return;
  }
  box.textContent = String(e.message || e);
  box.hidden = false;
}

function clearError() {
  document.getElementById("error").hidden = true;
}

const dash = "–";
const fmt = {
  num: (v, unit) => (v === null || v === undefined ? dash : `${Math.round(v * 10) / 10}${unit ? " " + unit : ""}`),
  rate: (bps) => {
    if (bps === null || bps === undefined) return dash;
    if (bps >= 1e6) return (bps / 1e6).toFixed(1) + " Mbit/s";
    if (bps >= 1e3) return (bps / 1e3).toFixed(1) + " kbit/s";
    return bps + " bit/s";
  },
  uptime: (s) => {
    if (s === null || s === undefined) return dash;
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
  },
  ago: (t) => {
    if (!t) return dash;
    const s = Math.max(0, Math.round(Date.now() / 1000 - t));
    return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : new Date(t * 1000).toLocaleString();
  },
  time: (t) => new Date(t * 1000).toLocaleTimeString(),
};

function badge(up) {
  return el("span", { class: "badge " + (up ? "up" : "down"), text: up ? "up" : "down" });
}

function isUp(d) {
  return !d.last_error && !!d.record;
}

function searchText(d) {
  const r = d.record || {};
  const id = r.identity || {};
  return [d.address, d.driver, r.vendor, r.model, r.hostname, r.firmware, id.mac, id.imei, id.imsi, id.serial, d.last_error]
    .filter(Boolean).join(" ").toLowerCase();
}

async function renderSummary() {
  const s = await api("/api/v1/status");
  const parts = [`${s.devices} devices`, `${s.up} up`, `${s.down} down`];
  if (s.outbox) parts.push(`outbox: ${s.outbox.pending} pending`);
  document.getElementById("summary").textContent = parts.join(" · ");
}

function fleetControls(view) {
  const old = {
    search: document.getElementById("search")?.value ?? new URLSearchParams(location.hash.split("?")[1] || "").get("q") ?? "",
    state: document.getElementById("filter-state")?.value ?? "all",
    driver: document.getElementById("filter-driver")?.value ?? "",
  };
  const search = el("input", { id: "search", type: "search", placeholder: "Search address, model, hostname, MAC, IMEI…", "aria-label": "Search the fleet" });
  search.value = old.search;
  const stateSel = el("select", { id: "filter-state", "aria-label": "State" },
    el("option", { value: "all", text: "All states" }), el("option", { value: "up", text: "Up" }), el("option", { value: "down", text: "Down" }),
    el("option", { value: "unidentified", text: "Unidentified" }));
  stateSel.value = old.state;
  const drivers = [...new Set(state.devices.map((d) => d.driver).filter(Boolean))].sort();
  const driverSel = el("select", { id: "filter-driver", "aria-label": "Driver" }, el("option", { value: "", text: "All drivers" }),
    ...drivers.map((d) => el("option", { value: d, text: d })));
  driverSel.value = drivers.includes(old.driver) ? old.driver : "";
  const count = el("span", { id: "fleet-count", class: "muted" });
  view.append(el("div", { class: "controls" }, search, stateSel, driverSel, count));
  const table = el("table", { id: "fleet" });
  view.append(table);
  const redraw = () => drawFleet(table, count, search.value, stateSel.value, driverSel.value);
  search.addEventListener("input", redraw);
  stateSel.addEventListener("change", redraw);
  driverSel.addEventListener("change", redraw);
  redraw();
  if (document.activeElement === document.body && old.search) search.focus();
}

function drawFleet(table, count, query, stateFilter, driver) {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = state.devices.filter((d) => {
    if (stateFilter === "up" && !isUp(d)) return false;
    if (stateFilter === "down" && isUp(d)) return false;
    if (stateFilter === "unidentified" && !d.unidentified) return false;
    if (driver && d.driver !== driver) return false;
    const text = searchText(d);
    return terms.every((t) => text.includes(t));
  });
  count.textContent = `${rows.length} of ${state.devices.length} devices`;
  const head = el("tr", {}, ...["Address", "State", "Driver", "Model", "Hostname", "RSRP", "SINR", "eNB/cell", "Uptime", "Polled"].map((h) => el("th", { text: h })));
  const body = rows.map((d) => {
    const r = d.record || {};
    const link = el("a", { href: "#/device/" + encodeURIComponent(d.address), text: d.address });
    return el("tr", { "data-address": d.address },
      el("td", {}, link),
      el("td", {}, badge(isUp(d))),
      el("td", { text: (d.driver || dash) + (d.unidentified ? " (unidentified)" : "") }),
      el("td", { text: r.model || dash }),
      el("td", { text: r.hostname || dash }),
      el("td", { class: "num", text: fmt.num(r.rsrp_dbm, "dBm") }),
      el("td", { class: "num", text: fmt.num(r.sinr_db, "dB") }),
      el("td", { text: r.enb_id !== undefined && r.enb_id !== null ? `${r.enb_id}/${r.cell_id ?? dash}` : dash }),
      el("td", { class: "num", text: fmt.uptime(r.uptime_s) }),
      el("td", { class: "muted", text: fmt.ago(d.polled_at_unix_s) }));
  });
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
}

const FIELDS = [
  ["Vendor", (r) => r.vendor], ["Model", (r) => r.model], ["Firmware", (r) => r.firmware], ["Hardware", (r) => r.hardware],
  ["Hostname", (r) => r.hostname], ["Description", (r) => r.description],
  ["MAC", (r) => r.identity?.mac], ["IMEI", (r) => r.identity?.imei], ["IMSI", (r) => r.identity?.imsi], ["Serial", (r) => r.identity?.serial],
  ["PLMN", (r) => r.plmn], ["ECI", (r) => r.eci], ["eNB", (r) => r.enb_id], ["Cell", (r) => r.cell_id], ["Band", (r) => r.band],
  ["EARFCN", (r) => r.earfcn], ["PCI", (r) => r.pci], ["Bandwidth", (r) => fmt.num(r.bandwidth_mhz, "MHz")],
  ["RSRP", (r) => fmt.num(r.rsrp_dbm, "dBm")], ["RSRQ", (r) => fmt.num(r.rsrq_db, "dB")], ["SINR", (r) => fmt.num(r.sinr_db, "dB")],
  ["RSSI", (r) => fmt.num(r.rssi_dbm, "dBm")], ["Connected", (r) => (r.connected === null || r.connected === undefined ? null : r.connected ? "yes" : "no")],
  ["Downlink", (r) => fmt.rate(r.rx_rate_bps)], ["Uplink", (r) => fmt.rate(r.tx_rate_bps)], ["Uptime", (r) => fmt.uptime(r.uptime_s)],
];

// A line chart of one metric over the device's history, with its value axis (in `unit`)
// and time axis labelled; null when no poll reported the metric (the caller leaves it out).
function chart(points, key, label, unit) {
  const values = points.filter((p) => p[key] !== null && p[key] !== undefined).reverse();
  if (!values.length) return null;
  const w = 460, h = 130, left = 62, right = 8, top = 8, bottom = 22;
  const ns = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const svg = svgEl("svg", { class: "chart", width: w, height: h, role: "img" });
  const last = values[values.length - 1][key];
  svg.setAttribute("aria-label", `${label} in ${unit}: ${values.length} points, latest ${fmt.num(last, unit)}`);
  const ys = values.map((p) => p[key]);
  const ts = values.map((p) => p.at_unix_s);
  const min = Math.min(...ys), max = Math.max(...ys), span = max - min || 1;
  const t0 = Math.min(...ts), t1 = Math.max(...ts), tspan = t1 - t0 || 1;
  const x = (t) => left + ((t - t0) * (w - left - right)) / tspan;
  const y = (v) => h - bottom - ((v - min) * (h - top - bottom)) / span;
  // Axes: the value axis with its extremes and unit, the time axis with its ends.
  svg.append(svgEl("line", { class: "axis", x1: left, y1: top, x2: left, y2: h - bottom }));
  svg.append(svgEl("line", { class: "axis", x1: left, y1: h - bottom, x2: w - right, y2: h - bottom }));
  svg.append(svgEl("text", { class: "tick", x: left - 4, y: top + 8, "text-anchor": "end" }, fmt.num(max, unit)));
  svg.append(svgEl("text", { class: "tick", x: left - 4, y: h - bottom, "text-anchor": "end" }, fmt.num(min, unit)));
  const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  svg.append(svgEl("text", { class: "tick", x: left, y: h - 6, "text-anchor": "start" }, clock(t0)));
  svg.append(svgEl("text", { class: "tick", x: w - right, y: h - 6, "text-anchor": "end" }, clock(t1)));
  if (values.length >= 2) {
    svg.append(svgEl("polyline", {
      points: values.map((p) => `${x(p.at_unix_s)},${y(p[key])}`).join(" "),
      stroke: key === "rsrp_dbm" ? "#1570ef" : "#7a5af8",
    }));
  } else {
    svg.append(svgEl("circle", { cx: x(ts[0]), cy: y(ys[0]), r: 3, fill: "#1570ef" }));
  }
  return el("figure", { "data-metric": key }, el("figcaption", { text: `${label}, ${unit} (${fmt.num(last, unit)} now, ${values.length} points)` }), svg);
}

async function renderDevice(view, address) {
  const [d, history] = await Promise.all([
    api("/api/v1/devices/" + encodeURIComponent(address)),
    api("/api/v1/devices/" + encodeURIComponent(address) + "/history?hours=24&limit=500").catch((e) => ({ points: [], error: e.message })),
  ]);
  const r = d.record || {};
  view.append(el("p", {}, el("a", { href: "#/", text: "← Fleet" })));
  view.append(el("h2", { id: "device-title" }, `${address} `, badge(isUp(d))));
  const meta = el("p", { class: "muted" }, `Driver ${d.driver || dash}${d.unidentified ? " (unidentified: no driver knows this model)" : ""} · polled ${fmt.ago(d.polled_at_unix_s)} · last good poll ${fmt.ago(d.last_ok_unix_s)}`);
  view.append(meta);
  if (d.last_error) view.append(el("p", { class: "error-text", id: "device-error", text: "Last poll failed: " + d.last_error }));
  const dl = el("dl", { class: "fields", id: "device-fields" });
  for (const [name, get] of FIELDS) {
    const v = d.record ? get(r) : null;
    if (v === null || v === undefined || v === dash) continue;
    dl.append(el("dt", { text: name }), el("dd", { text: String(v) }));
  }
  if (!dl.children.length) dl.append(el("dt", { text: "Record" }), el("dd", { text: "no good poll yet" }));
  view.append(dl);
  view.append(el("h3", { text: "Recent history" }));
  const points = history.points || [];
  if (history.error) view.append(el("p", { class: "muted", text: history.error }));
  const charts = [chart(points, "rsrp_dbm", "RSRP", "dBm"), chart(points, "sinr_db", "SINR", "dB")].filter(Boolean);
  if (charts.length) view.append(el("div", { class: "cards", id: "charts" }, ...charts));
  const rows = points.slice(0, 30).map((p) => el("tr", {},
    el("td", { text: fmt.time(p.at_unix_s) }),
    el("td", {}, p.error ? el("span", { class: "error-text", text: p.error }) : badge(true)),
    el("td", { class: "num", text: fmt.num(p.rsrp_dbm, "dBm") }),
    el("td", { class: "num", text: fmt.num(p.sinr_db, "dB") }),
    el("td", { class: "num", text: fmt.rate(p.rx_rate_bps) }),
    el("td", { class: "num", text: fmt.rate(p.tx_rate_bps) })));
  view.append(el("table", { id: "history" },
    el("thead", {}, el("tr", {}, ...["Time", "Result", "RSRP", "SINR", "Downlink", "Uplink"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows)));
}

function describeChange(c) {
  const a = c.action || {};
  const [kind, body] = Object.entries(a)[0] || ["change", {}];
  const detail = body && typeof body === "object" ? Object.entries(body).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ") : "";
  return `${kind} ${detail}`.trim();
}

// A plan's warnings grouped by kind: a count per kind, the first few in full, the rest on demand.
function renderWarnings(warnings) {
  const byKind = new Map();
  for (const w of warnings) {
    const kind = (w && w.kind) || "warning";
    if (!byKind.has(kind)) byKind.set(kind, []);
    byKind.get(kind).push(w && w.message !== undefined ? w.message : String(w));
  }
  const box = el("div", { id: "plan-warnings" });
  for (const [kind, messages] of byKind) {
    const shown = 5;
    const list = el("ul", {}, ...messages.slice(0, shown).map((m) => el("li", { class: "muted", text: m })));
    const group = el("details", { class: "warning-kind", open: messages.length <= shown ? "" : undefined },
      el("summary", { text: `${kind.replaceAll("_", " ")}: ${messages.length} warning${messages.length === 1 ? "" : "s"}` }), list);
    if (messages.length > shown) {
      const more = el("button", { text: `show ${messages.length - shown} more` });
      more.addEventListener("click", () => {
        for (const m of messages.slice(shown)) list.append(el("li", { class: "muted", text: m }));
        more.remove();
      });
      group.append(more);
    }
    box.append(group);
  }
  return box;
}

async function renderPlan(view) {
  view.append(el("h2", { text: "Latest plan" }));
  let plan;
  try {
    plan = await api("/api/v1/plan");
  } catch (e) {
    if (e instanceof Unauthorised) throw e;
    view.append(el("p", { class: "muted", id: "plan-summary", text: e.message }));
    return;
  }
  const cycle = plan.last_cycle;
  if (!cycle) {
    view.append(el("p", { class: "muted", id: "plan-summary", text: "No cycle has run yet." }));
  } else if (cycle.error) {
    view.append(el("p", { class: "error-text", id: "plan-summary", text: `The ${cycle.kind} cycle at ${fmt.time(cycle.at_unix_s)} failed: ${cycle.error}` }));
  } else {
    const rep = cycle.report, st = rep.plan.stats;
    view.append(el("p", { id: "plan-summary" },
      `${cycle.kind} cycle at ${fmt.time(cycle.at_unix_s)}: ${st.sessions} sessions, ${st.kept} kept, ${st.assignments_created} assigned, ` +
      `${st.assignments_deleted} deleted, ${st.items_created} items created; applied ${rep.applied}, failed ${rep.failed.length}`));
    if (rep.plan.held) view.append(el("p", { class: "error-text", text: "Held: " + rep.plan.held }));
    const changes = rep.plan.changes.changes || [];
    view.append(el("ul", { id: "plan-narrative" }, ...(rep.plan.narrative || []).map((line) => el("li", { text: line }))));
    if (changes.length) {
      view.append(el("details", {}, el("summary", { text: `${changes.length} changes, in apply order` }),
        el("ul", { id: "plan-changes" }, ...changes.map((c) => el("li", { text: describeChange(c) })))));
    }
    if (!changes.length) view.append(el("p", { class: "muted", text: "Nothing to change." }));
    view.append(renderWarnings(rep.plan.warnings || []));
    for (const [id, why] of rep.failed) view.append(el("p", { class: "error-text", text: `failed ${id}: ${why}` }));
  }
  view.append(el("h3", { text: "Outbox" }));
  try {
    const o = await api("/api/v1/outbox");
    view.append(el("div", { class: "cards", id: "outbox" },
      ...[["Pending", o.pending], ["Applied", o.applied], ["Failed", o.failed], ["Held plans", o.held_plans], ["Superseded plans", o.superseded_plans]]
        .map(([k, v]) => el("div", { class: "card" }, el("b", { text: String(v) }), k))));
  } catch (e) {
    if (e instanceof Unauthorised) throw e;
    view.append(el("p", { class: "muted", text: e.message }));
  }
  view.append(el("h3", { text: "Recent plans" }));
  try {
    const { plans } = await api("/api/v1/plans?limit=20");
    if (!plans.length) {
      view.append(el("p", { class: "muted", text: "No plan recorded yet." }));
      return;
    }
    view.append(el("table", { id: "recent-plans" },
      el("thead", {}, el("tr", {}, ...["Planned", "Plan", "Status", "Changes", "Applied", "Failed", "By"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...plans.map((p) => el("tr", {},
        el("td", { text: fmt.time(p.created_unix_ms / 1000) }), el("td", {}, el("a", { href: "#/plan/" + encodeURIComponent(p.id), text: p.id })),
        el("td", { text: p.held_reason ? `${p.status}: ${p.held_reason}` : p.status }),
        el("td", { text: String(p.changes) }), el("td", { text: String(p.applied) }), el("td", { text: String(p.failed) }),
        el("td", { text: p.planned_by || dash }))))));
  } catch (e) {
    if (e instanceof Unauthorised) throw e;
    view.append(el("p", { class: "muted", text: e.message }));
  }
}

// One recorded plan: every change with its status, attempts, error and the sink's ID.
async function renderRecordedPlan(view, id) {
  view.append(el("p", {}, el("a", { href: "#/plan", text: "← Latest plan" })));
  view.append(el("h2", { id: "plan-title", text: "Plan " + id }));
  const plan = await api("/api/v1/plans/" + encodeURIComponent(id));
  if (!plan.changes.length) {
    view.append(el("p", { class: "muted", text: "This plan changed nothing." }));
    return;
  }
  view.append(el("table", { id: "plan-detail" },
    el("thead", {}, el("tr", {}, ...["Change", "Status", "Attempts", "Error", "Sink ID"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...plan.changes.map((c) => el("tr", {},
      el("td", { text: describeChange(c) }),
      el("td", { class: c.status === "failed" ? "error-text" : "", text: c.status }),
      el("td", { class: "num", text: String(c.attempts) }),
      el("td", { text: c.error || dash }),
      el("td", { text: c.remote_id || dash }))))));
}

async function renderPlugins(view) {
  const list = await api("/api/v1/plugins");
  view.append(el("h2", { text: "Plugins" }));
  view.append(el("table", { id: "plugins" },
    el("thead", {}, el("tr", {}, ...["Name", "Kinds", "Version", "API", "Status", "File"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...list.map((p) => el("tr", {},
      el("td", { text: p.name || dash }), el("td", { text: (p.kinds || []).join(", ") }), el("td", { text: p.version || dash }),
      el("td", { text: p.api_version }), el("td", { class: p.status === "ok" ? "" : "error-text", text: p.status }), el("td", { class: "muted", text: p.file }))))));
}

async function render() {
  const hash = location.hash || "#/";
  for (const [id, prefix] of [["nav-fleet", "#/"], ["nav-plan", "#/plan"], ["nav-plugins", "#/plugins"]]) {
    const active = id === "nav-fleet" ? hash === "#/" || hash.startsWith("#/?") || hash.startsWith("#/device/") : hash.startsWith(prefix);
    document.getElementById(id).classList.toggle("active", active);
  }
  const view = el("section", { id: "view" });
  try {
    await renderSummary();
    if (hash.startsWith("#/device/")) {
      await renderDevice(view, decodeURIComponent(hash.slice("#/device/".length)));
    } else if (hash.startsWith("#/plan/")) {
      await renderRecordedPlan(view, decodeURIComponent(hash.slice("#/plan/".length)));
    } else if (hash.startsWith("#/plan")) {
      await renderPlan(view);
    } else if (hash.startsWith("#/plugins")) {
      await renderPlugins(view);
    } else {
      state.devices = await api("/api/v1/devices");
      const current = document.getElementById("view");
      if (current.dataset.page === "fleet" && document.getElementById("fleet")) {
        // Keep the controls (and the caret in the search box): redraw the table only.
        document.getElementById("search").dispatchEvent(new Event("input"));
        clearError();
        return;
      }
      view.dataset.page = "fleet";
      fleetControls(view);
    }
    clearError();
    document.getElementById("login").hidden = true;
  } catch (e) {
    showError(e);
    return;
  }
  document.getElementById("view").replaceWith(view);
  if (view.dataset.page === "fleet") document.getElementById("search").dispatchEvent(new Event("input"));
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = document.getElementById("token").value.trim();
  sessionStorage.setItem("efi-token", state.token);
  render();
});
window.addEventListener("hashchange", () => {
  document.getElementById("view").dataset.page = "";
  render();
});
render();
state.timer = setInterval(() => {
  if (!document.hidden) render();
}, 5000);
