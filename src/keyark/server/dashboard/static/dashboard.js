// keyark dashboard: draws the run history charts (uPlot) from the JSON the page embeds.
// The chart's box has a fixed height in the CSS, so drawing it shifts nothing.
(function () {
  "use strict";

  function draw(box) {
    var source = document.getElementById(box.dataset.chart);
    if (!source || typeof uPlot === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var options = {
      width: box.clientWidth || 600,
      height: (box.clientHeight || 340) - 60,
      scales: { x: { time: true }, s: {}, b: {} },
      series: [
        {},
        { label: "duration (s)", scale: "s", stroke: "#0b4fb3", width: 2, points: { show: true } },
        { label: "bytes added", scale: "b", stroke: "#8a4b00", width: 2, points: { show: true } }
      ],
      axes: [
        {},
        { scale: "s", label: "seconds" },
        { scale: "b", label: "bytes", side: 1, grid: { show: false } }
      ]
    };
    var rows = [data.time, data.duration, data.bytes_added];
    box.innerHTML = "";
    var plot = new uPlot(options, rows, box);
    box.dataset.drawn = String(data.time.length);
    window.addEventListener("resize", function () {
      plot.setSize({ width: box.clientWidth || 600, height: (box.clientHeight || 340) - 60 });
    });
  }

  function start() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
