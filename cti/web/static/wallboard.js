// The wallboard: realtime stats, refreshed within a moment of each event (no polling); waits tick locally.
"use strict";
const $ = (id) => document.getElementById(id);
const board = {stream: null, pending: null, oldest: [], tick: null};

// Every wait on the board (the tile and each row) is "now - oldest queued_at" from one snapshot,
// ticking from the same clock: the tile is always the largest row.
function tickWaits() {
  const now = Date.now() / 1000;
  const waits = board.oldest.map((t) => (t === null ? 0 : Math.max(0, now - t)));
  $("longest").textContent = `longest wait ${Math.round(Math.max(0, ...waits))} s`;
  document.querySelectorAll("#queues tbody tr").forEach((row, i) => {
    row.querySelector(".wait").textContent = `${Math.round(waits[i] || 0)} s`;
  });
}

async function refresh() {
  const stats = await cti.api("GET", "/api/v1/stats/realtime");
  const skew = Date.now() / 1000 - Date.parse(stats.ts) / 1000;  // this screen's clock against the server's
  board.oldest = stats.queues.map((q) => (q.waiting ? Date.parse(stats.ts) / 1000 + skew - q.longest_wait : null));
  const waiting = stats.queues.reduce((n, q) => n + q.waiting, 0);
  $("waiting").textContent = String(waiting);
  const today = stats.today || {};
  $("sla").textContent = today.sla_percent == null ? "–" : `${today.sla_percent.toFixed(1)} %`;
  $("handled").textContent = `handled ${today.handled || 0} of ${today.offered || 0} offered`;
  $("agents").replaceChildren(...Object.entries(stats.agents).map(([state, n]) => cti.el("li", {}, `${state}: ${n}`)));
  const p = stats.pivot_today;
  $("pivot").replaceChildren(cti.el("li", {}, `sent ${p.sent}`), cti.el("li", {}, `opened ${p.opened}`),
    cti.el("li", {}, `redeemed ${p.redeemed}`), cti.el("li", {}, `connected ${p.connected}`),
    cti.el("li", {}, `median to voice ${p.median_seconds_to_voice === null ? "–" : p.median_seconds_to_voice + " s"}`));
  const social = stats.social_today;
  $("sentiment").textContent = social.average_sentiment === null ? "–" : social.average_sentiment.toFixed(2);
  $("negative").textContent = social.scored ? `${social.negative_percent} % negative of ${social.scored}` : "no social items";
  $("queues").querySelector("tbody").replaceChildren(...stats.queues.map((q) => cti.el("tr", {},
    cti.el("td", {}, q.queue), cti.el("td", {}, q.channel), cti.el("td", {}, q.waiting),
    cti.el("td", {class: "wait"}, `${Math.round(q.longest_wait)} s`),
    cti.el("td", {}, q.sla_percent_today === null ? "–" : `${q.sla_percent_today.toFixed(1)} %`),
    cti.el("td", {}, q.agents_available))));
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  tickWaits();
}

function soon() { clearTimeout(board.pending); board.pending = setTimeout(refresh, 100); }

async function signIn(who) {
  if (who.role === "agent") throw new Error("the wallboard is for supervisors and admins");
  await refresh();
  $("wallboard").hidden = false;
  board.stream = cti.stream("interaction.*,agent.state_changed,pivot.*,callback.*", soon,
    (state) => { $("link-status").textContent = state; $("link-status").className = "pill " + (state === "live" ? "ok" : "bad"); if (state === "live") soon(); });
  board.tick = setInterval(tickWaits, 1000);
}

cti.start(signIn);
