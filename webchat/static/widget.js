// The web chat widget: <script src="https://cti.example.com/chat/widget.js" async></script> on a page
// of an allowed origin adds a chat button and window inside a shadow root (the page's styles and the
// widget's do not meet). Everything the visitor or an agent writes is put in the page as text, never
// as HTML. The conversation survives reloads and drops: the visitor token and the messages not yet
// confirmed are kept in localStorage; the WebSocket resumes with since= (a reload replays the whole
// conversation, a drop only what was missed) and unconfirmed messages are sent again with their
// client_id, which the server stores once. Without WebSockets it polls GET /chat/v1/messages.
// Options on the script tag: data-lang (else the page's, else the browser's language), data-open,
// data-pivot (a pivot link's token: continue that case; the server's own chat page sets it).
"use strict";
(() => {
  const STRINGS = /*STRINGS*/{};
  const script = document.currentScript;
  if (!script || window.__ctiChatLoaded) return;
  window.__ctiChatLoaded = true;
  const base = new URL(script.src).origin;
  const pick = (tag) => (tag || "").slice(0, 2).toLowerCase();
  const lang = [script.dataset.lang, document.documentElement.lang, ...(navigator.languages || [navigator.language])]
    .map(pick).find((l) => STRINGS[l]) || "en";
  const words = STRINGS[lang];
  const t = (key, vars = {}) => (words[key] || STRINGS.en[key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
  const storeKey = `cti-chat:${base}`;
  const load = () => { try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch { return {}; } };
  let saved = load();
  if (script.dataset.pivot && saved.pivot !== script.dataset.pivot) saved = {};  // (a new link: its own conversation)
  const save = () => { try { localStorage.setItem(storeKey, JSON.stringify(saved)); } catch { /* private mode */ } };
  saved.pending = saved.pending || [];

  // ---- the DOM, in a shadow root --------------------------------------------------------------
  const host = document.createElement("div");
  host.setAttribute("data-cti-chat", "");
  const root = host.attachShadow({mode: "open"});
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== false && value !== undefined) node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.flat().filter((c) => c !== "" && c !== null && c !== undefined));
    return node;
  };
  const clip = () => {  // a paperclip (no emoji font is needed)
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "18"); svg.setAttribute("height", "18");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5");
    path.setAttribute("fill", "none"); path.setAttribute("stroke", "currentColor"); path.setAttribute("stroke-width", "1.8");
    path.setAttribute("stroke-linecap", "round");
    svg.append(path);
    return svg;
  };
  root.append(el("style", {}, `
    :host { all: initial; }
    [hidden] { display: none !important; }
    * { box-sizing: border-box; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", sans-serif; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 28px;
      padding: 14px 20px; background: #1f4ed8; color: #fff; font-weight: 600; cursor: pointer; box-shadow: 0 4px 16px #0004; }
    .launcher:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
    .panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483000; width: 370px; max-width: calc(100vw - 24px);
      height: 560px; max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: #fff; color: #111827;
      border-radius: 14px; box-shadow: 0 12px 40px #0005; overflow: hidden; }
    .panel[hidden] { display: none; }
    header { background: #1f4ed8; color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 8px; }
    header h2 { margin: 0; font-size: 16px; font-weight: 700; flex: 1; }
    header .who { display: block; font-size: 13px; font-weight: 400; opacity: .9; }
    header button { background: transparent; color: #fff; border: 1px solid #fff8; border-radius: 8px; padding: 4px 8px; cursor: pointer; font-size: 13px; }
    .body { flex: 1; overflow-y: auto; padding: 12px; background: #f3f4f6; display: flex; flex-direction: column; gap: 8px; }
    .msg { max-width: 82%; padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .msg.visitor { align-self: flex-end; background: #1f4ed8; color: #fff; border-bottom-right-radius: 4px; }
    .msg.agent { align-self: flex-start; background: #fff; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
    .msg .by { display: block; font-size: 12px; font-weight: 600; color: #374151; }
    .msg .mark { display: block; font-size: 11px; opacity: .85; text-align: right; margin-top: 2px; }
    .msg.failed { background: #b91c1c; cursor: pointer; }
    .file { display: flex; align-items: center; gap: 4px; font-size: 14px; }
    .attach { display: inline-flex; align-items: center; justify-content: center; min-width: 42px; min-height: 42px; }
    .note { align-self: center; font-size: 13px; color: #4b5563; text-align: center; padding: 2px 8px; }
    .notice { background: #fff7ed; border: 1px solid #fdba74; border-radius: 10px; padding: 10px; font-size: 14px; }
    .typing { min-height: 20px; padding: 0 14px; font-size: 13px; color: #4b5563; background: #f3f4f6; }
    form { display: flex; flex-direction: column; gap: 8px; }
    label { font-size: 13px; color: #374151; }
    input, textarea { width: 100%; border: 1px solid #9ca3af; border-radius: 8px; padding: 8px; background: #fff; color: #111827; }
    .composer { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e5e7eb; align-items: flex-end; background: #fff; }
    .composer textarea { resize: none; height: 42px; max-height: 120px; }
    .primary { background: #1f4ed8; color: #fff; border: 0; border-radius: 8px; padding: 9px 14px; font-weight: 600; cursor: pointer; white-space: nowrap; }
    .secondary { background: #fff; color: #1f4ed8; border: 1px solid #1f4ed8; border-radius: 8px; padding: 8px 12px; cursor: pointer; }
    .attach { position: relative; overflow: hidden; }
    .attach input { position: absolute; inset: 0; opacity: 0; cursor: pointer; }
    .row { display: flex; gap: 6px; flex-wrap: wrap; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
    @media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100%; max-height: 100%; border-radius: 0; } }
  `));
  const launcher = el("button", {class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "cti-chat-panel"}, t("open"));
  const who = el("span", {class: "who"});
  const company = el("span", {});
  const title = el("h2", {id: "cti-chat-title"}, company, who);
  const talkButton = el("button", {type: "button", hidden: true, title: t("talk_hint"), onclick: () => talk()}, t("talk"));
  const callButton = el("button", {type: "button", hidden: true, onclick: () => callbackForm()}, t("callback"));
  const closeButton = el("button", {type: "button", "aria-label": t("close"), onclick: () => toggle(false)}, "✕");
  const log = el("div", {class: "body", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0"});
  const typingLine = el("div", {class: "typing", "aria-live": "polite"});
  const text = el("textarea", {id: "cti-chat-text", "aria-label": t("message"), placeholder: t("placeholder"), maxlength: "4000", rows: "1"});
  const file = el("input", {type: "file", "aria-label": t("attach"), onchange: () => sendFile()});
  const composer = el("div", {class: "composer", hidden: true},
    el("span", {class: "secondary attach", title: t("attach")}, clip(), el("span", {class: "sr"}, t("attach")), file),
    text, el("button", {type: "button", class: "primary", onclick: () => sendText()}, t("send")));
  const panel = el("div", {class: "panel", id: "cti-chat-panel", role: "dialog", "aria-labelledby": "cti-chat-title", hidden: true},
    el("header", {}, title, talkButton, callButton, closeButton), log, typingLine, composer);
  root.append(launcher, panel);
  launcher.addEventListener("click", () => toggle(panel.hidden));
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") toggle(false); });
  const mount = () => document.body.append(host);
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  // ---- state ------------------------------------------------------------------------------------
  let status = null, socket = null, since = 0, ready = false, failures = 0, polling = null, agentName = "", replaced = false;
  const wake = () => { if (replaced && !socket && saved.token) { replaced = false; connect(since); } };
  const shown = new Map();  // message id or client_id -> node
  const api = async (method, path, body, isForm) => {
    const headers = saved.token ? {Authorization: `Bearer ${saved.token}`} : {};
    if (body && !isForm) headers["Content-Type"] = "application/json";
    const response = await fetch(base + path, {method, headers, body: isForm ? body : body && JSON.stringify(body)});
    const answer = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) { const error = new Error((answer.error && answer.error.message) || response.statusText);
      error.code = answer.error && answer.error.code; error.status = response.status; throw error; }
    return answer;
  };
  const scroll = () => { log.scrollTop = log.scrollHeight; };
  const note = (key, vars) => { log.append(el("p", {class: "note"}, t(key, vars))); scroll(); };

  async function toggle(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    saved.open = open; save();
    if (!open) { launcher.focus(); return; }
    if (!status) { try { status = await api("GET", "/chat/v1/status"); } catch { status = {features: {}}; } }
    company.textContent = status.company || "";
    if (saved.token) { startChat(); wake(); text.focus(); }
    else if (script.dataset.pivot) await begin({}).catch(() => note("error"));
    else if (!log.childElementCount) welcome();
    markRead();
  }

  function welcome() {
    const name = el("input", {id: "cti-n", autocomplete: "name", maxlength: "200"});
    const email = el("input", {id: "cti-e", type: "email", autocomplete: "email", maxlength: "254"});
    const form = el("form", {}, el("p", {}, t("intro")), el("label", {for: "cti-n"}, t("name")), name,
      el("label", {for: "cti-e"}, t("email")), email, el("button", {class: "primary", type: "submit"}, t("start")));
    form.addEventListener("submit", async (e) => { e.preventDefault();
      try { await begin({name: name.value.trim() || undefined, email: email.value.trim() || undefined}); }
      catch (error) { form.append(el("p", {role: "alert"}, error.message)); } });
    if (!status.agents_available) log.append(offline(false));
    log.append(form);
    name.focus();
  }

  async function begin(fields, quiet) {  // quiet: keep what the panel shows (going on by email)
    const answer = await api("POST", "/chat/v1/sessions", {...fields, language: lang, pivot_token: script.dataset.pivot});
    saved = {token: answer.visitor_token, conversation: answer.conversation_id, pending: saved.pending || [],
             pivot: script.dataset.pivot, open: true};
    status = answer; save();
    if (quiet) return;
    log.replaceChildren();
    startChat();
    text.focus();
  }

  // "Nobody can chat": say so, and offer email (the case continues by email) when email is set up.
  function offline(inChat) {
    const box = el("div", {class: "notice", role: "status"}, el("p", {}, t(status.open ? "offline" : "closed")));
    if (!status.features || !status.features.email) return box;
    const email = el("input", {id: `cti-oe${inChat ? 1 : 0}`, type: "email", required: true, autocomplete: "email"});
    const question = el("textarea", {id: `cti-oq${inChat ? 1 : 0}`, rows: "3", maxlength: "4000", required: !inChat});
    const form = el("form", {}, el("p", {}, t("email_offer")), el("label", {for: email.id}, t("email_field")), email,
      inChat ? "" : el("label", {for: question.id}, t("question")), inChat ? "" : question,
      el("button", {class: "primary", type: "submit"}, t("email_send")));
    form.addEventListener("submit", async (e) => { e.preventDefault();
      try {
        if (!saved.token) await begin({email: email.value.trim()}, true);
        const done = await api("POST", "/chat/v1/email", {email: email.value.trim(), text: question.value.trim() || undefined});
        form.replaceWith(el("p", {role: "status"}, t("email_done", {email: done.email})));
        log.querySelector("form")?.remove();  // (no chat to start now: the conversation goes on by email)
      } catch (error) { form.append(el("p", {role: "alert"}, error.message)); } });
    box.append(form);
    return box;
  }

  function startChat() {
    composer.hidden = false;
    const features = (status && status.features) || {};
    talkButton.hidden = !features.voice || !window.RTCPeerConnection;
    callButton.hidden = !features.callback;
    if (!socket && !polling) connect(0);
  }

  // ---- the conversation stream ----------------------------------------------------------------
  function connect(from) {
    if (!("WebSocket" in window) || failures >= 4) { poll(); return; }
    const url = `${base.replace(/^http/, "ws")}/chat/v1/ws?token=${encodeURIComponent(saved.token)}&since=${from}`;
    const ws = socket = new WebSocket(url);
    ready = false;
    ws.onmessage = (e) => receive(JSON.parse(e.data));
    ws.onclose = (e) => {
      socket = null;
      if (!saved.token) return;
      if (e.code === 4001) { replaced = true; return; }  // (newer tabs took over: quiet until used here)
      failures += 1;
      if (ready) note("reconnecting");
      ready = false;
      if (failures === 2) {  // (a browser hides why a socket was refused: ask over HTTP whether the token still works)
        api("GET", `/chat/v1/messages?since=${since}`).catch((error) => { if (error.status === 401) forget(); });
      }
      setTimeout(() => { if (saved.token) connect(since); }, Math.min(30000, 500 * 2 ** failures) * (0.5 + Math.random()));
    };
  }

  function forget() {  // the token has expired (or the server forgot it): start over, keeping nothing stale
    saved = {pending: []}; save();
    clearInterval(polling); polling = null;
    if (socket) socket.close();
    shown.clear(); log.replaceChildren(); composer.hidden = true; talkButton.hidden = true; callButton.hidden = true;
    if (!panel.hidden && status) welcome();
  }

  function poll() {
    if (polling) return;
    const tick = async () => {
      try {
        const answer = await api("GET", `/chat/v1/messages?since=${since}`);
        answer.items.forEach(receive);
        since = Math.max(since, answer.seq);
        if (!ready) { ready = true; flush(); }
      } catch (error) { if (error.status === 401) forget(); /* else: the next tick tries again */ }
    };
    polling = setInterval(tick, 3000);
    tick();
  }

  function receive(frame) {
    if (frame.seq) since = Math.max(since, frame.seq);
    switch (frame.type) {
      case "ready": since = Math.max(since, frame.seq); ready = true; failures = 0; flush(); waiting(); break;
      case "message": message(frame); break;
      case "typing": typingLine.textContent = frame.state === "composing" ? t("typing", {name: agentName || t("agent")}) : ""; break;
      case "read": markVisitorRead(frame.id); break;
      case "agent_joined": agentName = frame.name || ""; who.textContent = agentName;
        note(frame.name ? "joined" : "joined_anon", {name: frame.name}); break;
      case "agent_left": agentName = ""; who.textContent = ""; note("left"); break;
      case "ended": typingLine.textContent = ""; note("ended"); break;
      case "invite": invite(frame); break;
      case "call_ended": if (call) call.end(); break;
      case "error": error(frame); break;
      default: break;
    }
  }

  function message(frame) {
    const key = frame.from === "visitor" ? frame.client_id || frame.id : frame.id;
    const existing = shown.get(key) || shown.get(frame.id);
    if (frame.from === "visitor") {
      saved.pending = saved.pending.filter((p) => p.client_id !== frame.client_id); save();
    }
    if (existing) { existing.dataset.id = frame.id; existing.classList.remove("failed"); setMark(existing, "sent"); shown.set(frame.id, existing); return; }
    const node = el("div", {class: `msg ${frame.from}`, "data-id": frame.id},
      frame.from === "agent" ? el("span", {class: "by"}, frame.agent || t("agent")) : el("span", {class: "sr"}, t("you")),
      (frame.attachments || []).some((a) => a.filename === frame.text) ? "" : el("span", {class: "text"}, frame.text),
      (frame.attachments || []).map((a) => el("span", {class: "file"}, clip(), ` ${a.filename} (${Math.ceil(a.size / 1024)} kB)`)),
      frame.from === "visitor" ? el("span", {class: "mark"}, t("sent")) : "");
    shown.set(key, node); shown.set(frame.id, node);
    log.append(node); scroll();
    if (frame.from === "agent") { typingLine.textContent = ""; markRead(); if (panel.hidden) launcher.textContent = t("new_message", {name: frame.agent || t("agent")}); }
  }

  const setMark = (node, state) => { const mark = node.querySelector(".mark"); if (mark) mark.textContent = t(state); };
  function markVisitorRead(id) {  // the agent read this one, and everything the visitor sent before it
    for (const node of log.querySelectorAll(".msg.visitor")) { setMark(node, "read"); if (node.dataset.id === id) break; }
  }
  let lastRead = "";
  function markRead() {
    const last = [...log.querySelectorAll(".msg.agent")].pop();
    if (!last || panel.hidden || document.hidden || last.dataset.id === lastRead) return;
    lastRead = last.dataset.id;
    launcher.textContent = t("open");
    send({type: "read", id: lastRead}, () => api("POST", "/chat/v1/read", {id: lastRead}).catch(() => {}));
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) wake(); markRead(); });

  let waitingTimer = null;
  function waiting() {  // in the queue with nobody yet: say so, and offer email if nobody is there
    if (agentName || !log.querySelector(".msg.visitor") || waitingTimer) return;
    note("waiting");
    waitingTimer = setTimeout(async () => {
      if (agentName) return;
      try { status = {...status, ...(await api("GET", "/chat/v1/status"))}; } catch { return; }
      if (!status.agents_available && !agentName) { log.append(offline(true)); scroll(); }
    }, 20000);
  }

  function error(frame) {
    const key = {rate_limited: "too_many", message_too_long: "too_long"}[frame.code] || "error";
    const node = frame.client_id && shown.get(frame.client_id);
    if (node && frame.code !== "rate_limited") { node.classList.add("failed"); setMark(node, "failed"); }
    note(key);
    if (frame.code === "rate_limited" && frame.client_id) setTimeout(flush, (frame.retry_after || 5) * 1000);
  }

  // ---- sending: every message is kept until the server confirms it ----------------------------
  const send = (frame, fallback) => {
    if (socket && socket.readyState === 1 && ready) socket.send(JSON.stringify(frame)); else if (polling && fallback) fallback();
  };
  function flush() {
    for (const item of saved.pending) {
      send({type: "message", ...item}, () => api("POST", "/chat/v1/messages", item).then(message).catch(() => {}));
    }
  }
  function sendText() {
    wake();
    const value = text.value.trim();
    if (!value) return;
    const item = {client_id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`, text: value};
    saved.pending.push(item); save();
    const node = el("div", {class: "msg visitor"}, el("span", {class: "sr"}, t("you")), el("span", {class: "text"}, value),
      el("span", {class: "mark"}, t("sending")));
    node.addEventListener("click", () => { if (node.classList.contains("failed")) flush(); });
    shown.set(item.client_id, node); log.append(node); scroll();
    text.value = ""; typing(false);
    send({type: "message", ...item}, () => api("POST", "/chat/v1/messages", item).then(message).catch(() => {}));
    if (!agentName) setTimeout(waiting, 1500);
  }
  text.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendText(); } });
  let typingSent = 0, idle = null;
  function typing(on) {
    clearTimeout(idle);
    if (on && Date.now() - typingSent > 2500) { typingSent = Date.now(); send({type: "typing", state: "composing"}); }
    if (!on && typingSent) { typingSent = 0; send({type: "typing", state: "paused"}); }
    if (on) idle = setTimeout(() => typing(false), 4000);
  }
  text.addEventListener("input", () => typing(true));

  async function sendFile() {
    const chosen = file.files[0];
    file.value = "";
    if (!chosen) return;
    const limits = (status.features || {}).attachments || {};
    if ((limits.max_bytes && chosen.size > limits.max_bytes) || (limits.types && !limits.types.includes(chosen.type))) { note("file_refused"); return; }
    const form = new FormData();
    form.append("client_id", `f${Date.now().toString(36)}`); form.append("file", chosen, chosen.name);
    try { message(await api("POST", "/chat/v1/attachments", form, true)); } catch { note("file_refused"); }
  }

  // ---- on from the chat: talk now, or a callback ----------------------------------------------
  function invite(frame) {
    const features = status.features || {};
    log.append(el("div", {class: "notice"}, el("p", {}, t("invite", {name: frame.agent || t("agent")})),
      el("div", {class: "row"}, features.voice ? el("button", {type: "button", class: "primary", onclick: () => talk()}, t("talk")) : "",
        features.callback ? el("button", {type: "button", class: "secondary", onclick: () => callbackForm()}, t("callback")) : "")));
    scroll();
  }

  let call = null;
  async function talk() {
    if (call) return;
    const line = el("div", {class: "notice", role: "status"}, el("p", {}, t("calling")));
    log.append(line); scroll();
    try {
      const microphone = await navigator.mediaDevices.getUserMedia({audio: true});
      const pc = call = new RTCPeerConnection();
      microphone.getTracks().forEach((track) => pc.addTrack(track, microphone));
      const audio = el("audio", {autoplay: true});
      root.append(audio);
      pc.ontrack = (event) => { audio.srcObject = event.streams[0] || new MediaStream([event.track]); audio.play().catch(() => {}); window.__ctiChatCall = {pc, stream: audio.srcObject}; };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => { if (pc.iceGatheringState === "complete") resolve();
        pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); }); setTimeout(resolve, 3000); });
      const answer = await api("POST", "/chat/v1/voice", {type: "offer", sdp: pc.localDescription.sdp});
      await pc.setRemoteDescription({type: "answer", sdp: answer.sdp});
      pc.end = () => { pc.close(); microphone.getTracks().forEach((x) => x.stop()); audio.remove();
        call = null; line.replaceChildren(el("p", {}, t("call_ended"))); talkButton.disabled = false; };
      pc.addEventListener("connectionstatechange", () => { if (["failed", "closed"].includes(pc.connectionState) && call) pc.end(); });
      const hangUp = el("button", {type: "button", class: "secondary", onclick: () => pc.end()}, t("hang_up"));
      line.replaceChildren(el("p", {}, t("in_call")), hangUp);
      talkButton.disabled = true;
      hangUp.focus();
    } catch (error) {
      call = null;
      line.replaceChildren(el("p", {role: "alert"}, error.name === "NotAllowedError" ? t("mic_denied") : error.message));
    }
  }

  function callbackForm() {
    const phone = el("input", {id: "cti-phone", type: "tel", autocomplete: "tel", required: true, maxlength: "40"});
    const form = el("form", {class: "notice"}, el("label", {for: "cti-phone"}, t("phone")), phone,
      el("div", {class: "row"}, el("button", {class: "primary", type: "submit"}, t("callback_send")),
        el("button", {class: "secondary", type: "button", onclick: () => form.remove()}, t("cancel"))));
    form.addEventListener("submit", async (e) => { e.preventDefault();
      try { await api("POST", "/chat/v1/callback", {phone: phone.value.trim(), when: "now"});
        form.replaceWith(el("p", {class: "note", role: "status"}, t("callback_done"))); }
      catch (error) { form.append(el("p", {role: "alert"}, error.message)); } });
    log.append(form); scroll(); phone.focus();
  }

  if (script.dataset.open === "true" || (saved.token && saved.open)) toggle(true);
})();
