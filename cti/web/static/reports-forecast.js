// The forecast section of the reports page: the next 7 days per interval (the report's interval,
// this browser's time zone) drawn by the server, the busiest interval, and how far last week's
// forecast was from what arrived.
"use strict";
const forecast = {
  channels(names) {
    const select = document.getElementById("forecast-channel");
    select.replaceChildren(...names.map((name) => cti.el("option", {value: name}, cti.messages[`channel.${name}`] || name)));
  },

  async show() {
    const error = document.getElementById("forecast-error");
    error.hidden = true;
    try {
      const params = new URLSearchParams({channel: document.getElementById("forecast-channel").value, tz: TZ,
                                          interval: document.getElementById("interval").value});
      const result = await cti.api("GET", "/api/v1/forecast?" + params);
      const figures = [];
      for (const metric of ["contacts", "agents"]) {
        const response = await fetch(`/api/v1/forecast/chart?${params}&metric=${metric}&lang=${cti.lang}`, {headers: cti.headers()});
        const figure = cti.el("figure", {class: "chart", "data-forecast": metric});
        figure.innerHTML = await response.text();  // SVG from our own server, every text escaped there
        figures.push(figure);
      }
      document.getElementById("forecast-charts").replaceChildren(...figures);
      const peak = result.intervals.reduce((best, i) => (i.contacts > (best ? best.contacts : -1) ? i : best), null);
      const number = (v) => new Intl.NumberFormat(cti.lang, {maximumFractionDigits: 1}).format(v);
      const lines = [];
      if (peak && peak.contacts > 0) {
        const when = new Date(peak.start).toLocaleString(cti.lang, {weekday: "short", hour: "2-digit", minute: "2-digit"});
        lines.push(cti.t("forecast.peak", {when, contacts: number(peak.contacts), agents: peak.scheduled_agents}));
      }
      const last = result.last_week;
      lines.push(last.wape_percent === null ? cti.t("forecast.last_week_none") : cti.t("forecast.last_week", {
        forecast: number(last.forecast_contacts), actual: number(last.actual_contacts),
        wape: new Intl.NumberFormat(cti.lang, {style: "percent", maximumFractionDigits: 1}).format(last.wape_percent / 100)}));
      document.getElementById("forecast-summary").textContent = lines.join(" ");
    } catch (failure) { error.textContent = failure.message; error.hidden = false; }
  },
};
document.getElementById("forecast-form").addEventListener("submit", (e) => { e.preventDefault(); forecast.show(); });
