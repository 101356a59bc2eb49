import { mutate, query } from "../graphql.js";
import { progressSlot } from "../progress.js";
import { may } from "../session.js";
import { card, failure, format, guard, h, replace, typedError } from "../ui.js";

const PAGE = 15;

export async function render(container, { refresh }) {
  const progress = progressSlot();
  const message = h("div");
  const body = h("tbody");
  const status = h("span.muted");
  const cursors = [null];
  let index = 0;
  const previous = h("button.small", { type: "button", onclick: () => show(index - 1) }, "‹ Previous");
  const next = h("button.small", { type: "button", onclick: () => show(index + 1) }, "Next ›");
  const planner = may("PLANNER");
  const trials = guard(h("input", { id: "run-trials", type: "number", min: 100, step: 100, value: 2000 }), planner, "PLANNER");
  const options = () => ({ options: { trials: Number(trials.value) } });

  async function cancel(run) {
    replace(message);
    try {
      const result = (await mutate("CancelRun", { id: run.id })).cancelRun;
      if (result.__typename !== "RunCancelled") replace(message, typedError(result));
      else {
        replace(message, h("div.ok", { role: "status" }, `Cancellation of ${run.id} requested.`));
        setTimeout(() => show(index), 800);
      }
    } catch (error) {
      replace(message, failure(error));
    }
  }

  function row(run) {
    const running = run.state === "RUNNING";
    return h(
      "tr",
      { dataset: { runId: run.id, state: run.state } },
      h("td", h("code", run.id)),
      h("td", format.label(run.kind)),
      h("td", h(`span.badge.${run.state.toLowerCase()}`, format.label(run.state))),
      h("td", run.progress ? `${format.label(run.progress.stage)} (${run.progress.percent}%)` : "—"),
      h("td", format.dateTime(run.startedAt)),
      h("td", run.error ? `${run.error.type}: ${run.error.message}` : ""),
      h(
        "td.row-actions",
        h("button.small", { type: "button", onclick: () => progress.follow(run.id, { onEvent: (e) => e.done && setTimeout(() => show(index), 300) }) }, "Watch"),
        running ? guard(h("button.small.danger", { type: "button", onclick: () => cancel(run) }, "Cancel"), planner, "PLANNER") : null,
      ),
    );
  }

  async function show(target) {
    const page = (await query("Runs", { first: PAGE, after: cursors[target] })).runsConnection;
    index = target;
    cursors[index + 1] = page.pageInfo.endCursor;
    replace(body, page.nodes.length ? page.nodes.map(row) : h("tr", h("td", { colSpan: 7, class: "muted" }, "No runs yet.")));
    status.textContent = `${page.nodes.length ? index * PAGE + 1 : 0}–${index * PAGE + page.nodes.length} of ${page.totalCount}`;
    previous.disabled = index === 0;
    next.disabled = !page.pageInfo.hasNextPage;
  }

  async function start(operation, input) {
    replace(message);
    try {
      const result = Object.values(await mutate(operation, { input }))[0];
      if (result.__typename !== "RunStarted") {
        replace(message, typedError(result));
        return;
      }
      progress.follow(result.run.id, { onEvent: (e) => e.done && setTimeout(() => show(index), 300) });
      await show(0);
    } catch (error) {
      replace(message, failure(error));
    }
  }

  replace(
    container,
    h("h1", "Runs"),
    card(
      "Start a run",
      h(
        "div.actions",
        h("label", { for: "run-trials" }, "Trials"),
        trials,
        guard(h("button.primary", { type: "button", id: "run-risk", onclick: () => start("StartRiskAssessment", options()) }, "Risk assessment"), planner, "PLANNER"),
        guard(h("button.primary", { type: "button", id: "run-roadmap", onclick: () => start("StartRoadmapDraft", options()) }, "Roadmap draft"), planner, "PLANNER"),
        h("a", { href: "#/scenarios" }, "Scenario simulation…"),
      ),
      message,
      progress.element,
    ),
    card(
      "All runs",
      h("table", h("thead", h("tr", ["run", "kind", "state", "stage", "started", "error", ""].map((label) => h("th", label)))), body),
      h("div.pager", previous, status, h("button.small", { type: "button", onclick: () => show(index) }, "Refresh"), next),
    ),
  );
  await show(0);
  return () => progress.stop();
}
