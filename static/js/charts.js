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
// Histograms: bars drawn with uPlot's bar path builder. data-hist holds one histogram
// (bin → count); data-hists several over the same bins (name → bin → count), drawn side by
// side in each bin in data-order (a list of names), with a legend naming them from
// data-labels (name → label).
(function () {
  "use strict";
  var COLORS = [["rgba(47,91,211,.5)", "#2f5bd3"], ["rgba(161,92,0,.45)", "#a15c00"]];
  function drawHist() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll(".hist-chart").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var hists = el.dataset.hists ? JSON.parse(el.dataset.hists) : { n: JSON.parse(el.dataset.hist) };
      // Series in data-order when given (the JSON's own key order is not kept).
      var names = el.dataset.order ? JSON.parse(el.dataset.order) : Object.keys(hists);
      var legend = el.dataset.labels ? JSON.parse(el.dataset.labels) : {};
      // Bins in the order of their lower bounds ("0–9", "10–24", ..., "800+"): the JSON on the
      // page has its keys sorted as text, and a stored version's as PostgreSQL keeps them.
      var labels = Object.keys(hists[names[0]] || {}).sort(function (a, b) { return parseInt(a, 10) - parseInt(b, 10); });
      el.dataset.bins = labels.join("|");  // what was drawn, in order
      var xs = labels.map(function (_, i) { return i; });
      var grouped = names.length > 1;
      var series = names.map(function (name, i) {
        var color = COLORS[i % COLORS.length];
        // Two series: the first just left of the bin's centre, the second just right.
        var bars = grouped ? { size: [0.8 / names.length], align: i === 0 ? -1 : 1 } : { size: [0.8] };
        return { label: legend[name] || name, fill: color[0], stroke: color[1], paths: uPlot.paths.bars(bars), points: { show: false } };
      });
      var data = names.map(function (name) { return labels.map(function (k) { return hists[name][k] || 0; }); });
      new uPlot({
        width: el.clientWidth || 280, height: 200,  // never wider than its card
        scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
        axes: [{ values: function (u, vals) { return vals.map(function (v) { return labels[v] || ""; }); } }, {}],
        // The legend names the bin under the cursor (data-bin-label says what it counts), not
        // its index.
        series: [{ label: el.dataset.binLabel || "\u00a0", value: function (u, v) { return v == null ? "" : labels[v] || ""; } }].concat(series),
        legend: { show: grouped },
      }, [xs].concat(data), el);
    });
  }
  document.addEventListener("DOMContentLoaded", drawHist);
  window.addEventListener("load", drawHist);
  document.addEventListener("htmx:afterSettle", drawHist);
})();
