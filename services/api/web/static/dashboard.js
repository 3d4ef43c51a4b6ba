// The dashboard's chart: draws the series the page embeds as JSON (<script type=
// "application/json" id=...>, named by the holder's data-chart) with the vendored uPlot,
// this period solid, the compared one dashed, notes as vertical lines. The page works
// without it: the same numbers are in the table under the chart.
(function () {
  "use strict";
  var uPlot = window.uPlot;

  function colour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function formatter(data) {
    if (data.percent) return function (v) { return v == null ? "" : (v * 100).toFixed(1) + "%"; };
    if (data.metric === "bounce_rate") return function (v) { return v == null ? "" : v + "%"; };
    if (data.metric === "engaged_time_p50") {
      return function (v) { return v == null ? "" : Math.round(v / 1000) + "s"; };
    }
    return function (v) {
      if (v == null) return "";
      return Math.abs(v) >= 1000 ? (v / 1000).toFixed(1).replace(/\.0$/, "") + "k" : String(v);
    };
  }

  function tick(data, i) {
    var label = data.labels[i];
    if (label == null) return "";
    if (data.interval === "hour") return label.slice(11, 16);
    if (data.interval === "month") return label;
    return label.slice(5);
  }

  function draw(holder) {
    var source = document.getElementById(holder.getAttribute("data-chart"));
    if (!source || !uPlot) return;
    var data = JSON.parse(source.textContent);
    var xs = data.labels.map(function (_, i) { return i; });
    var accent = colour("--accent", "#4f46e5");
    var muted = colour("--muted", "#5b6474");
    var grid = colour("--border", "#e2e5ea");
    var before = colour("--before", "#8a93a6");
    var format = formatter(data);
    var series = [{}, { label: data.label, stroke: accent, width: 2, fill: accent + "22", value: function (u, v) { return format(v); } }];
    var values = [xs, data.values];
    if (data.other) {
      series.push({ label: "Compared", stroke: before, width: 1.5, dash: [6, 4], value: function (u, v) { return format(v); } });
      values.push(data.other);
    }
    var notes = data.annotations || [];
    var axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var options = {
      width: Math.max(holder.clientWidth, 200),
      height: 280,
      scales: { x: { time: false } },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      series: series,
      axes: [
        Object.assign({}, axis, { values: function (u, ticks) { return ticks.map(function (t) { return tick(data, t); }); } }),
        Object.assign({}, axis, { size: 56, values: function (u, ticks) { return ticks.map(format); } })
      ],
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = muted;
          ctx.setLineDash([2, 3]);
          notes.forEach(function (note) {
            var x = Math.round(u.valToPos(note.index, "x", true));
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
    holder.textContent = "";
    var plot = new uPlot(options, values, holder);
    holder.setAttribute("role", "img");
    holder.setAttribute("aria-label", data.label + " by " + data.interval + " (the numbers are in the table below)");
    new ResizeObserver(function () {
      plot.setSize({ width: Math.max(holder.clientWidth, 200), height: 280 });
    }).observe(holder);
  }

  document.querySelectorAll("[data-chart]").forEach(draw);
})();
