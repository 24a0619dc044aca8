/* Draws each <div class="chart" data-chart="{ECharts option}"> with the vendored Apache ECharts (static/vendor/echarts),
   as SVG, in the page's language. The options (series, axes, gaps, legends) are made on the server (web/charts.py). */
(function () {
  "use strict";
  if (typeof window.echarts === "undefined") { return; }  // the tables beside each chart still show the numbers
  var zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
  var numbers = new Intl.NumberFormat(zh ? "zh-CN" : "en-GB", {maximumFractionDigits: 2});

  function formatter(unit) {
    return function (v) {
      if (v === null || v === undefined || v === "-") { return "—"; }
      if (unit === "%") { return numbers.format(v) + "%"; }
      return numbers.format(v) + (unit ? " " + unit : "");
    };
  }

  function draw(el) {
    var option;
    try { option = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    option.tooltip = option.tooltip || {};
    option.tooltip.valueFormatter = formatter(el.getAttribute("data-unit") || "");
    el.style.height = (parseInt(el.getAttribute("data-height"), 10) || 260) + "px";  // no inline styles (CSP)
    var chart = window.echarts.init(el, null, {renderer: "svg", locale: zh ? "ZH" : "EN"});
    chart.setOption(option);
    el.setAttribute("data-drawn", "true");
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () { chart.resize(); }).observe(el);
    }
  }

  document.querySelectorAll("div.chart[data-chart]").forEach(draw);
})();
