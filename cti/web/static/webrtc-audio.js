// What both browser voice pages need (the customer's pivot page and the agent's softphone): wait
// for ICE gathering (the server takes one offer with every candidate), and an analyser that
// reports the loudest frequency heard and its level four times a second (what the page shows as
// "hearing", and what the tests read to check the far end's tone arrived).
"use strict";
const webrtcAudio = {
  gathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
      setTimeout(resolve, 3000);
    });
  },
  analyse(stream, report) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    context.createMediaStreamSource(stream).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const timer = setInterval(() => {
      analyser.getFloatFrequencyData(bins);
      let best = 1;
      for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      report(best * context.sampleRate / analyser.fftSize, bins[best]);
    }, 250);
    return () => { clearInterval(timer); context.close(); };
  },
};
