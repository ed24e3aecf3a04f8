// Draw every <div class="chart" data-chart-url="..."> with plotly.js: one request per chart.
(function () {
  "use strict";
  function draw(el) {
    fetch(el.dataset.chartUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("chart data: HTTP " + r.status); } return r.json(); })
      .then(function (fig) {
        if (!fig.data || fig.data.length === 0) {
          el.textContent = fig.empty || "No data for these filters.";
          el.classList.add("muted");
          return;
        }
        var layout = Object.assign({ margin: { t: 36, r: 16, b: 60, l: 64 }, font: { size: 13 } }, fig.layout || {});
        Plotly.newPlot(el, fig.data, layout, { responsive: true, displaylogo: false });
      })
      .catch(function (err) { el.textContent = "The chart could not be loaded (" + err.message + ")."; });
  }
  document.querySelectorAll(".chart[data-chart-url]").forEach(draw);
})();
