// The Analytics page's charts (analytics/pages.py). Each <canvas data-chart="name"> is drawn
// with the vendored Chart.js from the JSON block #chart-<name>-data beside it: data, not script,
// so the Content-Security-Policy (script-src 'self') holds. The server sends each figure's text
// as its table shows it, so a tooltip reads exactly like the table beneath the chart.
(() => {
  // One colour per series, by the service's field name; movements: gains green and blue,
  // losses orange and red.
  const COLORS = {
    mrr: "#0b6bcb",
    arr: "#7b8794",
    new: "#1a7f37",
    expansion: "#0b6bcb",
    reactivated: "#0c8f84",
    contraction: "#d9822b",
    churned: "#c4320a",
    active_subscriptions: "#0b6bcb",
    logo_churn_rate: "#c4320a",
    revenue_churn_rate: "#d9822b",
    net_revenue_retention: "#1a7f37",
    recovery_rate: "#5b34a8",
  };
  // Points are drawn while they can be told apart; a year by day is a line.
  const MOST_POINTS = 40;

  function axisFormat(spec) {
    let format;
    if (spec.unit === "money") {
      format = new Intl.NumberFormat(spec.locale, {
        style: "currency",
        currency: spec.currency,
        notation: "compact",
      });
    } else if (spec.unit === "rate") {
      format = new Intl.NumberFormat(spec.locale, { style: "percent", maximumFractionDigits: 0 });
    } else {
      format = new Intl.NumberFormat(spec.locale, { maximumFractionDigits: 0 });
    }
    return (value) => format.format(value);
  }

  function draw(canvas) {
    const source = document.getElementById(`chart-${canvas.dataset.chart}-data`);
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    const format = axisFormat(spec);
    const values = spec.horizontal ? "x" : "y";
    const categories = spec.horizontal ? "y" : "x";
    const scales = {
      [categories]: { stacked: spec.stacked, ticks: { autoSkip: true, maxRotation: 0 } },
      [values]: {
        stacked: spec.stacked,
        beginAtZero: true,
        // Counts are whole: no tick between 1 and 2 subscriptions.
        ticks: { callback: format, ...(spec.unit === "count" ? { precision: 0 } : {}) },
      },
    };
    if (spec.datasets.some((set) => set.own_scale)) {
      scales.right = {
        position: "right",
        beginAtZero: true,
        grid: { drawOnChartArea: false },
        ticks: { callback: format },
      };
    }
    new Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((set) => ({
          label: set.label,
          data: set.data,
          texts: set.texts,
          borderColor: COLORS[set.key] || "#0b6bcb",
          backgroundColor: COLORS[set.key] || "#0b6bcb",
          pointRadius: spec.labels.length > MOST_POINTS ? 0 : 3,
          maxBarThickness: 40,
          ...(set.own_scale ? { yAxisID: "right" } : {}),
        })),
      },
      options: {
        locale: spec.locale,
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        scales,
        plugins: {
          legend: { display: spec.datasets.length > 1, position: "bottom" },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? spec.titles[items[0].dataIndex] : ""),
              label: (item) => `${item.dataset.label}: ${item.dataset.texts[item.dataIndex]}`,
            },
          },
        },
      },
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.Chart) return;
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
})();
