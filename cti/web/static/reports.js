// The summary report over a chosen period and grouping: a table, server-rendered SVG charts, CSV.
"use strict";
const $ = (id) => document.getElementById(id);
// [field, header, unit]: people read headers and units, not field names
const COLUMNS = [["offered", "Offered", ""], ["handled", "Handled", ""], ["abandoned", "Abandoned", ""],
                 ["short_abandoned", "Short abandons", ""], ["speed_of_answer_avg", "Avg speed of answer", "s"],
                 ["speed_of_answer_p90", "Speed of answer, 90th pct", "s"],
                 ["first_response_avg", "Avg first response", "s"], ["handle_time_avg", "Avg handle time", "s"],
                 ["sla_percent", "Service level", "%"], ["pivots_sent", "Pivots sent", ""],
                 ["pivots_opened", "Opened", ""], ["pivots_redeemed", "Redeemed", ""], ["pivots_connected", "Connected", ""]];
const GROUPS = {channel: "Channel", agent: "Agent", queue: "Queue"};

// Rounded, with units: 42.9 %, 8.5 s, 3 min 20 s, 2 h 05 min (the charts use the same rules, cti/web/svg.py).
function formatValue(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "%") return `${value.toFixed(1)} %`;
  if (unit === "s") {
    if (value < 60) return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
    if (value < 3600) { const t = Math.round(value); return `${Math.floor(t / 60)} min ${t % 60} s`; }
    const m = Math.round(value / 60); return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  }
  return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(1);
}
const CHARTS = ["handled", "sla_percent", "handle_time_avg", "pivots_connected"];

function query() {
  const from = new Date($("from").value + "T00:00:00Z"), to = new Date($("to").value + "T00:00:00Z");
  to.setUTCDate(to.getUTCDate() + 1);
  return new URLSearchParams({from: from.toISOString(), to: to.toISOString(), group_by: $("group").value});
}

async function show() {
  $("report-error").hidden = true;
  try {
    const params = query();
    const report = await cti.api("GET", "/api/v1/reports/summary?" + params);
    $("summary").querySelector("thead").replaceChildren(cti.el("tr", {},
      cti.el("th", {scope: "col"}, GROUPS[report.group_by] || report.group_by),
      COLUMNS.map(([, header]) => cti.el("th", {scope: "col"}, header))));
    $("summary").querySelector("tbody").replaceChildren(...Object.entries(report.groups).map(([name, g]) =>
      cti.el("tr", {}, cti.el("th", {scope: "row"}, name),
        COLUMNS.map(([field, , unit]) => cti.el("td", {class: unit ? "num" : "num count", "data-field": field},
                                                   formatValue(g[field], unit))))));
    const charts = [];
    for (const metric of CHARTS) {
      const response = await fetch(`/api/v1/reports/chart?${params}&metric=${metric}`,
                                   {headers: cti.headers()});
      const figure = cti.el("figure", {class: "chart", "data-metric": metric});
      figure.innerHTML = await response.text();  // SVG from our own server, every text escaped there
      charts.push(figure);
    }
    $("charts").replaceChildren(...charts);
    const csv = await fetch("/api/v1/reports/summary?" + params, {headers: cti.headers({"Accept": "text/csv"})});
    $("csv").href = URL.createObjectURL(await csv.blob());
  } catch (error) { $("report-error").textContent = error.message; $("report-error").hidden = false; }
}

cti.start(async (who) => {
  if (who.role === "agent") throw new Error("reports are for supervisors and admins");
  $("reports").hidden = false; $("who").textContent = who.role;
  const today = new Date().toISOString().slice(0, 10);
  $("from").value = today; $("to").value = today;
  await show();
});
$("period").addEventListener("submit", (e) => { e.preventDefault(); show(); });
