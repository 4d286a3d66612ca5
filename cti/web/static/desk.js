// The agent desktop: an agent signs in; everything after that is live from the event
// stream (no polling): offers pop, conversations and pivot links update as events arrive.
"use strict";
const $ = (id) => document.getElementById(id);
const me = {agent: null, cards: new Map(), pivots: new Map(), audio: new Map(), focusNext: null,
            queueTimer: null, stream: null};
const inBrowser = () => me.agent && me.agent.voice_endpoint === "browser";

async function signIn(who) {
  if (!who.agent_id) throw new Error("the desk is for agents: sign in as an agent");
  me.agent = await cti.api("GET", `/api/v1/agents/${who.agent_id}`);
  $("desk").hidden = false; $("presence").hidden = false; $("alerts-toggle").hidden = false;
  $("who").textContent = `${me.agent.name} (${me.agent.id})`;
  $("state").value = me.agent.state;
  for (const state of ["offered", "active", "held", "wrapup"]) {
    for (const item of (await cti.api("GET", `/api/v1/interactions?state=${state}`)).items) await show(item);
  }
  await refreshQueue();
  me.stream = cti.stream("interaction.*,message.*,pivot.*,callback.*,call.*,agent.state_changed", onEvent,
                         (state) => { $("link-status").textContent = state;
                                      $("link-status").className = "pill " + (state === "live" ? "ok" : "bad"); });
  setInterval(tickSla, 1000);
}

async function refreshQueue() {
  const body = $("queue").querySelector("tbody");
  const items = (await cti.api("GET", "/api/v1/queue")).items;
  body.replaceChildren(...items.map((i) => cti.el("tr", {"data-id": i.id, "data-sla": String(Date.now() / 1000 + i.sla_left)},
    cti.el("td", {}, i.channel + (i.initiation === "callback" ? " (callback)" : "")), cti.el("td", {}, i.priority),
    cti.el("td", {}, i.priority_reason || ""), cti.el("td", {}, `${Math.round(i.waiting)} s`),
    cti.el("td", {class: "sla"}, `${Math.round(i.sla_left)} s`))));
}

function tickSla() {
  for (const row of $("queue").querySelectorAll("tr[data-sla]")) {
    const left = Math.round(Number(row.dataset.sla) - Date.now() / 1000);
    const cell = row.querySelector(".sla");
    cell.textContent = `${left} s`; cell.className = "sla" + (left < 0 ? " late" : "");
  }
}

let queueRefresh = null;
function onEvent(event) {
  if (event.type.startsWith("interaction.")) {
    clearTimeout(queueRefresh); queueRefresh = setTimeout(refreshQueue, 50);
  }
  const snapshot = event.data && event.data.interaction;
  if (snapshot && (snapshot.agent_id === me.agent.id || me.cards.has(snapshot.id))) show(snapshot);
  if (event.type.startsWith("message.") && me.cards.has(event.interaction_id)) loadMessages(event.interaction_id);
  if (event.type.startsWith("pivot.") || event.type.startsWith("callback.")) pivotStatus(event);
  if (event.type.startsWith("call.") && me.cards.has(event.interaction_id)) {
    const line = me.cards.get(event.interaction_id).querySelector(".call-status");
    if (line) line.textContent = event.type.replace("call.", "call ") + (event.data.leg ? ` (${event.data.leg})` : "");
  }
  if (event.type === "agent.state_changed" && event.agent_id === me.agent.id) $("state").value = event.data.agent.state;
}

function pivotStatus(event) {
  const link = event.data.pivot_link, callback = event.data.callback;
  const id = link ? link.id : callback && callback.pivot_link_id;
  const words = {"pivot.created": "sent", "pivot.opened": "opened", "pivot.redeemed": "redeemed",
                 "pivot.expired": "expired", "callback.scheduled": "callback scheduled",
                 "callback.dialing": "dialing", "callback.connected": "connected", "callback.failed": "failed"};
  const node = id && document.querySelector(`[data-pivot="${id}"] .pivot-state`);
  if (node) node.textContent = words[event.type] || event.type;
  if (id) me.pivots.set(id, words[event.type] || event.type);
}

async function show(item) {
  if (item.state === "offered" && item.agent_id === me.agent.id) return showOffer(item);
  document.querySelector(`#offers [data-id="${item.id}"]`)?.remove();
  if (!["active", "held"].includes(item.state) || item.agent_id !== me.agent.id) softphone.close(item.id);
  if (!["active", "held", "wrapup"].includes(item.state) || item.agent_id !== me.agent.id) {
    me.cards.get(item.id)?.remove(); me.cards.delete(item.id); return;
  }
  let card = me.cards.get(item.id);
  if (!card) {
    card = cti.el("article", {class: "card", "data-id": item.id, "aria-label": `${item.channel} interaction`});
    me.cards.set(item.id, card); $("work").prepend(card);
  }
  card.replaceChildren(...workCard(item));
  if (me.focusNext === item.id) focusWork(card, item);
  if (item.channel !== "voice") loadMessages(item.id);
  else if (inBrowser() && ["active", "held"].includes(item.state)) softphone.connect(item.id, (text) => {
    me.audio.set(item.id, text);
    const line = document.querySelector(`#work [data-id="${item.id}"] .softphone-status`);
    if (line) line.textContent = text;
  });
}

// Noticing an offer without staring at the tab: the title counts offers; a new one chimes and, with
// the tab in the background, shows a notification (the agent turns both off; kept in this browser).
const alerts = {on: localStorage.getItem("cti_alerts") !== "off"};
function chime() {
  const audio = new AudioContext(), tone = audio.createOscillator(), level = audio.createGain();
  tone.frequency.value = 880; level.gain.value = 0.08;
  tone.connect(level).connect(audio.destination); tone.start(); tone.stop(audio.currentTime + 0.15);
  tone.onended = () => audio.close();
}
function announce(item) {
  if (!alerts.on) return;
  try { chime(); } catch { /* no audio device: the title still counts */ }
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    new Notification("New offer", {body: `${item.channel}: ${(item.routing.reasons || []).join("; ")}`, tag: item.id});
  }
}
new MutationObserver(() => {
  const offers = $("offers").children.length;
  document.title = offers ? `(${offers}) Agent desktop` : "Agent desktop";
}).observe($("offers"), {childList: true});
$("alerts").checked = alerts.on;
$("alerts").addEventListener("change", () => {
  alerts.on = $("alerts").checked;
  localStorage.setItem("cti_alerts", alerts.on ? "on" : "off");
  if (alerts.on && "Notification" in window && Notification.permission === "default") Notification.requestPermission();
});

async function showOffer(item) {
  if (document.querySelector(`#offers [data-id="${item.id}"]`)) return;
  const card = cti.el("article", {class: "card offer", "data-id": item.id, "aria-label": "offer"},
    cti.el("h3", {}, `${item.channel} — ${item.initiation}`),
    cti.el("p", {class: "why"}, (item.routing.reasons || []).join("; ")));
  $("offers").prepend(card);
  announce(item);
  try {
    const contact = await cti.api("GET", `/api/v1/contacts/${item.contact_id}`);
    card.append(cti.el("p", {class: "contact"}, cti.el("bdi", {}, contact.name || "(no name)"), " — ",
      contact.identities.flatMap((i) => [`${i.kind}: `, cti.el("bdi", {}, i.value), " "])));
    const timeline = await cti.api("GET", `/api/v1/cases/${item.case_id}/timeline`);
    const history = timeline.entries.filter((e) => e.type === "message.received" || e.type === "message.sent").slice(-5);
    card.append(cti.el("ul", {class: "history"}, history.map((e) =>
      cti.el("li", {}, `${e.channel || ""} ${e.data.message.direction}: `, cti.el("bdi", {}, e.data.message.text)))));
  } catch (error) { card.append(cti.el("p", {class: "error"}, error.message)); }
  card.append(cti.el("div", {class: "row"},
    cti.el("button", {onclick: () => act(item.id, "accept")},
           item.channel === "voice" ? (inBrowser() ? "Answer here" : "Answer on your phone") : "Accept"),
    cti.el("button", {class: "secondary", onclick: () => act(item.id, "reject")}, "Reject")));
}

// Focus follows the agent's own actions (never an arriving offer, which would steal her typing):
// after Accept the reply box (or a call's Hang up), after End the wrap-up's first field.
function focusWork(card, item) {
  const target = item.state === "wrapup" ? card.querySelector("form.wrapup input")
    : item.channel === "voice" ? [...card.querySelectorAll("button")].find((b) => b.textContent === "Hang up")
    : card.querySelector("textarea");
  if (target) { target.focus(); me.focusNext = null; }
}

async function act(id, verb, body) {
  if (["accept", "end"].includes(verb)) me.focusNext = id;
  try { return await cti.api("POST", `/api/v1/interactions/${id}/${verb}`, body || {}); }
  catch (error) { alert(`${verb}: ${error.message}`); }
}

function workCard(item) {
  const parts = [cti.el("h3", {}, `${item.channel} — ${item.state}`,
                        item.priority ? ` — priority ${item.priority}` : "")];
  if (item.state === "wrapup") {
    const form = cti.el("form", {class: "wrapup"},
      cti.el("label", {for: `disp-${item.id}`}, "Disposition"), cti.el("input", {id: `disp-${item.id}`, name: "disposition"}),
      cti.el("label", {for: `notes-${item.id}`}, "Notes"), cti.el("textarea", {id: `notes-${item.id}`, name: "notes"}),
      cti.el("button", {type: "submit"}, "Finish wrap-up"));
    form.addEventListener("submit", (e) => { e.preventDefault();
      act(item.id, "wrapup", {disposition: form.disposition.value || null, notes: form.notes.value || null}); });
    return [...parts, form];
  }
  if (item.channel === "voice") {
    const keypad = cti.el("div", {class: "row keypad", role: "group", "aria-label": "DTMF keypad"},
      [..."123456789*0#"].map((k) => cti.el("button", {class: "secondary", onclick: () => act(item.id, "dtmf", {digits: k})}, k)));
    const number = cti.el("input", {id: `xfer-${item.id}`, placeholder: "+358...", "aria-label": "transfer to number"});
    parts.push(cti.el("p", {class: "call-status", role: "status"}, "call"),
      inBrowser() ? cti.el("p", {class: "softphone-status", "aria-live": "polite"},
                           me.audio.get(item.id) || "in this browser") : "",
      cti.el("div", {class: "row"},
        cti.el("button", {onclick: () => act(item.id, item.state === "held" ? "resume" : "hold")},
               item.state === "held" ? "Resume" : "Hold"),
        number, cti.el("button", {class: "secondary", onclick: () => act(item.id, "transfer", {number: number.value})}, "Transfer"),
        cti.el("button", {onclick: () => act(item.id, "end")}, "Hang up")), keypad);
    return parts;
  }
  const suggestion = (item.scoring && item.scoring.reply_mode) || null;
  const mode = cti.el("select", {id: `mode-${item.id}`, "aria-label": "reply mode"},
    cti.el("option", {value: "private"}, "Private"), cti.el("option", {value: "public"}, "Public"));
  if (suggestion && suggestion.mode !== "pivot") mode.value = suggestion.mode;
  const text = cti.el("textarea", {id: `reply-${item.id}`, "aria-label": "Your reply", rows: "2"});
  const form = cti.el("form", {class: "row reply"}, text, mode, cti.el("button", {type: "submit"}, "Send"));
  form.addEventListener("submit", async (e) => { e.preventDefault();
    try { await cti.api("POST", `/api/v1/interactions/${item.id}/messages`, {text: text.value, mode: mode.value}); text.value = ""; }
    catch (error) { alert(`reply: ${error.message}`); } });
  const pivots = cti.el("div", {class: "pivots", "aria-live": "polite"});
  loadPivots(item.id, pivots);
  const target = cti.el("select", {id: `pivot-to-${item.id}`, "aria-label": "pivot to"},
    cti.el("option", {value: "callback"}, "a callback"), cti.el("option", {value: "voice"}, "a browser call"),
    cti.el("option", {value: "email"}, "email"), cti.el("option", {value: "chat"}, "chat"));
  const pivot = cti.el("button", {class: "secondary", onclick: async () => {
    const body = await act(item.id, "pivot", {to: target.value, send: true});
    if (body && !pivots.querySelector(`[data-pivot="${body.pivot_link.id}"]`)) pivots.append(cti.el("p", {"data-pivot": body.pivot_link.id}, "Pivot link ",
      cti.el("a", {href: body.pivot_link.url}, body.pivot_link.url), ": ",
      cti.el("span", {class: "pivot-state"}, me.pivots.get(body.pivot_link.id) || "sent")));
  }}, "Pivot");
  parts.push(suggestion ? cti.el("p", {class: "suggestion"}, `Suggested: ${suggestion.mode} — ${suggestion.reason}`) : "",
    cti.el("div", {class: "messages", "data-messages": item.id}), form,
    cti.el("div", {class: "row"}, target, pivot,
      cti.el("button", {onclick: () => act(item.id, item.state === "held" ? "resume" : "hold")}, item.state === "held" ? "Resume" : "Hold"),
      cti.el("button", {onclick: () => act(item.id, "end")}, "End")), pivots);
  return parts;
}

// The links sent from a conversation, from the API (so their state survives a reload); events
// keep them current after that (pivotStatus). The URL exists only in the mint answer.
async function loadPivots(id, box) {
  let links = [];
  try { links = (await cti.api("GET", `/api/v1/pivot-links?source_interaction_id=${id}`)).items; } catch { return; }
  for (const link of links) {
    if (box.querySelector(`[data-pivot="${link.id}"]`)) continue;
    const state = me.pivots.get(link.id) || (link.status !== "active" ? link.status : link.redeemed_at ? "redeemed" :
                                             link.opened_at ? "opened" : "sent");
    box.append(cti.el("p", {"data-pivot": link.id}, `Pivot link (to ${link.to}): `,
                      cti.el("span", {class: "pivot-state"}, state)));
  }
}

async function loadMessages(id) {
  const box = document.querySelector(`[data-messages="${id}"]`);
  if (!box) return;
  const items = (await cti.api("GET", `/api/v1/interactions/${id}/messages`)).items;
  box.replaceChildren(...items.map((m) => cti.el("p", {class: `msg ${m.direction}`},
    `${m.direction === "inbound" ? "customer" : "you"}: `, cti.el("bdi", {}, m.text),
    m.status !== "received" ? ` (${m.status}${m.error ? ": " + m.error : ""})` : "")));
}

$("state").addEventListener("change", () => cti.api("PUT", `/api/v1/agents/${me.agent.id}/state`, {state: $("state").value}));
cti.start(signIn);
