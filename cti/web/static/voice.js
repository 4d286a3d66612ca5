// "Talk in the browser now" on a pivot page: a WebRTC offer to POST /p/{token}/voice, the answer
// back, the agent's voice in an <audio> element. window.__peakHz reports the loudest frequency heard
// (tests check that the agent's tone arrived).
"use strict";
(() => {
  const button = document.getElementById("talk");
  if (!button || !window.RTCPeerConnection) { if (button) button.hidden = true; return; }
  const status = document.getElementById("talk-status");
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "…";
    try {
      const microphone = await navigator.mediaDevices.getUserMedia({audio: true});
      const pc = new RTCPeerConnection();
      microphone.getTracks().forEach((track) => pc.addTrack(track, microphone));
      pc.ontrack = (event) => {
        const stream = event.streams[0] || new MediaStream([event.track]);
        const audio = document.getElementById("remote");
        audio.srcObject = stream;
        audio.play().catch(() => {});
        webrtcAudio.analyse(stream, (hz, db) => { window.__peakHz = hz; window.__peakDb = db; });
      };
      await pc.setLocalDescription(await pc.createOffer());
      await webrtcAudio.gathered(pc);
      const base = location.pathname.replace(/\/(callback|voice)?$/, "");
      const response = await fetch(base + "/voice", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({type: "offer", sdp: pc.localDescription.sdp,
                              csrf: document.querySelector("input[name=csrf]").value})});
      const body = await response.json();
      if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
      await pc.setRemoteDescription({type: "answer", sdp: body.sdp});
      window.__pc = pc;
      status.textContent = "✓";
      status.dataset.interaction = body.interaction_id;
    } catch (error) {
      status.textContent = error.message;
      button.disabled = false;
    }
  });
})();
