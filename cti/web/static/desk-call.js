// A call's controls on its work card (desk-work.js): hold, blind transfer, keypad; bringing a
// colleague, a number or a SIP URI into the call (consult: the customer hears hold audio, or
// straight into a conference), then joining everyone, handing the customer over (attended
// transfer) or hanging that party up; and recording: start, pause (for card numbers: nothing of
// the pause is kept), resume, stop. Live by call.participant.* and call.recording.* events.
"use strict";
const callPanel = {
  recording: new Map(),  // interaction id -> "recording" | "paused" | "stopped"

  render(item) {
    const id = item.id;
    const keypad = cti.el("div", {class: "row keypad", role: "group", "aria-label": t("call.keypad")},
      [..."123456789*0#"].map((k) => cti.el("button", {class: "secondary", onclick: () => act(id, "dtmf", {digits: k})}, k)));
    const number = cti.el("input", {id: `xfer-${id}`, placeholder: "+358…", "aria-label": t("call.transfer_to")});
    const target = cti.el("input", {id: `party-${id}`, placeholder: t("call.party_placeholder"), "aria-label": t("call.party_to"),
                                    autocomplete: "off", spellcheck: "false"});
    const mode = cti.el("select", {id: `party-mode-${id}`, "aria-label": t("call.party_mode")},
      cti.el("option", {value: "consult"}, t("call.mode_consult")), cti.el("option", {value: "conference"}, t("call.mode_conference")));
    const parties = cti.el("ul", {class: "parties", "data-parties": id, "aria-live": "polite"});
    callPanel.loadParties(id);
    return [cti.el("p", {class: "call-status", role: "status"}, t("call.connected")),
      inBrowser() ? cti.el("p", {class: "softphone-status", "aria-live": "polite"}, me.audio.get(id) || t("call.in_browser")) : "",
      cti.el("div", {class: "row"},
        cti.el("button", {onclick: () => act(id, item.state === "held" ? "resume" : "hold")}, t(item.state === "held" ? "verb.resume" : "verb.hold")),
        number, cti.el("button", {class: "secondary", onclick: () => act(id, "transfer", {number: number.value})}, t("verb.transfer")),
        cti.el("button", {onclick: () => act(id, "end")}, t("call.hang_up"))),
      cti.el("div", {class: "row"}, target, mode,
        cti.el("button", {class: "secondary", onclick: () => callPanel.add(id, target.value.trim(), mode.value)}, t("call.add_party"))),
      parties, callPanel.recorder(id), keypad];
  },

  // "bob" is a colleague, "queue:billing" that queue's next free agent, "sip:..." a SIP URI,
  // anything with digits a number.
  async add(id, value, mode) {
    if (!value) return;
    const body = value.startsWith("sip:") ? {sip_uri: value} : value.startsWith("queue:") ? {queue: value.slice(6).trim()}
      : /^[+\d][\d\s()-]*$/.test(value) ? {number: value} : {agent_id: value};
    try { await cti.api("POST", `/api/v1/interactions/${id}/participants`, {...body, mode}); await callPanel.loadParties(id); }
    catch (error) { alert(`${t("call.add_party")}: ${error.message}`); }
  },

  async loadParties(id) {
    const list = document.querySelector(`[data-parties="${id}"]`);
    if (!list) return;
    let items = [];
    try { items = (await cti.api("GET", `/api/v1/interactions/${id}/participants`)).items; } catch { return; }
    list.replaceChildren(...items.filter((p) => p.state !== "left").map((p) => cti.el("li", {"data-party": p.id},
      cti.el("bdi", {}, p.target), " ", cti.el("span", {class: "badge"}, t(`party.${p.state}`)), " ",
      cti.el("span", {class: "badge"}, t(`call.mode_${p.mode}`)), " ",
      p.state === "connected" && p.mode === "consult" ? cti.el("button", {class: "secondary", onclick: () =>
        callPanel.change(id, p.id, "PATCH", {mode: "conference"})}, t("call.join_all")) : "",
      p.state === "connected" ? cti.el("button", {class: "secondary", onclick: () => act(id, "transfer", {participant_id: p.id})},
        t("call.hand_over")) : "",
      cti.el("button", {class: "secondary", onclick: () => callPanel.change(id, p.id, "DELETE")}, t("call.drop_party")))));
  },

  async change(id, partyId, method, body) {
    try { await cti.api(method, `/api/v1/interactions/${id}/participants/${partyId}`, body); await callPanel.loadParties(id); }
    catch (error) { alert(error.message); }
  },

  recorder(id) {
    const state = callPanel.recording.get(id) || "off";
    const button = (action, label) => cti.el("button", {class: "secondary", onclick: async () => {
      try { await cti.api("POST", `/api/v1/interactions/${id}/recording`, {action}); }
      catch (error) { alert(`${label}: ${error.message}`); }
    }}, label);
    const buttons = state === "recording" ? [button("pause", t("rec.pause")), button("stop", t("rec.stop"))]
      : state === "paused" ? [button("resume", t("rec.resume")), button("stop", t("rec.stop"))]
      : [button("start", t("rec.start"))];
    return cti.el("div", {class: "row", "data-recorder": id}, cti.el("span", {class: "badge"}, t(`rec.state_${state}`)), ...buttons);
  },

  onEvent(event) {
    const id = event.interaction_id;
    if (event.type.startsWith("call.participant.")) callPanel.loadParties(id);
    const state = {"call.recording.started": "recording", "call.recording.resumed": "recording",
                   "call.recording.paused": "paused", "call.recorded": "stopped"}[event.type];
    if (state) {
      callPanel.recording.set(id, state);
      document.querySelector(`[data-recorder="${id}"]`)?.replaceWith(callPanel.recorder(id));
    }
  },
};
