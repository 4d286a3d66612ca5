// A colleague asks this agent into her call (consult or conference) and this agent answers calls in
// the browser: call.participant.ringing puts an invitation among the offers (Join / Decline); Join
// connects the browser's audio to that party (POST .../participants/{pid}/softphone) and shows a card
// for the call with "Leave". If the colleague then hands the customer over, the interaction becomes
// this agent's own and its ordinary card takes the guest card's place (the audio goes on).
"use strict";
const guest = (() => {
  const {t, el} = {t: cti.t, el: cti.el};

  function invited(event) {
    const party = event.data.participant;
    if (!event.data.browser || document.querySelector(`#offers [data-party="${party.id}"]`)) return;
    const heading = `invite-h-${party.id}`;
    const card = el("article", {class: "card offer", "data-party": party.id, "aria-labelledby": heading},
      el("h3", {id: heading}, t("guest.invited", {by: party.requested_by, mode: t(`call.mode_${party.mode}`)})),
      el("div", {class: "row"},
        el("button", {type: "button", onclick: () => join(event.interaction_id, party, card)}, t("guest.join")),
        el("button", {type: "button", class: "secondary", onclick: () => decline(event.interaction_id, party, card)},
           t("guest.decline"))));
    $("offers").prepend(card);
    empties();
    card.querySelector("button").focus();
  }

  async function decline(iid, party, invitation) {
    invitation.remove(); empties();
    try { await cti.api("POST", `/api/v1/interactions/${iid}/participants/${party.id}/decline`); } catch { /* it gave up */ }
  }

  function join(iid, party, invitation) {
    invitation.remove();
    const heading = `guest-h-${party.id}`;
    const line = el("p", {class: "softphone-status", "aria-live": "polite"}, t("call.in_browser"));
    const card = el("article", {class: "card", "data-guest": iid, "aria-labelledby": heading},
      el("h3", {id: heading}, t("guest.in_call", {by: party.requested_by})), line,
      el("button", {type: "button", class: "secondary", onclick: () => leave(iid)}, t("guest.leave")));
    $("work").prepend(card); empties();
    softphone.connect(iid, (text) => { line.textContent = text; }, {
      path: `/api/v1/interactions/${iid}/participants/${party.id}/softphone`, status: () => line,
      onEnd: () => { if (!me.cards.has(iid)) dropCard(iid); }});
  }

  function dropCard(iid) { document.querySelector(`#work [data-guest="${iid}"]`)?.remove(); empties(); }

  function leave(iid) { softphone.close(iid); dropCard(iid); }

  return {invited, leave, handedOver: dropCard};
})();
