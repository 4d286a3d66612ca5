// The API and the event stream for the pages, and signing in. A person signs in with a login and
// password: the session cookie then goes with every request, and every change carries the
// session's CSRF token. An API token (integrations, wall screens) goes as a bearer header instead.
// The WebSocket resumes after the last event it saw (since=seq), so a network drop loses nothing.
"use strict";
const cti = {
  token: sessionStorage.getItem("cti_token") || "",
  csrf: "",
  headers(extra) {
    const headers = Object.assign({}, extra || {});
    if (cti.token) headers["Authorization"] = "Bearer " + cti.token;
    return headers;
  },
  async api(method, path, body) {
    const headers = cti.headers({"Content-Type": "application/json"});
    if (!cti.token && cti.csrf && method !== "GET") headers["X-CSRF-Token"] = cti.csrf;
    const response = await fetch(path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || response.statusText);
      error.code = data && data.error && data.error.code; error.status = response.status;
      throw error;
    }
    return data;
  },
  stream(types, onEvent, onState) {
    let last = Number(sessionStorage.getItem("cti_seq") || 0), socket = null, retry = 500, closed = false;
    const connect = () => {
      const url = new URL("/api/v1/events", location.href);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      if (cti.token) url.searchParams.set("access_token", cti.token);  // (a session's cookie goes by itself)
      url.searchParams.set("types", types);
      if (last) url.searchParams.set("since", String(last));
      socket = new WebSocket(url);
      socket.onopen = () => { retry = 500; onState("live"); };
      socket.onmessage = (message) => {
        for (const event of [].concat(JSON.parse(message.data))) {
          if (event.seq && event.seq <= last) continue;
          last = event.seq || last; sessionStorage.setItem("cti_seq", String(last));
          onEvent(event);
        }
      };
      socket.onclose = () => {
        onState("reconnecting");
        if (!closed) setTimeout(connect, retry = Math.min(retry * 2, 10000));
      };
    };
    connect();
    return {close() { closed = true; if (socket) socket.close(); }, drop() { if (socket) socket.close(); }};
  },
  // The sign-in panel the pages share. ready(who) builds the page for the signed-in person or token
  // (who: GET /api/v1/me) and throws when it is not for them; nothing of the page shows before.
  async start(ready) {
    const byId = (id) => document.getElementById(id);
    byId("lang")?.addEventListener("change", (e) => {
      const url = new URL(location.href); url.searchParams.set("lang", e.target.value); location.assign(url);
    });
    const fail = (error) => { byId("signin-error").textContent = error.message; byId("signin-error").hidden = false; };
    const enter = async () => {
      await ready(await cti.api("GET", "/api/v1/me"));
      byId("signin-panel").hidden = true; byId("signin-error").hidden = true; byId("signout").hidden = false;
    };
    byId("signin").addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const session = await cti.api("POST", "/api/v1/sessions", {login: byId("login").value.trim(),
                                                                    password: byId("password").value});
        cti.csrf = session.csrf; byId("password").value = "";
        const own = session.user.language;
        if (own && own !== cti.lang && !new URLSearchParams(location.search).has("lang")) { location.reload(); return; }
        await enter();
      } catch (error) { fail(error); }
    });
    byId("token-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      cti.token = byId("token").value.trim();
      try { await enter(); sessionStorage.setItem("cti_token", cti.token); }
      catch (error) { cti.token = ""; fail(error); }
    });
    byId("signout").addEventListener("click", async () => {
      if (!cti.token) await cti.api("DELETE", "/api/v1/sessions/current").catch(() => null);
      sessionStorage.clear(); location.reload();
    });
    const ssoError = new URLSearchParams(location.search).get("sso_error");
    try {
      if (ssoError) { history.replaceState(null, "", location.pathname + location.search.replace(/[?&]sso_error=\w+/, "")); throw Object.assign(new Error(cti.t(`signin.${ssoError}`)), {status: 0}); }
      if (cti.token) await enter();
      else { cti.csrf = (await cti.api("GET", "/api/v1/sessions/current")).csrf; await enter(); }
    } catch (error) {
      cti.token = ""; cti.csrf = ""; sessionStorage.removeItem("cti_token");
      byId("signin-panel").hidden = false;
      if (error.status !== 401 && error.status !== 404) fail(error);  // signed in, but not for this page
    }
  },
  // The page's words, in its language (the server puts the catalogue in the page: cti/web/messages).
  messages: JSON.parse(document.getElementById("messages")?.textContent || "{}"),
  lang: document.documentElement.lang || "en",
  t(key, values) {
    const text = cti.messages[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (values && name in values ? String(values[name]) : whole));
  },
  // A time of day today, else with the date, in the page's language.
  time(iso) {
    if (!iso) return "";
    const when = new Date(iso), today = when.toDateString() === new Date().toDateString();
    return new Intl.DateTimeFormat(cti.lang, today ? {hour: "2-digit", minute: "2-digit"}
      : {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"}).format(when);
  },
  // A clock for waits and countdowns: 0:45, 12:03, 1:02:09; a minus sign once past zero.
  clock(seconds) {
    const total = Math.abs(Math.round(seconds)), h = Math.floor(total / 3600), m = Math.floor(total / 60) % 60;
    const text = (h ? `${h}:${String(m).padStart(2, "0")}` : String(m)) + ":" + String(total % 60).padStart(2, "0");
    return seconds < -0.5 ? "\u2212" + text : text;
  },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  },
};
