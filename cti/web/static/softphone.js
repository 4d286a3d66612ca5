// The desktop's browser softphone, for agents whose voice_endpoint is "browser": an accepted call's
// audio comes to this page over WebRTC (the microphone goes up, the customer comes down into
// <audio id="softphone-audio">). The offer goes to POST /api/v1/interactions/{id}/softphone (a party
// asked into a call, or a monitoring supervisor: .../participants/{pid}/softphone); when
// the connection fails (network drop, laptop lid) the page connects again while the customer hears
// hold audio. The status line says what the audio is doing and carries data-peak-hz (the loudest
// frequency heard) and data-level-db, which also drive the "hearing the customer" indicator.
"use strict";
const softphone = (() => {
  const calls = new Map();  // interaction id -> {pc, microphone, meter}
  // The call's audio may be set up a moment after the accept (an outbound call): ask again for 5 s.
  async function offer(path, sdp) {
    for (let attempt = 0; ; attempt++) {
      try { return await cti.api("POST", path, {type: "offer", sdp}); }
      catch (error) {
        if (error.code !== "not_ringing_in_browser" || attempt >= 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  // options (a party asked into a call, or a supervisor monitoring it): path (where the offer goes),
  // status() (the element that carries the meter), onEnd() (the connection is over: no reconnecting).
  async function connect(id, say, options = {}) {
    if (calls.has(id)) return;
    const call = {pc: null, microphone: null, meter: null};
    calls.set(id, call);
    const path = options.path || `/api/v1/interactions/${id}/softphone`;
    const status = () => (options.status ? options.status() : document.querySelector(`[data-id="${id}"] .softphone-status`))
      || document.createElement("p");
    try {
      say(cti.t("softphone.microphone"));
      call.microphone = await navigator.mediaDevices.getUserMedia({audio: true});
      const pc = call.pc = new RTCPeerConnection();
      call.microphone.getTracks().forEach((track) => pc.addTrack(track, call.microphone));
      pc.ontrack = (event) => {
        const stream = event.streams[0] || new MediaStream([event.track]);
        const audio = document.getElementById("softphone-audio");
        audio.srcObject = stream;
        audio.play().catch(() => {});
        call.meter = webrtcAudio.analyse(stream, (hz, db) => {
          status().dataset.peakHz = String(Math.round(hz));
          status().dataset.levelDb = String(Math.round(db));
          status().classList.toggle("hearing", db > -70);
        });
      };
      pc.onconnectionstatechange = () => {
        const state = pc.connectionState;
        say(cti.t(state === "connected" ? "softphone.connected" : ["new", "connecting"].includes(state)
          ? "softphone.connecting" : "softphone.lost"));
        if (options.onEnd && ["failed", "closed", "disconnected"].includes(state) && calls.get(id) === call) {
          close(id);
          options.onEnd();
        } else if (state === "failed" && calls.get(id) === call) {  // reconnect while the call lasts
          close(id);
          setTimeout(() => { if (document.querySelector(`#work [data-id="${id}"]`)) connect(id, say); }, 1000);
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await webrtcAudio.gathered(pc);
      await pc.setRemoteDescription(await offer(path, pc.localDescription.sdp));
    } catch (error) {
      close(id);
      say(cti.t("softphone.failed", {error: error.message}));
      if (options.onEnd) options.onEnd(error);
    }
  }

  function close(id) {
    const call = calls.get(id);
    if (!call) return;
    calls.delete(id);
    if (call.meter) call.meter();
    if (call.microphone) call.microphone.getTracks().forEach((track) => track.stop());
    if (call.pc) call.pc.close();
  }

  return {connect, close, has: (id) => calls.has(id)};
})();
