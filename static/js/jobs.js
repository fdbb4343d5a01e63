// Job curves drawn with the vendored uPlot. The live fragment carries the data as JSON
// (#job-series); each htmx swap updates the charts in place instead of redrawing them.
// Each chart names its series in data-series (train and eval loss; for DPO also the rewards
// of the chosen and rejected responses, their margin and the reward accuracy).
// On the launch form: DPO's parameters show only while DPO is chosen, an objective the chosen
// version cannot train is not offered, and a job that continues from another takes its base
// model (read-only). Without JavaScript every field shows and the server says what it refuses.
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
    document.querySelectorAll(".chart[data-series]").forEach(function (el) {
      chart(el.id, JSON.parse(el.dataset.series), data, JSON.parse(el.dataset.labels || "{}"));
    });
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

  // ---- The launch form ----------------------------------------------------------------
  function chosenObjective(form) {
    var checked = form.querySelector('input[name="objective"]:checked');
    return checked ? checked.value : "sft";
  }

  function showObjective(form) {
    var dpo = form.querySelector("#dpo-params");
    if (dpo) dpo.hidden = chosenObjective(form) !== "dpo";
  }

  function offerObjectives(form) {
    // The note the estimate swaps in names the objectives the chosen version cannot train.
    var note = document.getElementById("objective-note");
    var refused = note && note.dataset.refused ? note.dataset.refused.split(" ") : [];
    form.querySelectorAll('input[name="objective"]').forEach(function (radio) {
      radio.disabled = refused.indexOf(radio.value) >= 0 && !radio.checked;
    });
  }

  function followStart(form) {
    var start = form.querySelector("#p-start");
    var base = form.querySelector("#p-base");
    if (!start || !base) return;
    var option = start.options[start.selectedIndex];
    var inherited = option && option.value ? option.dataset.baseModel : "";
    if (inherited) {
      if (!base.readOnly) base.dataset.typed = base.value;
      base.value = inherited;
      base.readOnly = true;
    } else if (base.readOnly) {
      base.readOnly = false;
      base.value = base.dataset.typed || base.value;
    }
    var baseHint = document.getElementById("base-hint");
    var startHint = document.getElementById("start-hint");
    if (baseHint) baseHint.hidden = !!inherited;
    if (startHint) startHint.hidden = !inherited;
  }

  function startsOfVersion(form) {
    // A job continues from a job of its own project: offer only the chosen version's.
    var version = form.querySelector("#p-version");
    var start = form.querySelector("#p-start");
    if (!version || !start) return;
    var picked = version.options[version.selectedIndex];
    var project = picked && picked.value ? picked.dataset.project : "";
    Array.prototype.forEach.call(start.options, function (option) {
      var other = !!(project && option.value && option.dataset.project && option.dataset.project !== project);
      option.hidden = other;
      option.disabled = other;
      if (other && option.selected) start.value = "";
    });
  }

  function launchForm() {
    var form = document.getElementById("launch-form");
    if (!form || form.dataset.enhanced) return;
    form.dataset.enhanced = "1";
    form.addEventListener("change", function (event) {
      if (event.target.name === "dataset_version_id") { startsOfVersion(form); followStart(form); }
      if (event.target.name === "start_job_id") followStart(form);
      if (event.target.name === "objective") showObjective(form);
    });
    document.addEventListener("htmx:afterSettle", function () { offerObjectives(form); });
    startsOfVersion(form);
    followStart(form);
    showObjective(form);
    offerObjectives(form);
  }

  function draw() { live(); compare(); launchForm(); }
  document.addEventListener("DOMContentLoaded", draw);
  window.addEventListener("load", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
