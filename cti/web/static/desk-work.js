// The agent's work cards (the middle column of desk.js): a written conversation with timestamps,
// each reply's delivery state and the internal notes in line; the reply box with the channel's own
// reply modes, canned replies (pick from the list, or type /shortcut and press Enter) and a note
// box; pivot links that keep their state across reloads; a call's controls (desk-call.js); wrap-up.
"use strict";
const work = {
  card(item) {
    const heading = cti.el("h3", {id: `work-h-${item.id}`}, channelName(item.channel), " · ", t(`state.${item.state}`));
    const parts = [cti.el("div", {class: "card-head"}, heading, work.clock(item))];
    if (item.state === "wrapup") return [...parts, work.wrapup(item)];
    if (item.channel === "voice") return [...parts, ...work.call(item)];
    const box = cti.el("div", {class: "conversation", "data-messages": item.id, role: "log",
                               "aria-label": t("work.conversation")});
    const suggestion = item.scoring && item.scoring.reply_mode;
    return [...parts,
      suggestion ? cti.el("p", {class: "suggestion"}, t("work.suggested", {mode: t(`mode.${suggestion.mode}`)}), " ", cti.el("bdi", {}, suggestion.reason)) : "",
      box, cti.el("p", {class: "hint typing", "data-typing": item.id, "aria-live": "polite"}),
      work.reply(item), work.note(item), work.actions(item)];
  },

  // The service-level clock: until the first answer the deadline counts down; on a call, its length.
  clock(item) {
    if (item.channel === "voice" && item.accepted_at) {
      return cti.el("span", {class: "pill", "data-since": String(Date.parse(item.accepted_at) / 1000)});
    }
    const threshold = me.sla[item.channel];
    if (item.first_response_at || !item.queued_at || threshold === undefined || item.state === "wrapup") return "";
    return cti.el("span", {class: "pill sla", "data-label": "work.reply_due", role: "timer",
                           "data-due": String(Date.parse(item.queued_at) / 1000 + threshold)});
  },

  wrapup(item) {
    const form = cti.el("form", {class: "wrapup"},
      cti.el("label", {for: `disp-${item.id}`}, t("wrapup.disposition")), cti.el("input", {id: `disp-${item.id}`, name: "disposition"}),
      cti.el("label", {for: `notes-${item.id}`}, t("wrapup.notes")), cti.el("textarea", {id: `notes-${item.id}`, name: "notes"}),
      cti.el("button", {type: "submit"}, t("wrapup.finish")));
    form.addEventListener("submit", (e) => { e.preventDefault();
      act(item.id, "wrapup", {disposition: form.disposition.value || null, notes: form.notes.value || null}); });
    return form;
  },

  call(item) {
    return callPanel.render(item);  // desk-call.js
  },

  reply(item) {
    const text = cti.el("textarea", {id: `reply-${item.id}`, rows: "3", "aria-describedby": `reply-hint-${item.id}`});
    const mode = cti.el("select", {id: `mode-${item.id}`, "aria-label": t("work.reply_mode"), hidden: true},
      cti.el("option", {value: "private"}, t("mode.private")), cti.el("option", {value: "public"}, t("mode.public")),
      cti.el("option", {value: "template", hidden: true}, t("mode.template")));
    const template = cti.el("div", {class: "row template", id: `template-${item.id}`, hidden: true});
    const mediaUrl = cti.el("input", {type: "url", id: `media-${item.id}`, placeholder: "https://…", pattern: "https://.+",
                                      "aria-label": t("work.media_url")});
    const mediaType = cti.el("select", {"aria-label": t("work.media_type")},
      ["image", "document", "audio", "video"].map((kind) => cti.el("option", {value: kind}, t(`work.media_${kind}`))));
    const media = cti.el("div", {class: "row", id: `media-row-${item.id}`, hidden: true}, mediaUrl, mediaType);
    mode.addEventListener("change", () => work.templateFields(item.id));
    const suggestion = item.scoring && item.scoring.reply_mode;
    if (suggestion && suggestion.mode === "public") mode.value = "public";
    const canned = cti.el("select", {id: `canned-${item.id}`, "aria-label": t("work.canned"), hidden: true},
      cti.el("option", {value: ""}, t("work.canned_pick")));
    const form = cti.el("form", {class: "reply"},
      cti.el("label", {for: `reply-${item.id}`}, t("work.reply")), text,
      cti.el("p", {class: "hint", id: `reply-hint-${item.id}`}, t("work.reply_hint")),
      cti.el("p", {class: "late", id: `window-${item.id}`, role: "status", hidden: true}, t("work.window_closed")),
      template, media,
      cti.el("div", {class: "row"}, canned, mode, cti.el("button", {type: "submit"}, t("work.send"))));
    work.cannedReplies(item, canned, text);
    text.addEventListener("input", () => work.agentTyping(item));
    text.addEventListener("keydown", async (e) => {  // "/thanks" + Enter puts that canned reply in the box
      const typed = text.value.trim();
      if (e.key !== "Enter" || e.shiftKey || !/^\/[\w-]+$/.test(typed)) return;
      const found = (work.replies || []).find((r) => r.shortcut === typed.slice(1) || r.shortcut === typed);
      if (!found) return;
      e.preventDefault(); await work.fill(item, found.id, text);
    });
    form.addEventListener("submit", async (e) => { e.preventDefault();
      try {
        if (mode.value === "template") {
          const name = template.querySelector("select").value;
          const parameters = [...template.querySelectorAll("input")].map((input) => input.value);
          await cti.api("POST", `/api/v1/interactions/${item.id}/messages`, {mode: "template", template: {name, parameters},
            text: text.value.trim() || `${t("mode.template")}: ${name} (${parameters.join(", ")})`});
        } else {
          const file = mediaUrl.value.trim() ? {url: mediaUrl.value.trim(), type: mediaType.value} : undefined;
          await cti.api("POST", `/api/v1/interactions/${item.id}/messages`, {text: text.value, mode: mode.hidden ? undefined : mode.value, media: file});
        }
        text.value = ""; mediaUrl.value = "";
      } catch (error) { alert(`${t("work.send")}: ${error.message}`); } });
    return form;
  },

  // Canned replies in the conversation's language first (then the others), each filled for this customer.
  async cannedReplies(item, select, text) {
    try { work.replies = work.replies || (await cti.api("GET", "/api/v1/canned-replies")).items; } catch { return; }
    const language = item.language || cti.lang;
    const ordered = [...work.replies].sort((a, b) => (b.language === language) - (a.language === language));
    select.append(...ordered.map((r) => cti.el("option", {value: r.id, lang: r.language},
      `${r.title}${r.shortcut ? ` (/${r.shortcut.replace(/^\//, "")})` : ""} · ${r.language}`)));
    select.hidden = ordered.length === 0;
    select.addEventListener("change", async () => { if (select.value) await work.fill(item, select.value, text); select.value = ""; });
  },

  async fill(item, replyId, text) {
    try {
      const filled = await cti.api("GET", `/api/v1/interactions/${item.id}/canned-reply?reply_id=${encodeURIComponent(replyId)}`);
      text.value = filled.text; text.focus();
    } catch (error) { alert(`${t("work.canned")}: ${error.message}`); }
  },

  note(item) {
    const text = cti.el("textarea", {id: `note-${item.id}`, rows: "2"});
    const form = cti.el("form", {class: "note"},
      cti.el("label", {for: `note-${item.id}`}, t("work.note"), " ", cti.el("span", {class: "badge internal"}, t("work.internal"))),
      text, cti.el("button", {type: "submit", class: "secondary"}, t("work.add_note")));
    form.addEventListener("submit", async (e) => { e.preventDefault();
      if (!text.value.trim()) return;
      try { await cti.api("POST", `/api/v1/cases/${item.case_id}/notes`, {text: text.value}); text.value = ""; work.loadConversation(item.id); }
      catch (error) { alert(`${t("work.add_note")}: ${error.message}`); } });
    return form;
  },

  actions(item) {
    const pivots = cti.el("div", {class: "pivots", "aria-live": "polite"});
    work.loadPivots(item.id, pivots);
    const target = cti.el("select", {id: `pivot-to-${item.id}`, "aria-label": t("pivot.to")},
      ["callback", "voice", "email", "chat"].map((to) => cti.el("option", {value: to}, t(`pivot.to_${to}`))));
    const pivot = cti.el("button", {class: "secondary", onclick: async () => {
      const body = await act(item.id, "pivot", {to: target.value, send: true});
      if (body && !pivots.querySelector(`[data-pivot="${body.pivot_link.id}"]`)) {
        pivots.append(work.pivotLine(body.pivot_link, me.pivots.get(body.pivot_link.id) || "sent", body.pivot_link.url));
      }
    }}, t("pivot.send"));
    return cti.el("div", {},
      cti.el("div", {class: "row"}, target, pivot,
        cti.el("button", {class: "secondary", onclick: () => act(item.id, item.state === "held" ? "resume" : "hold")},
               t(item.state === "held" ? "verb.resume" : "verb.hold")),
        cti.el("button", {onclick: () => act(item.id, "end")}, t("work.end"))), pivots);
  },

  pivotLine(link, state, url) {
    return cti.el("p", {"data-pivot": link.id}, t("pivot.link", {to: t(`pivot.to_${link.to}`)}), " ",
      url ? cti.el("a", {href: url}, url) : "", " ", cti.el("span", {class: "badge pivot-state"}, t(`pivot.state_${state}`)));
  },

  // The links sent from a conversation come from the API (so their state survives a reload); events
  // keep them current after that. The URL itself exists only in the answer that minted it.
  async loadPivots(id, box) {
    let links = [];
    try { links = (await cti.api("GET", `/api/v1/pivot-links?source_interaction_id=${id}`)).items; } catch { return; }
    for (const link of links) {
      if (box.querySelector(`[data-pivot="${link.id}"]`)) continue;
      const state = me.pivots.get(link.id) || (link.status !== "active" ? link.status : link.redeemed_at ? "redeemed"
                                               : link.opened_at ? "opened" : "sent");
      box.append(work.pivotLine(link, state));
    }
  },

  pivotStatus(event) {
    const link = event.data.pivot_link, callback = event.data.callback;
    const id = link ? link.id : callback && callback.pivot_link_id;
    const state = {"pivot.created": "sent", "pivot.opened": "opened", "pivot.redeemed": "redeemed", "pivot.expired": "expired",
                   "pivot.connected": "connected", "callback.scheduled": "scheduled", "callback.dialing": "dialing", "callback.connected": "connected",
                   "callback.failed": "failed"}[event.type];
    if (!id || !state) return;
    me.pivots.set(id, state);
    const node = document.querySelector(`[data-pivot="${id}"] .pivot-state`);
    if (node) node.textContent = t(`pivot.state_${state}`);
  },

  // The conversation: messages and the case's internal notes in time order, each with its time; a
  // reply shows its delivery state (queued, sent, delivered, failed with the reason, held).
  async loadConversation(id) {
    const box = document.querySelector(`[data-messages="${id}"]`), item = me.items.get(id);
    if (!box || !item) return;
    const [messages, notes] = await Promise.all([cti.api("GET", `/api/v1/interactions/${id}/messages`),
                                                 cti.api("GET", `/api/v1/cases/${item.case_id}/notes`).catch(() => ({items: []}))]);
    const mode = document.getElementById(`mode-${id}`), modes = messages.reply_modes || ["private"];
    if (mode) {  // the modes this conversation has now; outside WhatsApp's window only a template
      [...mode.options].forEach((option) => { option.hidden = !modes.includes(option.value); });
      if (!modes.includes(mode.value)) mode.value = modes[0];
      mode.hidden = modes.length < 2;
      work.templatesOf.set(id, messages.templates || {});
      document.getElementById(`window-${id}`).hidden = !(modes.length === 1 && modes[0] === "template");
      work.templateFields(id);
    }
    work.liveMarks.set(id, Boolean(messages.live_marks));
    const mediaRow = document.getElementById(`media-row-${id}`);
    if (mediaRow) mediaRow.hidden = !messages.sends_media || (modes.length === 1 && modes[0] === "template");
    const newest = messages.items.filter((m) => m.direction === "inbound").pop();
    if (messages.live_marks && newest && item.state === "active" && item.agent_id === me.agent.id && !document.hidden
        && work.readSent.get(id) !== newest.id) {  // the customer sees "Read" (the web chat shows it)
      work.readSent.set(id, newest.id);
      cti.api("POST", `/api/v1/interactions/${id}/read`, {message_id: newest.id}).catch(() => {});
    }
    const entries = [...messages.items.map((m) => ({at: m.created_at, node: work.message(m)})),
                     ...notes.items.map((n) => ({at: n.created_at, node: work.noteLine(n)}))];
    entries.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.replaceChildren(...entries.map((e) => e.node));
    if (atBottom) box.scrollTop = box.scrollHeight;
  },

  // The approved template to send and one box per body parameter (mode template).
  templatesOf: new Map(),
  templateFields(id) {
    const box = document.getElementById(`template-${id}`), mode = document.getElementById(`mode-${id}`);
    if (!box || !mode) return;
    box.hidden = mode.value !== "template";
    if (box.hidden || box.querySelector("select")) return;
    const templates = work.templatesOf.get(id) || {};
    const pick = cti.el("select", {"aria-label": t("work.template")},
      Object.keys(templates).map((name) => cti.el("option", {value: name}, name)));
    const fields = cti.el("span", {class: "row"});
    const draw = () => fields.replaceChildren(...Array.from({length: templates[pick.value] || 0}, (_, n) =>
      cti.el("input", {type: "text", required: true, maxlength: "1024", "aria-label": t("work.template_parameter", {n: n + 1}),
                       placeholder: t("work.template_parameter", {n: n + 1})})));
    pick.addEventListener("change", draw);
    box.replaceChildren(pick, fields);
    draw();
  },

  message(m) {
    const inbound = m.direction === "inbound";
    const edited = ((m.metadata || {}).approval || {}).edited ? cti.el("span", {class: "badge"}, t("approval.edited")) : "";
    const state = inbound ? "" : [cti.el("span", {class: `badge delivery ${m.status}`},
      t(`delivery.${m.status}`), m.error ? `: ${m.error}` : ""), edited];
    return cti.el("div", {class: `msg ${m.direction}`},
      cti.el("p", {class: "meta"}, inbound ? t("work.customer") : m.agent_id ? t("work.you") : t("work.automatic"),
        m.mode === "public" ? ` · ${t("mode.public")}` : "", " · ", cti.el("time", {datetime: m.created_at}, cti.time(m.created_at)), " ", state),
      cti.el("p", {class: "text"}, cti.el("bdi", {}, m.text || "")),
      (m.attachments || []).map((a, n) => work.attachment(m, a, n)));
  },

  // A file the customer sent: a download (fetched with the desk's credentials), or why it was not kept.
  attachment(m, a, n) {
    if (a.url) return cti.el("p", {class: "hint"}, cti.el("a", {href: a.url, rel: "noopener noreferrer", target: "_blank"}, a.filename));
    if (!a.stored) return cti.el("p", {class: "hint"}, t("work.attachment_dropped", {name: a.filename, reason: a.dropped || "?"}));
    const button = cti.el("button", {type: "button", class: "secondary", onclick: async () => {
      const response = await fetch(`/api/v1/messages/${m.id}/attachments/${n}`, {headers: cti.headers(), credentials: "same-origin"});
      if (!response.ok) { alert(response.statusText); return; }
      const link = cti.el("a", {href: URL.createObjectURL(await response.blob()), download: a.filename});
      link.click(); setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    }}, t("work.attachment", {name: a.filename, size: String(Math.ceil(a.size / 1024))}));
    return cti.el("p", {}, button);
  },

  // Typing both ways, where the channel shows it to the customer (the web chat): the agent's at most
  // every 3 s and "paused" after 5 s without a key; the customer's for 6 s or until they pause.
  liveMarks: new Map(), readSent: new Map(), typingTimers: new Map(),
  agentTyping(item) {
    if (!work.liveMarks.get(item.id)) return;
    const timers = work.typingTimers.get(item.id) || {sent: 0, idle: null};
    work.typingTimers.set(item.id, timers);
    clearTimeout(timers.idle);
    const post = (state) => cti.api("POST", `/api/v1/interactions/${item.id}/typing`, {state}).catch(() => {});
    if (Date.now() - timers.sent > 3000) { timers.sent = Date.now(); post("composing"); }
    timers.idle = setTimeout(() => { timers.sent = 0; post("paused"); }, 5000);
  },
  customerTyping(event) {
    const line = document.querySelector(`[data-typing="${event.interaction_id}"]`);
    if (!line || (event.data.from || {}).kind === "agent") return;
    line.textContent = event.data.state === "composing" ? t("work.typing") : "";
    clearTimeout(line.timer);
    if (line.textContent) line.timer = setTimeout(() => { line.textContent = ""; }, 6000);
  },

  noteLine(note) {
    return cti.el("div", {class: "msg note"},
      cti.el("p", {class: "meta"}, cti.el("span", {class: "badge internal"}, t("work.internal")), " ", note.author_id || t(`role.${note.author_role}`),
        " · ", cti.el("time", {datetime: note.created_at}, cti.time(note.created_at))),
      cti.el("p", {class: "text"}, cti.el("bdi", {}, note.text)));
  },

  // Focus follows the agent's own actions (never an arriving offer, which would steal her typing):
  // after Accept the reply box (or a call's Hang up), after End the wrap-up's first field.
  focus(card, item) {
    const target = item.state === "wrapup" ? card.querySelector("form.wrapup input")
      : item.channel === "voice" ? [...card.querySelectorAll("button")].find((b) => b.textContent === t("call.hang_up"))
      : card.querySelector("form.reply textarea");
    if (target) { target.focus(); me.focusNext = null; }
  },
};
