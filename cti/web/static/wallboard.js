// The wallboard: realtime stats, refreshed within a moment of each event (no polling); waits tick locally.
"use strict";
const $ = (id) => document.getElementById(id);
const board = {stream: null, pending: null, oldest: null};

async function refresh() {
  const stats = await cti.api("GET", "/api/v1/stats/realtime");
  const waiting = stats.queues.reduce((n, q) => n + q.waiting, 0);
  const longest = Math.max(0, ...stats.queues.map((q) => q.longest_wait));
  board.oldest = waiting ? Date.now() / 1000 - longest : null;
  $("waiting").textContent = String(waiting);
  const handled = stats.queues.reduce((n, q) => n + q.handled_today, 0);
  const slas = stats.queues.map((q) => q.sla_percent_today).filter((v) => v !== null);
  $("sla").textContent = slas.length ? `${Math.round(slas.reduce((a, b) => a + b, 0) / slas.length)} %` : "–";
  $("handled").textContent = `handled ${handled}`;
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
    cti.el("td", {}, `${Math.round(q.longest_wait)} s`),
    cti.el("td", {}, q.sla_percent_today === null ? "–" : `${Math.round(q.sla_percent_today)}`),
    cti.el("td", {}, q.agents_available))));
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function soon() { clearTimeout(board.pending); board.pending = setTimeout(refresh, 100); }

async function signIn(token) {
  cti.token = token;
  await refresh();
  sessionStorage.setItem("cti_token", token);
  $("signin").hidden = true; $("wallboard").hidden = false;
  board.stream = cti.stream("interaction.*,agent.state_changed,pivot.*,callback.*", soon,
    (state) => { $("link-status").textContent = state; $("link-status").className = "pill " + (state === "live" ? "ok" : "bad"); if (state === "live") soon(); });
  setInterval(() => { if (board.oldest) $("longest").textContent = `longest wait ${Math.round(Date.now() / 1000 - board.oldest)} s`;
                      else $("longest").textContent = "longest wait 0 s"; }, 1000);
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  try { await signIn($("token").value.trim()); }
  catch (error) { $("signin-error").textContent = error.message; $("signin-error").hidden = false; }
});
if (cti.token) signIn(cti.token).catch(() => sessionStorage.removeItem("cti_token"));
