// The agent desktop: what waits (offers, the universal queue), the agent's work, and the customer in
// context, in three columns (one on a phone). After sign-in everything is live from the event stream
// (no polling): offers pop, conversations, notes and pivot links update as events arrive; the clocks
// (offer countdowns, waits, service-level deadlines) tick locally once a second.
// The work cards are desk-work.js; the customer panel is desk-contact.js.
"use strict";
const $ = (id) => document.getElementById(id);
const t = cti.t;
const me = {agent: null, cards: new Map(), items: new Map(), pivots: new Map(), audio: new Map(), focusNext: null,
            selected: null, sla: {}, stream: null};
const inBrowser = () => me.agent && me.agent.voice_endpoint === "browser";
const channelName = (name) => cti.messages[`channel.${name}`] || name;

async function signIn(who) {
  if (!who.agent_id) throw new Error(t("desk.agents_only"));
  me.agent = await cti.api("GET", `/api/v1/agents/${who.agent_id}`);
  me.sla = who.sla_seconds || {};
  $("desk").hidden = false; $("presence").hidden = false; $("alerts-toggle").hidden = false;
  $("who").textContent = me.agent.name;
  $("state").value = me.agent.state;
  for (const state of ["offered", "active", "held", "wrapup"]) {
    for (const item of (await cti.api("GET", `/api/v1/interactions?state=${state}`)).items) await show(item);
  }
  await refreshQueue();
  me.stream = cti.stream("interaction.*,message.*,case.*,pivot.*,callback.*,call.*,agent.state_changed,contact.updated",
                         onEvent, (state) => {
                           $("link-status").textContent = t(`link.${state}`);
                           $("link-status").className = "pill " + (state === "live" ? "ok" : "bad");
                         });
  setInterval(tick, 1000);
  empties();
}

// Why an item is where it is in the queue, in the agent's words (the factors that raised its priority).
function whyText(why, initiation) {
  const parts = (why || []).map((w) => t(`why.${w.factor}`, {points: Math.round(w.points)}));
  if (initiation === "callback") parts.unshift(t("why.callback"));
  return parts.join(", ") || t("why.arrival");
}
const factorsOf = (scoring) => Object.entries((scoring && scoring.factors) || {})
  .map(([factor, f]) => ({factor, points: f.points || 0})).filter((f) => f.points > 0).sort((a, b) => b.points - a.points);

async function refreshQueue() {
  const items = (await cti.api("GET", "/api/v1/queue")).items;
  const now = Date.now() / 1000;
  $("queue").querySelector("tbody").replaceChildren(...items.map((i) => cti.el("tr", {"data-id": i.id},
    cti.el("td", {}, channelName(i.channel)),
    cti.el("td", {}, whyText(i.why, i.initiation)),
    cti.el("td", {"data-since": String(now - i.waiting)}, cti.clock(i.waiting)),
    cti.el("td", {"data-due": String(now + i.sla_left)}, cti.clock(i.sla_left)))));
  $("queue").hidden = !items.length; $("queue-empty").hidden = !!items.length;
  tick();
}

// Every clock on the page from one timer: waits count up, deadlines count down and turn red when missed.
function tick() {
  const now = Date.now() / 1000;
  for (const cell of document.querySelectorAll("[data-since]")) cell.textContent = cti.clock(now - Number(cell.dataset.since));
  for (const cell of document.querySelectorAll("[data-due]")) {
    const left = Number(cell.dataset.due) - now;
    cell.textContent = cell.dataset.label ? t(cell.dataset.label, {clock: cti.clock(left)}) : cti.clock(left);
    cell.classList.toggle("late", left < 0);
  }
  for (const cell of document.querySelectorAll("[data-expires]")) {
    const left = Number(cell.dataset.expires) - now;
    cell.textContent = left > 0 ? t("offer.expires", {clock: cti.clock(left)}) : t("offer.expired");
    cell.classList.toggle("late", left < 10);
  }
}

function empties() {
  $("offers-empty").hidden = $("offers").children.length > 0;
  $("work-empty").hidden = $("work").children.length > 0;
}

let queueRefresh = null;
function onEvent(event) {
  if (event.type.startsWith("interaction.")) {
    clearTimeout(queueRefresh); queueRefresh = setTimeout(refreshQueue, 50);
  }
  const snapshot = event.data && event.data.interaction;
  if (snapshot && (snapshot.agent_id === me.agent.id || me.cards.has(snapshot.id))) show(snapshot);
  if (event.type === "message.chat_state") work.customerTyping(event);
  else if (event.type.startsWith("message.") && me.cards.has(event.interaction_id)) work.loadConversation(event.interaction_id);
  if (event.type === "case.note_added") {
    for (const [id, item] of me.items) if (item.case_id === event.case_id) work.loadConversation(id);
  }
  if (event.type.startsWith("pivot.") || event.type.startsWith("callback.")) work.pivotStatus(event);
  if (event.type.startsWith("call.") && me.cards.has(event.interaction_id)) callPanel.onEvent(event);
  if (event.type.startsWith("call.") && me.cards.has(event.interaction_id)) {
    const line = me.cards.get(event.interaction_id).querySelector(".call-status");
    if (line) line.textContent = t(`call.${event.type.replace("call.", "")}`) + (event.data.leg ? ` (${event.data.leg})` : "");
  }
  if (event.type === "call.participant.ringing" && event.agent_id === me.agent.id) guest.invited(event);
  if (event.type === "contact.updated") customer.updated(event.data.contact);
  if (event.type === "agent.state_changed" && event.agent_id === me.agent.id) $("state").value = event.data.agent.state;
}

async function show(item) {
  if (item.state === "offered" && item.agent_id === me.agent.id) return showOffer(item);
  document.querySelector(`#offers [data-id="${item.id}"]`)?.remove();
  if (!["active", "held"].includes(item.state) || item.agent_id !== me.agent.id) softphone.close(item.id);
  if (!["active", "held", "wrapup"].includes(item.state) || item.agent_id !== me.agent.id) {
    me.cards.get(item.id)?.remove(); me.cards.delete(item.id); me.items.delete(item.id);
    if (me.selected === item.id) select(me.cards.keys().next().value || null);
    return empties();
  }
  let card = me.cards.get(item.id);
  if (!card) {
    guest.handedOver(item.id);  // (she was a guest on this call, and it was handed to her)
    card = cti.el("article", {class: "card", "data-id": item.id, "aria-labelledby": `work-h-${item.id}`});
    card.addEventListener("focusin", () => select(item.id));
    card.addEventListener("click", () => select(item.id));
    me.cards.set(item.id, card); $("work").prepend(card);
  }
  me.items.set(item.id, item);
  card.replaceChildren(...work.card(item));
  if (!me.selected || me.focusNext === item.id) select(item.id);
  if (me.focusNext === item.id) work.focus(card, item);
  if (item.channel !== "voice") work.loadConversation(item.id);
  else if (inBrowser() && ["active", "held"].includes(item.state)) softphone.connect(item.id, (text) => {
    me.audio.set(item.id, text);
    const line = document.querySelector(`#work [data-id="${item.id}"] .softphone-status`);
    if (line) line.textContent = text;
  });
  empties(); tick();
}

// The customer panel follows the conversation the agent works in.
function select(id) {
  if (me.selected === id && id !== null) return;
  me.selected = id;
  for (const [cardId, card] of me.cards) card.classList.toggle("selected", cardId === id);
  customer.show(id ? me.items.get(id) : null);
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
    new Notification(t("offer.notification"), {body: channelName(item.channel), tag: item.id});
  }
}
new MutationObserver(() => {
  const offers = $("offers").children.length;
  document.title = offers ? `(${offers}) ${t("desk.title")}` : t("desk.title");
  empties();
}).observe($("offers"), {childList: true});
$("alerts").checked = alerts.on;
$("alerts").addEventListener("change", () => {
  alerts.on = $("alerts").checked;
  localStorage.setItem("cti_alerts", alerts.on ? "on" : "off");
  if (alerts.on && "Notification" in window && Notification.permission === "default") Notification.requestPermission();
});

// An offer: who the customer is and what they wrote, why it came to this agent, and how long is left.
async function showOffer(item) {
  if (document.querySelector(`#offers [data-id="${item.id}"]`)) return;
  const expires = item.offer_expires_at ? Date.parse(item.offer_expires_at) / 1000 : null;
  const card = cti.el("article", {class: "card offer", "data-id": item.id, "aria-labelledby": `offer-h-${item.id}`},
    cti.el("h3", {id: `offer-h-${item.id}`}, channelName(item.channel), " · ", t(`initiation.${item.initiation}`)),
    cti.el("p", {class: "why"}, whyText(factorsOf(item.scoring), item.initiation)),
    expires ? cti.el("p", {class: "countdown", role: "timer", "data-expires": String(expires)}) : "");
  $("offers").prepend(card);
  tick(); announce(item);
  const about = cti.el("div", {class: "about"});
  card.append(about, cti.el("div", {class: "row"},
    cti.el("button", {onclick: () => act(item.id, "accept")},
           item.channel === "voice" ? t(inBrowser() ? "offer.answer_here" : "offer.answer_phone") : t("offer.accept")),
    cti.el("button", {class: "secondary", onclick: () => act(item.id, "reject")}, t("offer.reject"))));
  try {
    const [contact, timeline] = await Promise.all([cti.api("GET", `/api/v1/contacts/${item.contact_id}`),
                                                   cti.api("GET", `/api/v1/cases/${item.case_id}/timeline`)]);
    const inbound = (timeline.messages || []).filter((m) => m.direction === "inbound").slice(-2);
    about.append(customer.line(contact), ...inbound.map((m) => cti.el("p", {class: "quote"}, cti.el("bdi", {}, m.text))));
  } catch (error) { about.append(cti.el("p", {class: "error"}, error.message)); }
}

async function act(id, verb, body) {
  if (["accept", "end"].includes(verb)) me.focusNext = id;
  try { return await cti.api("POST", `/api/v1/interactions/${id}/${verb}`, body || {}); }
  catch (error) { alert(`${t(`verb.${verb}`)}: ${error.message}`); }
}

$("state").addEventListener("change", () => cti.api("PUT", `/api/v1/agents/${me.agent.id}/state`, {state: $("state").value}));
cti.start(signIn);
