// The API and the event stream for the pages: fetch with the bearer token, and a WebSocket that
// resumes after the last event it saw (since=seq), so a network drop loses nothing.
"use strict";
const cti = {
  token: sessionStorage.getItem("cti_token") || "",
  async api(method, path, body) {
    const response = await fetch(path, {method, headers: {"Authorization": "Bearer " + cti.token,
      "Content-Type": "application/json"}, body: body === undefined ? undefined : JSON.stringify(body)});
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
      url.searchParams.set("access_token", cti.token);
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
