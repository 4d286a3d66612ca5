// Public replies held for approval (docs/supervising.md): each with who wrote it, where, why it was
// held and how long it has waited; the supervisor edits the text and approves, or rejects with a
// reason the agent reads. The list follows message.approval_* events live.
"use strict";
const approvals = {
  async refresh() {
    const held = (await cti.api("GET", "/api/v1/approvals")).items;
    approvals.held = new Map(held.map((m) => [m.id, m]));
    const box = document.getElementById("approvals");
    const open = new Map([...box.querySelectorAll("[data-message]")].map((card) => [card.dataset.message, card]));
    box.replaceChildren(...held.map((m) => open.get(m.id) || approvals.card(m)));  // (keeps what is being edited)
    document.getElementById("approvals-empty").hidden = held.length > 0;
    document.getElementById("approvals-count").textContent = held.length ? String(held.length) : "";
    approvals.tick();
  },

  card(m) {
    const t = cti.t, reasons = ((m.metadata.approval || {}).reasons || []).map(approvals.reason).join("; ");
    const text = cti.el("textarea", {rows: "3", "aria-label": t("approval.reply"), maxlength: "100000"});
    text.value = m.text;
    const reason = cti.el("input", {type: "text", maxlength: "1000", "aria-label": t("approval.reason"), placeholder: t("approval.reason")});
    const error = cti.el("p", {class: "error", role: "alert", hidden: true});
    const approve = cti.el("button", {type: "button", onclick: () => approvals.decide(m, {decision: "approve",
      ...(text.value !== m.text ? {text: text.value} : {})}, error)}, t("approval.approve"));
    text.addEventListener("input", () => { approve.textContent = t(text.value !== m.text ? "approval.approve_edited" : "approval.approve"); });
    const reject = cti.el("button", {type: "button", class: "danger", onclick: () => {
      if (!reason.value.trim()) { error.textContent = t("approval.reason_needed"); error.hidden = false; reason.focus(); return; }
      approvals.decide(m, {decision: "reject", reason: reason.value.trim()}, error);
    }}, t("approval.reject"));
    return cti.el("article", {class: "approval", "data-message": m.id, "data-since": String(Date.parse(m.created_at) / 1000)},
      cti.el("p", {class: "meta held-for"}, ""),
      cti.el("p", {class: "hint"}, t("approval.why", {reasons})),
      text, reason, cti.el("div", {class: "row"}, approve, reject), error);
  },

  reason(code) {
    if (code.startsWith("word:")) return cti.t("approval.why_word", {word: code.slice(5)});
    return cti.t(`approval.why_${code}`);
  },

  async decide(m, body, error) {
    error.hidden = true;
    try {
      await cti.api("POST", `/api/v1/approvals/${encodeURIComponent(m.id)}`, body);
      document.querySelector(`#approvals [data-message="${CSS.escape(m.id)}"]`)?.remove();
    } catch (failure) { error.textContent = failure.message; error.hidden = false; }
    await approvals.refresh();
  },

  // The line above each reply: agent, channel, queue and the wait so far (ticks with the board).
  held: new Map(),
  tick() {
    const now = Date.now() / 1000;
    document.querySelectorAll("#approvals [data-message]").forEach((card) => {
      const m = approvals.held.get(card.dataset.message);
      if (!m) return;
      card.querySelector(".held-for").textContent = cti.t("approval.from", {agent: m.agent_name || m.agent_id || "–",
        channel: cti.messages[`channel.${m.channel}`] || m.channel, queue: m.queue || "–",
        clock: cti.clock(Math.max(0, now - Date.parse(m.created_at) / 1000 - board.skew))});
    });
  },
};
