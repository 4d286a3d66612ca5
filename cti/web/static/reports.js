// The summary report over a chosen period and grouping: a table, server-rendered SVG charts, CSV.
"use strict";
const $ = (id) => document.getElementById(id);
// [field, unit]: people read headers (reports.col_<field> in the page's language) and units, not field names
const COLUMNS = [["offered", ""], ["handled", ""], ["abandoned", ""], ["short_abandoned", ""],
                 ["speed_of_answer_avg", "s"], ["speed_of_answer_p90", "s"], ["first_response_avg", "s"],
                 ["handle_time_avg", "s"], ["sla_percent", "%"], ["csat", "1-5"], ["csat_responses", ""], ["pivots_sent", ""], ["pivots_opened", ""],
                 ["pivots_redeemed", ""], ["pivots_connected", ""]];

// Rounded, with units in the page's language: 42.9 %, 8.5 s, 3 min 20 s, 2 h 05 min.
const unit = (value, name, digits = 0) => new Intl.NumberFormat(cti.lang, {style: "unit", unit: name,
  unitDisplay: "short", maximumFractionDigits: digits}).format(value);
function formatValue(value, kind) {
  if (value === null || value === undefined) return "–";
  if (kind === "%") return new Intl.NumberFormat(cti.lang, {style: "percent", maximumFractionDigits: 1}).format(value / 100);
  if (kind === "s") {
    if (value < 60) return unit(value, "second", value < 10 ? 1 : 0);
    if (value < 3600) { const s = Math.round(value); return `${unit(Math.floor(s / 60), "minute")} ${unit(s % 60, "second")}`; }
    const m = Math.round(value / 60); return `${unit(Math.floor(m / 60), "hour")} ${unit(m % 60, "minute")}`;
  }
  return new Intl.NumberFormat(cti.lang, {maximumFractionDigits: 1}).format(value);
}
const CHARTS = ["handled", "sla_percent", "handle_time_avg", "pivots_connected"];

// Intervals and hours of the week are counted in this browser's time zone.
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
function query() {
  const from = new Date($("from").value + "T00:00:00Z"), to = new Date($("to").value + "T00:00:00Z");
  to.setUTCDate(to.getUTCDate() + 1);
  const params = new URLSearchParams({from: from.toISOString(), to: to.toISOString(), group_by: $("group").value});
  if (["interval", "hour_of_week"].includes($("group").value)) params.set("tz", TZ);
  if ($("group").value === "interval") params.set("interval", $("interval").value);
  return params;
}
// A group as people read it: "Mon 09:00" for an hour of the week, "2026-12-07 09:30" for an interval.
function groupName(name, groupBy) {
  if (groupBy === "hour_of_week" && /^\d-\d\d$/.test(name)) return `${cti.t(`day.${name[0]}`)} ${name.slice(2)}:00`;
  if (groupBy === "interval") return name.replace("T", " ");
  return name;
}
function syncInterval() {
  const shown = $("group").value === "interval";
  $("interval").hidden = !shown; document.querySelector('label[for="interval"]').hidden = !shown;
}

async function show() {
  $("report-error").hidden = true;
  try {
    const params = query();
    const report = await cti.api("GET", "/api/v1/reports/summary?" + params);
    $("summary").querySelector("thead").replaceChildren(cti.el("tr", {},
      cti.el("th", {scope: "col"}, cti.t(`reports.by_${report.group_by}`)),
      COLUMNS.map(([field]) => cti.el("th", {scope: "col"}, cti.t(`reports.col_${field}`)))));
    $("summary").querySelector("tbody").replaceChildren(...Object.entries(report.groups).map(([name, g]) =>
      cti.el("tr", {}, cti.el("th", {scope: "row"}, groupName(name, report.group_by)),
        COLUMNS.map(([field, kind]) => cti.el("td", {class: kind ? "num" : "num count", "data-field": field},
                                                 formatValue(g[field], kind))))));
    const charts = [];
    const byTime = ["interval", "hour_of_week"].includes(report.group_by);  // (staffing looks at arrivals first)
    for (const metric of byTime ? ["offered", ...CHARTS.slice(0, 3)] : CHARTS) {
      const response = await fetch(`/api/v1/reports/chart?${params}&metric=${metric}&lang=${cti.lang}`,
                                   {headers: cti.headers()});
      const figure = cti.el("figure", {class: "chart", "data-metric": metric});
      figure.innerHTML = await response.text();  // SVG from our own server, every text escaped there
      charts.push(figure);
    }
    $("charts").replaceChildren(...charts);
    const answers = (await cti.api("GET", `/api/v1/surveys?from=${encodeURIComponent(params.get("from"))}`
      + `&to=${encodeURIComponent(params.get("to"))}&limit=20`)).items;
    $("comments").replaceChildren(...(answers.length ? answers.map((a) => cti.el("li", {},
      cti.el("strong", {}, `${a.rating}/5`), ` · ${a.agent_id || "–"} · ${cti.messages[`channel.${a.channel}`] || a.channel} · `,
      cti.el("time", {datetime: a.answered_at}, new Date(a.answered_at).toLocaleString(cti.lang)),
      a.comment ? cti.el("p", {class: "quote"}, cti.el("bdi", {}, a.comment)) : "")) :
      [cti.el("li", {class: "empty"}, cti.t("reports.comments_none"))]));
    const csv = await fetch("/api/v1/reports/summary?" + params, {headers: cti.headers({"Accept": "text/csv"})});
    $("csv").href = URL.createObjectURL(await csv.blob());
  } catch (error) { $("report-error").textContent = error.message; $("report-error").hidden = false; }
}

cti.start(async (who) => {
  if (who.role === "agent") throw new Error(cti.t("reports.supervisors_only"));
  $("reports").hidden = false; $("forecast").hidden = false; $("who").textContent = cti.t(`role.${who.role}`);
  // (the channels that had contacts in the last 8 weeks: what there is history to forecast from)
  const since = new Date(Date.now() - 56 * 86400e3).toISOString();
  const recent = await cti.api("GET", `/api/v1/reports/summary?from=${encodeURIComponent(since)}&group_by=channel`).catch(() => ({groups: {}}));
  const names = Object.keys(recent.groups).filter((name) => name !== "(none)");
  forecast.channels(names.length ? names : ["voice"]);
  const today = new Date().toISOString().slice(0, 10);
  $("from").value = today; $("to").value = today;
  await show();
});
$("period").addEventListener("submit", (e) => { e.preventDefault(); show(); });
$("group").addEventListener("change", syncInterval);
