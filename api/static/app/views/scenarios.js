import { mutate, query } from "../graphql.js";
import { progressSlot } from "../progress.js";
import { may } from "../session.js";
import { card, failure, format, guard, h, pagedTable, replace, typedError } from "../ui.js";

function comparison(analysis) {
  const columns = [
    { name: "Baseline", arrAtRisk: analysis.baseline.arrAtRisk, change: null, onTime: null, newly: [], noLonger: [] },
    ...analysis.scenarios.map((outcome) => ({
      name: outcome.name + (outcome.id === analysis.preferredScenarioId ? " ★" : ""),
      arrAtRisk: outcome.arrAtRiskAfter,
      change: outcome.arrAtRiskChange,
      onTime: outcome.arrWeightedOnTimeChange,
      newly: outcome.customersNewlyAtRisk,
      noLonger: outcome.customersNoLongerAtRisk,
      description: outcome.description,
    })),
  ];
  const row = (label, cell) => h("tr", h("th", label), columns.map((column) => h("td", cell(column))));
  return h(
    "table.side-by-side",
    h("thead", h("tr", h("th", ""), columns.map((column) => h("th", column.name)))),
    h(
      "tbody",
      row("ARR at risk", (c) => format.money(c.arrAtRisk)),
      row("Δ ARR at risk", (c) => (c.change === null ? "—" : h(`span.${c.change > 0 ? "worse" : c.change < 0 ? "better" : "same"}`, format.signedMoney(c.change)))),
      row("Δ ARR-weighted on time", (c) => format.signedPercent(c.onTime)),
      row("customers newly at risk", (c) => c.newly.length),
      row("customers no longer at risk", (c) => c.noLonger.length),
    ),
  );
}

function dateDeltas(analysis) {
  const rows = analysis.scenarios.flatMap((outcome) =>
    outcome.featureChanges.map((change) => ({ ...change, scenario: outcome.name, name: change.feature?.name ?? change.featureId })),
  );
  return pagedTable(
    rows,
    [
      { label: "scenario", cell: (r) => r.scenario, sort: (r) => r.scenario },
      { label: "feature", cell: (r) => r.name, sort: (r) => r.name },
      { label: "P50", cell: (r) => `${format.date(r.baselineP50)} → ${format.date(r.scenarioP50)}` },
      { label: "Δ P50", cell: (r) => format.days(r.p50ShiftDays), sort: (r) => r.p50ShiftDays },
      { label: "P85", cell: (r) => `${format.date(r.baselineP85)} → ${format.date(r.scenarioP85)}` },
      { label: "Δ P85", cell: (r) => format.days(r.p85ShiftDays), sort: (r) => r.p85ShiftDays },
      { label: "Δ on time", cell: (r) => format.signedPercent(r.onTimeProbabilityChange), sort: (r) => r.onTimeProbabilityChange },
    ],
    { pageSize: 12, name: "date changes", empty: "No feature's dates moved." },
  );
}

const CHANGE_KINDS = {
  hire: "Hire (team capacity)",
  reestimate: "Re-estimate a feature",
  remove: "Remove scope",
  reprioritise: "Re-prioritise a feature",
};

function scenarioForm(choices, onStarted) {
  const planner = may("PLANNER");
  const changes = [];
  const list = h("ul.changes");
  const message = h("div");
  const name = h("input", { id: "scenario-name", value: "Hire two engineers", required: true });
  const kind = h("select", { id: "change-kind", onchange: () => showFields() }, Object.entries(CHANGE_KINDS).map(([value, label]) => h("option", { value }, label)));
  const team = h("select", { id: "change-team" }, choices.teams.nodes.map((t) => h("option", { value: t.id }, t.name)));
  const featureList = h("datalist", { id: "feature-ids" }, choices.features.nodes.map((f) => h("option", { value: f.id }, f.name)));
  const feature = h("input", { id: "change-feature", list: "feature-ids", placeholder: "feature id", value: choices.features.nodes[0]?.id ?? "" });
  const amount = h("input", { id: "change-amount", type: "number", step: "any", value: 2 });
  const amountLabel = h("label", { for: "change-amount" }, "");
  const teamField = h("span.field", h("label", { for: "change-team" }, "Team"), team);
  const featureField = h("span.field", h("label", { for: "change-feature" }, "Feature"), feature, featureList);
  const amountField = h("span.field", amountLabel, amount);
  const trials = h("input", { id: "scenario-trials", type: "number", min: 100, step: 100, value: 2000 });

  function showFields() {
    teamField.hidden = kind.value !== "hire";
    featureField.hidden = kind.value === "hire";
    amountField.hidden = kind.value === "remove";
    amountLabel.textContent = { hire: "Δ people", reestimate: "× effort", reprioritise: "priority" }[kind.value] ?? "";
    amount.value = { hire: 2, reestimate: 1.5, reprioritise: 1 }[kind.value] ?? "";
  }
  function change() {
    const value = Number(amount.value);
    switch (kind.value) {
      case "hire": return { capacity: { teamId: team.value, delta: value } };
      case "reestimate": return { reestimate: { featureId: feature.value.trim(), factor: value } };
      case "remove": return { removeScope: { featureIds: [feature.value.trim()] } };
      default: return { reprioritise: { featureId: feature.value.trim(), priority: Math.round(value) } };
    }
  }
  function describe(c) {
    if (c.capacity) return `capacity of ${c.capacity.teamId} ${c.capacity.delta >= 0 ? "+" : ""}${c.capacity.delta}`;
    if (c.reestimate) return `re-estimate ${c.reestimate.featureId} × ${c.reestimate.factor}`;
    if (c.removeScope) return `remove ${c.removeScope.featureIds.join(", ")}`;
    return `priority of ${c.reprioritise.featureId} → ${c.reprioritise.priority}`;
  }
  const add = guard(h("button.small", { type: "button", id: "add-change", onclick: () => { changes.push(change()); list.append(h("li", describe(changes.at(-1)))); } }, "Add change"), planner, "PLANNER");
  const start = guard(
    h("button.primary", {
      type: "submit",
      id: "start-scenario",
    }, "Simulate"),
    planner,
    "PLANNER",
  );
  const form = h(
    "form.scenario-form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        replace(message);
        const scenarioChanges = changes.length ? changes : [change()];
        const input = {
          scenarios: [{ id: `s-${Date.now().toString(36)}`, name: name.value, changes: scenarioChanges }],
          options: { trials: Number(trials.value) },
        };
        try {
          const result = (await mutate("StartScenarioSimulation", { input })).startScenarioSimulation;
          if (result.__typename !== "RunStarted") replace(message, typedError(result));
          else onStarted(result.run.id);
        } catch (error) {
          replace(message, failure(error));
        }
      },
    },
    h("div.form-row", h("label", { for: "scenario-name" }, "Scenario"), guard(name, planner, "PLANNER"), h("label", { for: "change-kind" }, "Change"), guard(kind, planner, "PLANNER")),
    h("div.form-row", teamField, featureField, amountField, add),
    list,
    h("div.form-row", h("label", { for: "scenario-trials" }, "Trials"), guard(trials, planner, "PLANNER"), start),
    message,
  );
  showFields();
  return form;
}

export async function render(container) {
  const [{ scenarioAnalyses }, choices] = await Promise.all([query("Scenarios", { first: 10 }), query("ScenarioChoices")]);
  const progress = progressSlot();
  const analysisSlot = h("div");
  const pickerSlot = h("div");
  let analyses = scenarioAnalyses;

  function show(analysis) {
    replace(
      analysisSlot,
      analysis
        ? [
            h("p", analysis.headline),
            h("p.muted", analysis.recommendation),
            comparison(analysis),
            h("h3", "Date changes"),
            dateDeltas(analysis),
          ]
        : h("p.muted", "No scenario has been simulated yet: start one below."),
    );
  }
  function showPicker() {
    const picker = h(
      "select",
      { id: "analysis-picker", onchange: () => show(analyses.find((a) => a.id === picker.value)) },
      analyses.map((analysis) => h("option", { value: analysis.id }, `${format.dateTime(analysis.recordedAt)} — ${analysis.scenarios.map((s) => s.name).join(", ")}`)),
    );
    replace(pickerSlot, analyses.length ? h("div.form-row", h("label", { for: "analysis-picker" }, "Analysis"), picker) : null);
    show(analyses[0]);
  }
  async function reload() {
    analyses = (await query("Scenarios", { first: 10 })).scenarioAnalyses;
    showPicker();
  }
  replace(
    container,
    h("h1", "Scenario comparison"),
    card("Baseline and scenarios", pickerSlot, analysisSlot),
    card(
      "Start a scenario",
      scenarioForm(choices, (runId) => progress.follow(runId, { onEvent: (event) => event.done && reload() })),
      progress.element,
    ),
  );
  showPicker();
  return () => progress.stop();
}
