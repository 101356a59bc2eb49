import { chart } from "../charts.js";
import { query } from "../graphql.js";
import { card, daysBetween, format, addDays, h, pagedTable, replace, stat } from "../ui.js";

const CHART_ROWS = 15;

/** Releases and objectives by the latest of their features' dates (a bound: they ship when the last one does). */
function groups(features, key) {
  const byGroup = new Map();
  for (const forecast of features) {
    for (const group of key(forecast)) {
      if (!byGroup.has(group.id)) byGroup.set(group.id, { id: group.id, name: group.name, target: group.date ?? group.dueDate ?? null, members: [] });
      byGroup.get(group.id).members.push(forecast);
    }
  }
  const latest = (members, field) => members.map((m) => m[field]).filter(Boolean).sort().at(-1) ?? null;
  return [...byGroup.values()].map((group) => ({
    featureId: group.id,
    name: `${group.name} (${group.members.length} features)`,
    p50: latest(group.members, "p50"),
    p85: latest(group.members, "p85"),
    p95: latest(group.members, "p95"),
    targetDate: group.target,
    onTimeProbability: group.members.some((m) => m.onTimeProbability === null)
      ? null
      : Math.min(...group.members.map((m) => m.onTimeProbability)),
  }));
}

function risk(row) {
  return row.onTimeProbability === null ? -1 : 1 - row.onTimeProbability;
}

/** The fan: for each row, a bar to P50 and bands P50–P85 and P85–P95; the target as a diamond. */
async function fanChart(element, rows, asOf) {
  const shown = rows.slice(0, CHART_ROWS).reverse();
  const offset = (date) => (date ? daysBetween(asOf, date) : null);
  const p50 = shown.map((row) => offset(row.p50));
  const p85 = shown.map((row, index) => (row.p85 && p50[index] !== null ? offset(row.p85) - p50[index] : null));
  const p95 = shown.map((row) => (row.p95 && row.p85 ? daysBetween(row.p85, row.p95) : null));
  await chart(element, {
    grid: { left: 220, right: 30, top: 30, bottom: 40 },
    legend: { top: 0 },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (params) => {
        const row = shown[params[0].dataIndex];
        return `${row.name}<br/>P50 ${format.date(row.p50)} · P85 ${format.date(row.p85)} · P95 ${format.date(row.p95)}<br/>target ${format.date(row.targetDate)} · on time ${format.percent(row.onTimeProbability)}`;
      },
    },
    xAxis: { type: "value", axisLabel: { formatter: (days) => addDays(asOf, days) } },
    yAxis: { type: "category", data: shown.map((row) => row.name), axisLabel: { width: 200, overflow: "truncate" } },
    series: [
      { name: "to P50", type: "bar", stack: "fan", data: p50, itemStyle: { color: "#c7d7f5" } },
      { name: "P50–P85", type: "bar", stack: "fan", data: p85, itemStyle: { color: "#5b8def" } },
      { name: "P85–P95", type: "bar", stack: "fan", data: p95, itemStyle: { color: "#23408e" } },
      {
        name: "target",
        type: "scatter",
        symbol: "diamond",
        symbolSize: 12,
        itemStyle: { color: "#e4572e" },
        data: shown.map((row) => offset(row.targetDate)),
      },
    ],
  });
}

function table(rows, chartElement, asOf, name) {
  const element = pagedTable(
    rows,
    [
      { label: name, cell: (row) => row.name, sort: (row) => row.name },
      { label: "P50", cell: (row) => format.date(row.p50), sort: (row) => row.p50 },
      { label: "P85", cell: (row) => format.date(row.p85), sort: (row) => row.p85 },
      { label: "P95", cell: (row) => format.date(row.p95), sort: (row) => row.p95 },
      { label: "target", cell: (row) => format.date(row.targetDate), sort: (row) => row.targetDate },
      { label: "on time", cell: (row) => format.percent(row.onTimeProbability), sort: (row) => row.onTimeProbability },
      { label: "risk", cell: (row) => h("span.risk", { style: `--risk:${Math.max(risk(row), 0)}` }, row.onTimeProbability === null ? "no target" : format.percent(risk(row))), sort: risk, descending: true },
    ],
    { pageSize: 15, name },
  );
  return element;
}

export async function render(container) {
  const analysis = (await query("Forecast")).scenarioAnalyses[0];
  if (!analysis) {
    replace(container, h("h1", "Forecast"), card("No forecast yet", h("p.muted", "Run a scenario simulation (Scenarios) to forecast the baseline.")));
    return;
  }
  const baseline = analysis.baseline;
  const features = baseline.features
    .filter((forecast) => !forecast.unscheduled)
    .map((forecast) => ({ ...forecast, name: forecast.feature?.name ?? forecast.featureId }));
  const levels = {
    feature: features,
    release: groups(features, (f) => (f.feature?.release ? [f.feature.release] : [])),
    objective: groups(features, (f) => f.feature?.objectives ?? []),
  };
  const chartElement = h("div.chart", { id: "fan-chart" });
  const tableSlot = h("div");
  const picker = h(
    "select",
    { id: "forecast-level", onchange: () => show(picker.value) },
    Object.keys(levels).map((level) => h("option", { value: level }, `per ${level}`)),
  );
  function show(level) {
    const rows = [...levels[level]].sort((a, b) => risk(b) - risk(a));
    replace(tableSlot, table(rows, chartElement, baseline.asOf, level));
    fanChart(chartElement, rows, baseline.asOf);
  }
  replace(
    container,
    h("h1", "Delivery forecast"),
    h(
      "p.muted",
      { id: "forecast-source" },
      `The baseline of the latest scenario run (${analysis.id}, recorded ${format.dateTime(analysis.recordedAt)}); a new scenario run forecasts the portfolio as it is now.`,
    ),
    h(
      "div.stats",
      stat("as of", baseline.asOf, `${baseline.trials} Monte Carlo trials`),
      stat("ARR at risk", format.money(baseline.arrAtRisk)),
      stat("features forecast", features.length),
    ),
    card(
      "P50 / P85 / P95 by risk",
      h("div.form-row", h("label", { for: "forecast-level" }, "Show"), picker, h("span.muted", "riskiest first (releases and objectives: the latest of their features)")),
      chartElement,
      tableSlot,
    ),
  );
  show("feature");
}
