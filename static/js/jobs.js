// Job curves drawn with the vendored uPlot. The live fragment carries the data as JSON
// (#job-series); each htmx swap updates the charts in place instead of redrawing them.
(function () {
  "use strict";
  var PALETTE = ["#2f5bd3", "#a15c00", "#1f7a4d", "#b42318", "#6d28d9", "#0e7490", "#be185d", "#4d7c0f"];
  var charts = {};

  function chart(id, names, data, labels) {
    var el = document.getElementById(id);
    if (!el || typeof uPlot === "undefined") return;
    var columns = [data.x].concat(names.map(function (n) { return data[n] || data.x.map(function () { return null; }); }));
    if (charts[id]) { charts[id].setData(columns); return; }
    el.textContent = "";
    charts[id] = new uPlot({
      width: el.clientWidth || 320, height: 240,  // never wider than its card
      scales: { x: { time: false } },
      axes: [{ label: el.dataset.xlabel || "step" }, {}],
      series: [{ label: el.dataset.xlabel || "step" }].concat(names.map(function (n, i) {
        return { label: labels[n] || n, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true,
                 points: { show: n.indexOf("eval") >= 0 || data.x.length < 40, size: 5 } };
      })),
    }, columns, el);
    el.dataset.drawn = "1";
  }

  function live() {
    var source = document.getElementById("job-series");
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var loss = document.getElementById("loss-chart");
    var lr = document.getElementById("lr-chart");
    if (loss) chart("loss-chart", ["train/loss", "eval/loss"], data, JSON.parse(loss.dataset.labels));
    if (lr) chart("lr-chart", ["train/lr"], data, JSON.parse(lr.dataset.labels));
  }

  function compare() {
    var source = document.getElementById("compare-series");
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var names = Object.keys(data.series);
    var flat = { x: data.x };
    names.forEach(function (n) { flat[n] = data.series[n]; });
    chart("compare-chart", names, flat, {});
  }

  function draw() { live(); compare(); }
  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("load", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
