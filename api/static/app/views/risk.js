import { chart } from "../charts.js";
import { mutate, query } from "../graphql.js";
import { progressSlot } from "../progress.js";
import { may } from "../session.js";
import { card, daysBetween, failure, format, guard, h, pagedTable, replace, stat, typedError } from "../ui.js";

const HEAT_TEAMS = 15;

/** Severity per team and risk kind: each risk counts for the teams it touches (a team, or a feature's owner). */
function heat(assessment) {
  const names = new Map(assessment.teamLoads.map((load) => [load.teamId, load.team?.name ?? load.teamId]));
  const cells = new Map();
  const kinds = new Set();
  for (const risk of assessment.risks) {
    const teams = new Set();
    for (const entity of risk.affected) {
      if (entity.__typename === "Team") teams.add(entity.id);
      else if (entity.__typename === "Feature" && entity.owner) teams.add(entity.owner.id);
    }
    for (const team of teams) {
      kinds.add(risk.kind);
      const key = `${team}|${risk.kind}`;
      cells.set(key, (cells.get(key) ?? 0) + risk.severity);
    }
  }
  const totals = new Map();
  for (const [key, value] of cells) totals.set(key.split("|")[0], (totals.get(key.split("|")[0]) ?? 0) + value);
  const teams = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a)).slice(0, HEAT_TEAMS);
  return { teams, names, kinds: [...kinds].sort(), cells };
}

async function heatMap(element, assessment) {
  const { teams, names, kinds, cells } = heat(assessment);
  const data = [];
  teams.forEach((team, y) => kinds.forEach((kind, x) => data.push([x, y, Number((cells.get(`${team}|${kind}`) ?? 0).toFixed(2))])));
  const max = Math.max(1, ...data.map((d) => d[2]));
  element.dataset.cells = String(data.filter((d) => d[2] > 0).length);
  await chart(element, {
    grid: { left: 160, right: 20, top: 20, bottom: 130 },
    tooltip: { formatter: (p) => `${names.get(teams[p.data[1]]) ?? teams[p.data[1]]} · ${format.label(kinds[p.data[0]])}: ${p.data[2]}` },
    xAxis: { type: "category", data: kinds.map(format.label), axisLabel: { rotate: 35 } },
    yAxis: { type: "category", data: teams.map((team) => names.get(team) ?? team) },
    visualMap: { min: 0, max, orient: "horizontal", left: "center", bottom: 0, calculable: false, inRange: { color: ["#f4f7fb", "#f6c85f", "#e4572e"] } },
    series: [{ type: "heatmap", data, label: { show: true, formatter: (p) => (p.data[2] ? p.data[2] : "") } }],
  });
}

function criticalPath(assessment) {
  return h(
    "div",
    h("p", `${format.number(assessment.criticalPathWeeks)} weeks, ending ${format.date(assessment.criticalPathEnd)}.`),
    h(
      "ol.path",
      assessment.criticalPath.slice(0, 40).map((feature) => h("li", h("strong", feature.name), h("span.muted", ` ${feature.owner?.name ?? "unowned"}`))),
      assessment.criticalPath.length > 40 ? h("li.muted", `… ${assessment.criticalPath.length - 40} more`) : null,
    ),
  );
}

function customers(assessment) {
  return pagedTable(
    assessment.customersAtRisk.map((c) => ({ ...c, name: c.customer?.name ?? c.customerId, late: daysBetween(c.renewalDate, c.latestP85) })),
    [
      { label: "customer", cell: (r) => r.name, sort: (r) => r.name },
      { label: "ARR", cell: (r) => format.money(r.arr), sort: (r) => r.arr, descending: true },
      { label: "renewal", cell: (r) => r.renewalDate, sort: (r) => r.renewalDate },
      { label: "latest P85", cell: (r) => r.latestP85, sort: (r) => r.latestP85 },
      { label: "late by", cell: (r) => h("span.worse", format.days(r.late)), sort: (r) => r.late, descending: true },
      { label: "late features", cell: (r) => r.lateFeatureIds.length },
    ],
    { pageSize: 10, name: "customers at risk", empty: "No customer's renewal is at risk." },
  );
}

function startAssessment(refresh) {
  const progress = progressSlot();
  const message = h("div");
  const button = guard(
    h("button.primary", {
      type: "button",
      id: "start-risk",
      onclick: async () => {
        replace(message);
        try {
          const result = (await mutate("StartRiskAssessment", { input: { options: { trials: 2000 } } })).startRiskAssessment;
          if (result.__typename !== "RunStarted") replace(message, typedError(result));
          else progress.follow(result.run.id, { onEvent: (event) => event.done && setTimeout(refresh, 300) });
        } catch (error) {
          replace(message, failure(error));
        }
      },
    }, "Assess risk now"),
    may("PLANNER"),
    "PLANNER",
  );
  return { element: h("div", button, message, progress.element), stop: () => progress.stop() };
}

export async function render(container, { refresh }) {
  const assessment = (await query("Risk")).riskAssessments[0];
  const start = startAssessment(refresh);
  if (!assessment) {
    replace(container, h("h1", "Risk"), card("No risk assessment yet", start.element));
    return start.stop;
  }
  const heatElement = h("div.chart", { id: "risk-heat-map" });
  replace(
    container,
    h("h1", "Risk"),
    h(
      "div.stats",
      stat("ARR at risk", format.money(assessment.arrAtRisk), `of ${format.money(assessment.totalArr)}`),
      stat("risks", assessment.risks.length, `horizon ${assessment.horizonWeeks} weeks`),
      stat("assessed", format.dateTime(assessment.recordedAt)),
    ),
    h("p", assessment.headline),
    card("Teams × risk kinds (summed severity)", heatElement),
    h("div.columns", card("Critical path", criticalPath(assessment)), card("ARR at risk per customer vs renewal", customers(assessment))),
    card("Re-assess", start.element),
  );
  await heatMap(heatElement, assessment);
  return start.stop;
}
