// The summary report over a chosen period and grouping: a table, server-rendered SVG charts, CSV.
"use strict";
const $ = (id) => document.getElementById(id);
const COLUMNS = ["offered", "handled", "abandoned", "speed_of_answer_avg", "first_response_avg", "handle_time_avg",
                 "sla_percent", "pivots_sent", "pivots_opened", "pivots_redeemed", "pivots_connected"];
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
    $("summary").querySelector("thead").replaceChildren(cti.el("tr", {}, cti.el("th", {scope: "col"}, report.group_by),
      COLUMNS.map((c) => cti.el("th", {scope: "col"}, c.replaceAll("_", " ")))));
    $("summary").querySelector("tbody").replaceChildren(...Object.entries(report.groups).map(([name, g]) =>
      cti.el("tr", {}, cti.el("th", {scope: "row"}, name), COLUMNS.map((c) => cti.el("td", {}, g[c] ?? "–")))));
    const charts = [];
    for (const metric of CHARTS) {
      const response = await fetch(`/api/v1/reports/chart?${params}&metric=${metric}`,
                                   {headers: {"Authorization": "Bearer " + cti.token}});
      const figure = cti.el("figure", {class: "chart", "data-metric": metric});
      figure.innerHTML = await response.text();  // SVG from our own server, every text escaped there
      charts.push(figure);
    }
    $("charts").replaceChildren(...charts);
    const csv = await fetch("/api/v1/reports/summary?" + params, {headers: {"Authorization": "Bearer " + cti.token,
                                                                         "Accept": "text/csv"}});
    $("csv").href = URL.createObjectURL(await csv.blob());
  } catch (error) { $("report-error").textContent = error.message; $("report-error").hidden = false; }
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  cti.token = $("token").value.trim();
  try {
    const who = await cti.api("GET", "/api/v1/me");
    if (who.role === "agent") throw new Error("reports need a supervisor or admin token");
    $("signin").hidden = true; $("reports").hidden = false; $("who").textContent = who.role;
    const today = new Date().toISOString().slice(0, 10);
    $("from").value = today; $("to").value = today;
    await show();
  } catch (error) { $("signin-error").textContent = error.message; $("signin-error").hidden = false; }
});
$("period").addEventListener("submit", (e) => { e.preventDefault(); show(); });
