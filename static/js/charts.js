// Charts drawn with the vendored uPlot: throughput per day.
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("throughput-chart");
    if (!el || el.dataset.drawn || typeof uPlot === "undefined") return;
    el.dataset.drawn = "1";
    var data = JSON.parse(el.dataset.series);
    var labels = JSON.parse(el.dataset.labels);
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var colors = { created: "#2f5bd3", decided: "#a15c00", approved: "#1f7a4d" };
    var names = ["created", "decided", "approved"];
    var opts = {
      width: Math.max(el.clientWidth, 320), height: 260,
      series: [{}].concat(names.map(function (n) {
        return { label: labels[n], stroke: colors[n], width: 2, points: { show: true, size: 4 } };
      })),
      axes: [{}, { label: "" }],
      scales: { x: { time: true } },
    };
    new uPlot(opts, [xs].concat(names.map(function (n) { return data[n]; })), el);
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  window.addEventListener("load", draw);
})();
// Histograms: bars drawn with uPlot's bar path builder.
(function () {
  "use strict";
  function drawHist() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll(".hist-chart").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var hist = JSON.parse(el.dataset.hist);
      var labels = Object.keys(hist);
      var xs = labels.map(function (_, i) { return i; });
      var ys = labels.map(function (k) { return hist[k]; });
      new uPlot({
        width: el.clientWidth || 280, height: 200,  // never wider than its card
        scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
        axes: [{ values: function (u, vals) { return vals.map(function (v) { return labels[v] || ""; }); } }, {}],
        series: [{}, { label: "n", fill: "rgba(47,91,211,.5)", stroke: "#2f5bd3", paths: uPlot.paths.bars({ size: [0.8] }), points: { show: false } }],
        legend: { show: false },
      }, [xs, ys], el);
    });
  }
  document.addEventListener("DOMContentLoaded", drawHist);
  window.addEventListener("load", drawHist);
  document.addEventListener("htmx:afterSettle", drawHist);
})();
