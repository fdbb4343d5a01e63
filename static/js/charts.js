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
