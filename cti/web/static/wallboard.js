// The wallboard: realtime stats, refreshed within a moment of each event (no polling); waits tick locally.
"use strict";
const $ = (id) => document.getElementById(id);
const board = {stream: null, pending: null, oldest: [], tick: null, skew: 0};
const percent = (value) => new Intl.NumberFormat(cti.lang, {style: "percent", maximumFractionDigits: 1}).format(value / 100);

// Every wait on the board (the tile and each row) is "now - oldest queued_at" from one snapshot,
// ticking from the same clock: the tile is always the largest row.
function tickWaits() {
  const now = Date.now() / 1000;
  const waits = board.oldest.map((t) => (t === null ? 0 : Math.max(0, now - t)));
  $("longest").textContent = cti.t("wall.longest", {clock: cti.clock(Math.max(0, ...waits))});
  document.querySelectorAll("#queues tbody tr").forEach((row, i) => {
    row.querySelector(".wait").textContent = cti.clock(waits[i] || 0);
  });
  document.querySelectorAll("#people tbody tr[data-since]").forEach((row) => {
    row.querySelector(".in-state").textContent = cti.clock(Math.max(0, now - Number(row.dataset.since) - board.skew));
  });
}

// Each agent by name: state, how long in it, what they hold now; a supervisor can set one away or
// offline (the change is an agent.state_changed event naming who made it).
function personRow(p) {
  const work = Object.entries(p.work).map(([channel, n]) => `${cti.messages[`channel.${channel}`] || channel} ${n}`).join(" · ");
  const actions = ["away", "offline"].filter((state) => state !== p.state).map((state) => cti.el("button", {type: "button",
    class: "secondary", onclick: () => setState(p.id, state)}, cti.t(`wall.set_${state}`)));
  return cti.el("tr", {"data-agent": p.id, "data-since": p.state_since ? String(Date.parse(p.state_since) / 1000) : null},
    cti.el("th", {scope: "row"}, cti.el("bdi", {}, p.name)), cti.el("td", {}, cti.t(`agent.${p.state}`)),
    cti.el("td", {class: "in-state"}, ""), cti.el("td", {}, work || "–"),
    cti.el("td", {}, cti.el("div", {class: "row", role: "group"}, actions)));
}
async function setState(id, state) {
  $("people-error").hidden = true;
  try { await cti.api("PUT", `/api/v1/agents/${id}/state`, {state}); }
  catch (error) { $("people-error").textContent = error.message; $("people-error").hidden = false; }
  soon();
}

async function refresh() {
  const stats = await cti.api("GET", "/api/v1/stats/realtime");
  const skew = board.skew = Date.now() / 1000 - Date.parse(stats.ts) / 1000;  // this screen's clock against the server's
  board.oldest = stats.queues.map((q) => (q.waiting ? Date.parse(stats.ts) / 1000 + skew - q.longest_wait : null));
  const waiting = stats.queues.reduce((n, q) => n + q.waiting, 0);
  $("waiting").textContent = String(waiting);
  const today = stats.today || {};
  $("sla").textContent = today.sla_percent == null ? "–" : percent(today.sla_percent);
  $("handled").textContent = cti.t("wall.handled", {handled: today.handled || 0, offered: today.offered || 0});
  $("agents").replaceChildren(...Object.entries(stats.agents).map(([state, n]) => cti.el("li", {}, `${cti.t(`agent.${state}`)}: ${n}`)));
  const p = stats.pivot_today;
  $("pivot").replaceChildren(...["sent", "opened", "redeemed", "connected"].map((step) =>
    cti.el("li", {}, cti.t(`pivot.state_${step}`), ": ", p[step])),
    cti.el("li", {}, cti.t("wall.median_to_voice"), ": ", p.median_seconds_to_voice === null ? "–" : cti.clock(p.median_seconds_to_voice)));
  const social = stats.social_today;
  $("sentiment").textContent = social.average_sentiment === null ? "–" : social.average_sentiment.toFixed(2);
  $("negative").textContent = social.scored ? cti.t("wall.negative", {percent: percent(social.negative_percent), scored: social.scored}) : cti.t("wall.no_social");
  const breachedNow = stats.queues.reduce((n, q) => n + (q.breached_waiting || 0), 0);
  $("breaches").textContent = String(today.sla_breaches || 0);
  $("breached-now").textContent = breachedNow ? cti.t("wall.breached_now", {count: breachedNow}) : "";
  $("tile-breaches").classList.toggle("alert", breachedNow > 0);
  $("queues").querySelector("tbody").replaceChildren(...stats.queues.map((q) => cti.el("tr", {class: q.breached_waiting ? "breached" : null},
    cti.el("td", {}, q.queue), cti.el("td", {}, cti.messages[`channel.${q.channel}`] || q.channel), cti.el("td", {}, q.waiting),
    cti.el("td", {class: "wait"}, cti.clock(q.longest_wait)), cti.el("td", {class: "past"}, q.breached_waiting || 0),
    cti.el("td", {}, q.sla_percent_today === null ? "–" : percent(q.sla_percent_today)),
    cti.el("td", {}, q.agents_available))));
  $("people").querySelector("tbody").replaceChildren(...(stats.people || []).map(personRow));
  $("updated").textContent = cti.t("wall.updated", {time: new Date().toLocaleTimeString(cti.lang)});
  tickWaits();
}

// Live calls: a supervisor listens, whispers or barges from here, on the phone named above or in this
// browser (both kept in this browser); the agent and the customer are not told. One monitor per call
// at a time. In the browser the page connects its audio to the monitor party (softphone.js) and the
// row shows what it hears.
const monitoring = new Map();  // interaction id -> the mode this supervisor monitors it in
async function refreshCalls() {
  const calls = [];
  for (const state of ["active", "held"]) {
    calls.push(...(await cti.api("GET", `/api/v1/interactions?channel=voice&state=${state}`)).items);
  }
  for (const id of [...monitoring.keys()]) if (!calls.some((c) => c.id === id)) { monitoring.delete(id); softphone.close(id); }
  $("calls").querySelector("tbody").replaceChildren(...calls.map(callRow));
  $("calls").hidden = !calls.length; $("calls-empty").hidden = !!calls.length;
}
function callRow(item) {
  const mode = monitoring.get(item.id);
  const buttons = ["listen", "whisper", "barge"].map((m) => cti.el("button", {type: "button", class: mode === m ? "" : "secondary",
    "aria-pressed": String(mode === m), onclick: () => monitor(item.id, m)}, cti.t(`monitor.${m}`)));
  if (mode) buttons.push(cti.el("button", {type: "button", class: "secondary", onclick: () => stopMonitor(item.id)}, cti.t("monitor.stop")));
  return cti.el("tr", {"data-id": item.id}, cti.el("td", {}, item.agent_id || "–"), cti.el("td", {}, cti.t(`state.${item.state}`)),
    cti.el("td", {}, cti.time(item.accepted_at || item.created_at)),
    cti.el("td", {}, cti.el("div", {class: "row", role: "group", "aria-label": cti.t("wall.col_monitor")}, buttons),
      softphone.has(item.id) ? cti.el("span", {class: "softphone-status", "aria-live": "polite"}, heard.get(item.id) || "") : ""));
}
const heard = new Map();  // interaction id -> what this browser's audio to it is doing
async function monitor(id, mode) {
  $("calls-error").hidden = true;
  try {
    if (monitoring.has(id)) await cti.api("PATCH", `/api/v1/interactions/${id}/monitor`, {mode});
    else if ($("in-browser").checked) {
      const party = (await cti.api("POST", `/api/v1/interactions/${id}/monitor`, {mode, endpoint: "browser"})).monitor;
      softphone.connect(id, (text) => { heard.set(id, text); const line = statusOf(id); if (line) line.textContent = text; }, {
        path: `/api/v1/interactions/${id}/participants/${party.id}/softphone`, status: () => statusOf(id),
        onEnd: () => { monitoring.delete(id); refreshCalls(); }});
    } else await cti.api("POST", `/api/v1/interactions/${id}/monitor`, {mode, endpoint: $("my-phone").value.trim() || undefined});
    monitoring.set(id, mode);
  } catch (error) { $("calls-error").textContent = error.message; $("calls-error").hidden = false; }
  await refreshCalls();
}
async function stopMonitor(id) {
  try { await cti.api("DELETE", `/api/v1/interactions/${id}/monitor`); } catch { /* already over */ }
  softphone.close(id);
  monitoring.delete(id);
  await refreshCalls();
}
function statusOf(id) { return document.querySelector(`#calls [data-id="${id}"] .softphone-status`); }
$("my-phone").value = localStorage.getItem("cti_monitor_phone") || "";
$("my-phone").addEventListener("change", () => localStorage.setItem("cti_monitor_phone", $("my-phone").value.trim()));
$("in-browser").checked = localStorage.getItem("cti_monitor_browser") === "1";
$("in-browser").addEventListener("change", () => localStorage.setItem("cti_monitor_browser", $("in-browser").checked ? "1" : "0"));

function soon() { clearTimeout(board.pending); board.pending = setTimeout(() => { refresh(); refreshCalls(); }, 100); }

async function signIn(who) {
  if (who.role === "agent") throw new Error(cti.t("wall.supervisors_only"));
  await refresh();
  await refreshCalls();
  await approvals.refresh();
  $("wallboard").hidden = false;
  // (a breach or a held reply changes the board; replies held, approved or rejected change the list)
  const onEvent = (event) => (event.type.startsWith("message.") ? approvals.refresh() : soon());
  board.stream = cti.stream("interaction.*,agent.state_changed,pivot.*,callback.*,sla.breached,message.approval_requested,"
    + "message.approved,message.rejected", onEvent,
    (state) => { $("link-status").textContent = cti.t(`link.${state}`); $("link-status").className = "pill " + (state === "live" ? "ok" : "bad"); if (state === "live") soon(); });
  board.tick = setInterval(() => { tickWaits(); approvals.tick(); }, 1000);
}

cti.start(signIn);
