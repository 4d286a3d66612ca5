// The customer in context (the right column of desk.js): who they are on every channel (with the
// "verified by pivot" mark), their language and attributes (the agent edits VIP, value, purchases
// and a note; these feed social priority), and every earlier case across channels, each opening
// its timeline. Live: a contact.updated event redraws it.
"use strict";
const customer = {
  shown: null,  // the contact id in the panel

  // One line about a customer for an offer: name, VIP, their addresses.
  line(contact) {
    const attrs = contact.attributes || {};
    return cti.el("p", {class: "contact-line"}, cti.el("strong", {}, cti.el("bdi", {}, contact.name || t("contact.no_name"))),
      attrs.vip ? cti.el("span", {class: "badge vip"}, t("contact.vip")) : "", " ",
      (contact.identities || []).slice(0, 3).map((i) => cti.el("span", {class: "identity"}, `${t(`identity.${i.kind}`)} `, cti.el("bdi", {}, i.value))));
  },

  async show(item) {
    const box = $("contact");
    if (!item) { customer.shown = null; box.replaceChildren(cti.el("p", {class: "empty"}, t("contact.empty"))); return; }
    if (customer.shown === item.contact_id) return;
    customer.shown = item.contact_id;
    try {
      const [contact, history] = await Promise.all([cti.api("GET", `/api/v1/contacts/${item.contact_id}`),
        cti.api("GET", `/api/v1/contacts/${item.contact_id}/history?limit=20`)]);
      if (customer.shown === contact.id) box.replaceChildren(...customer.render(contact, history, item));
    } catch (error) { box.replaceChildren(cti.el("p", {class: "error"}, error.message)); }
  },

  updated(contact) {
    if (customer.shown !== contact.id) return;
    customer.shown = null;
    const item = me.items.get(me.selected);
    if (item) customer.show(item);
  },

  render(contact, history, item) {
    const attrs = contact.attributes || {};
    const identities = cti.el("ul", {class: "identities"}, (contact.identities || []).map((i) => cti.el("li", {},
      cti.el("span", {class: "kind"}, t(`identity.${i.kind}`)), " ", cti.el("bdi", {}, i.value),
      i.verified ? cti.el("span", {class: "badge verified", title: t("contact.verified_title")}, "✓ ", t("contact.verified")) : "")));
    const earlier = history.items.filter((h) => h.case.id !== item.case_id);
    return [
      cti.el("p", {class: "contact-name"}, cti.el("bdi", {}, contact.name || t("contact.no_name")),
        attrs.vip ? cti.el("span", {class: "badge vip"}, t("contact.vip")) : ""),
      identities,
      customer.form(contact),
      cti.el("h3", {}, t("contact.history", {count: earlier.length + (history.next ? "+" : "")})),
      earlier.length ? cti.el("ol", {class: "history"}, earlier.map((h) => customer.caseLine(h)))
        : cti.el("p", {class: "empty"}, t("contact.history_empty")),
      history.next ? customer.more(contact.id, history.next, item) : "",
    ];
  },

  // Twenty cases at a time: the next page on request (a regular customer may have hundreds).
  more(contactId, after, item) {
    const button = cti.el("button", {type: "button", class: "secondary", onclick: async () => {
      try {
        const page = await cti.api("GET", `/api/v1/contacts/${contactId}/history?limit=20&after=${encodeURIComponent(after)}`);
        ($("contact").querySelector("ol.history") || $("contact")).append(
          ...page.items.filter((h) => h.case.id !== item.case_id).map((h) => customer.caseLine(h)));
        button.replaceWith(page.next ? customer.more(contactId, page.next, item) : "");
      } catch (error) { button.textContent = error.message; }
    }}, t("contact.more"));
    return button;
  },

  // The attributes an agent edits; other attributes (from imports) are shown as they are.
  form(contact) {
    const attrs = contact.attributes || {}, id = contact.id;
    const field = (key, label, input) => [cti.el("label", {for: `c-${key}-${id}`}, label), input];
    const name = cti.el("input", {id: `c-name-${id}`, value: contact.name || "", autocomplete: "off"});
    const language = cti.el("select", {id: `c-language-${id}`}, cti.el("option", {value: ""}, "–"),
      Object.entries({en: "English", fi: "Suomi", zh: "中文", ko: "한국어", pl: "Polski"}).map(([code, label]) =>
        cti.el("option", {value: code, selected: contact.language === code}, label)));
    const vip = cti.el("input", {id: `c-vip-${id}`, type: "checkbox", checked: !!attrs.vip});
    const value = cti.el("input", {id: `c-value-${id}`, type: "number", min: "0", step: "0.01", inputmode: "decimal",
                                   value: attrs.lifetime_value ?? ""});
    const purchases = cti.el("input", {id: `c-purchases-${id}`, type: "number", min: "0", step: "1", value: attrs.purchases ?? ""});
    const note = cti.el("textarea", {id: `c-note-${id}`, rows: "2"}, attrs.note || "");
    const status = cti.el("span", {class: "hint", role: "status"});
    const others = Object.entries(attrs).filter(([k]) => !["vip", "lifetime_value", "purchases", "note"].includes(k));
    const form = cti.el("form", {class: "contact-form"},
      ...field("name", t("contact.name"), name), ...field("language", t("contact.language"), language),
      cti.el("label", {class: "check"}, vip, " ", t("contact.vip_label")),
      ...field("value", t("contact.lifetime_value"), value), ...field("purchases", t("contact.purchases"), purchases),
      ...field("note", t("contact.note"), note),
      others.length ? cti.el("dl", {class: "others"}, others.flatMap(([k, v]) => [cti.el("dt", {}, k), cti.el("dd", {}, cti.el("bdi", {}, String(v)))])) : "",
      cti.el("div", {class: "row"}, cti.el("button", {type: "submit", class: "secondary"}, t("contact.save")), status));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const number = (input) => (input.value === "" ? null : Number(input.value));
      try {
        await cti.api("PATCH", `/api/v1/contacts/${id}`, {name: name.value.trim() || null, language: language.value || null,
          attributes: {vip: vip.checked, lifetime_value: number(value), purchases: number(purchases), note: note.value.trim() || null}});
        status.textContent = t("contact.saved");
      } catch (error) { status.textContent = error.message; }
    });
    return form;
  },

  caseLine(h) {
    const last = h.last_message;
    return cti.el("li", {},
      cti.el("button", {type: "button", class: "link", onclick: () => customer.timeline(h.case)},
        h.case.subject ? cti.el("bdi", {}, h.case.subject) : t("contact.case", {id: h.case.id})),
      cti.el("p", {class: "meta"}, h.channels.map(channelName).join(", "), " · ", t(`case.${h.case.status}`), " · ",
        cti.el("time", {datetime: h.case.created_at}, cti.time(h.case.created_at))),
      last ? cti.el("p", {class: "quote"}, cti.el("bdi", {}, last.text)) : "");
  },

  // An earlier case's timeline in a dialog: its messages in order, then what happened on it.
  async timeline(aCase) {
    const dialog = $("timeline"), list = $("timeline-entries");
    $("timeline-h").textContent = aCase.subject || t("contact.case", {id: aCase.id});
    list.replaceChildren(cti.el("li", {}, t("common.loading")));
    dialog.showModal();
    try {
      const found = await cti.api("GET", `/api/v1/cases/${aCase.id}/timeline`);
      const lines = (found.messages || []).map((m) => cti.el("li", {class: `msg ${m.direction}`},
        cti.el("p", {class: "meta"}, channelName(m.channel), " · ", m.direction === "inbound" ? t("work.customer") : t("work.agent"),
          " · ", cti.el("time", {datetime: m.created_at}, cti.time(m.created_at))),
        cti.el("p", {class: "text"}, cti.el("bdi", {}, m.text || ""))));
      list.replaceChildren(...(lines.length ? lines : [cti.el("li", {}, t("contact.no_messages"))]));
    } catch (error) { list.replaceChildren(cti.el("li", {class: "error"}, error.message)); }
  },
};
