import { mutate, query } from "../graphql.js";
import { progressSlot } from "../progress.js";
import { may } from "../session.js";
import { card, failure, format, guard, h, pagedTable, replace, stat, typedError } from "../ui.js";

const TEAMS_PER_PAGE = 8;
const ITEMS_PER_CELL = 6;

function items(version) {
  return version.quarters.flatMap((quarter) => [...quarter.commitments, ...quarter.explorations]);
}

/** Quarters × teams, one page of teams at a time; dependencies between shown items drawn as arrows. */
function board(version) {
  const all = items(version);
  const teams = [...new Map(all.map((item) => [item.teamId, item.team?.name ?? item.teamId])).entries()].sort((a, b) => a[1].localeCompare(b[1]));
  const wrapper = h("div.board-wrap");
  const status = h("span.muted");
  const previous = h("button.small", { type: "button", onclick: () => show(page - 1) }, "‹ Teams");
  const next = h("button.small", { type: "button", onclick: () => show(page + 1) }, "Teams ›");
  let page = 0;
  const pages = Math.max(1, Math.ceil(teams.length / TEAMS_PER_PAGE));

  function show(target) {
    page = Math.min(Math.max(target, 0), pages - 1);
    const shown = teams.slice(page * TEAMS_PER_PAGE, (page + 1) * TEAMS_PER_PAGE);
    const grid = h("div.board", { style: `grid-template-columns: 10rem repeat(${version.quarters.length}, minmax(9rem, 1fr))` });
    grid.append(h("div.board-head", "team"));
    for (const quarter of version.quarters) grid.append(h("div.board-head", `Q${quarter.index}`, h("div.muted", `${quarter.start} → ${quarter.end}`)));
    for (const [teamId, teamName] of shown) {
      grid.append(h("div.board-team", teamName));
      for (const quarter of version.quarters) {
        const cell = all.filter((item) => item.teamId === teamId && item.quarter === quarter.index);
        const visible = cell.slice(0, ITEMS_PER_CELL);
        grid.append(
          h(
            "div.board-cell",
            visible.map((item) =>
              h(
                `div.chip.${item.kind.toLowerCase()}`,
                { dataset: { featureId: item.featureId, kind: item.kind }, title: `${item.kind.toLowerCase()} · value ${format.number(item.value)} · effort ${format.number(item.effort)} pw\n${item.rationale}` },
                item.pinned ? "📌 " : "",
                item.feature?.name ?? item.featureId,
              ),
            ),
            cell.length > visible.length ? h("div.muted", `+${cell.length - visible.length} more`) : null,
          ),
        );
      }
    }
    replace(wrapper, grid);
    status.textContent = `teams ${page * TEAMS_PER_PAGE + 1}–${page * TEAMS_PER_PAGE + shown.length} of ${teams.length}`;
    previous.disabled = page === 0;
    next.disabled = page >= pages - 1;
    requestAnimationFrame(() => drawDependencies(grid, all));
  }
  show(0);
  return h(
    "div",
    h("div.legend", h("span.chip.commitment", "commitment"), h("span.chip.exploration", "exploration"), h("span.muted", "arrows: dependency → dependent")),
    wrapper,
    h("div.pager", previous, status, next),
  );
}

function drawDependencies(grid, all) {
  if (!grid.isConnected) return;
  const chips = new Map([...grid.querySelectorAll(".chip")].map((chip) => [chip.dataset.featureId, chip]));
  const origin = grid.getBoundingClientRect();
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "dependencies");
  svg.setAttribute("width", grid.scrollWidth);
  svg.setAttribute("height", grid.scrollHeight);
  svg.innerHTML = '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>';
  let drawn = 0;
  for (const item of all) {
    const to = chips.get(item.featureId);
    for (const dependency of item.feature?.dependencies ?? []) {
      const from = chips.get(dependency.id);
      if (!from || !to) continue;
      const a = from.getBoundingClientRect();
      const b = to.getBoundingClientRect();
      const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
      const [y1, y2] = [a.top + a.height / 2 - origin.top, b.top + b.height / 2 - origin.top];
      if (Math.abs(a.left - b.left) < 4) {
        // Same quarter: a bracket bulging out to the left of the column.
        const x = a.left - origin.left;
        const bulge = Math.min(40, 8 + Math.abs(y2 - y1) / 6);
        line.setAttribute("d", `M ${x} ${y1} C ${x - bulge} ${y1}, ${x - bulge} ${y2}, ${x} ${y2}`);
      } else {
        const [x1, x2] = [a.right - origin.left, b.left - origin.left];
        const middle = (x1 + x2) / 2;
        line.setAttribute("d", `M ${x1} ${y1} C ${middle} ${y1}, ${middle} ${y2}, ${x2} ${y2}`);
      }
      line.setAttribute("marker-end", "url(#arrow)");
      svg.append(line);
      drawn += 1;
    }
  }
  grid.dataset.dependenciesDrawn = String(drawn);
  grid.append(svg);
}

function valueComparison(version) {
  const gain = version.greedyValue ? version.totalValue / version.greedyValue - 1 : null;
  return h(
    "div.stats",
    stat("plan value", format.number(version.totalValue), version.method),
    stat("greedy baseline", format.number(version.greedyValue)),
    stat("MILP vs greedy", gain === null ? "—" : `${gain >= 0 ? "+" : ""}${(gain * 100).toFixed(1)}%`),
    stat("utilisation", format.percent(version.utilisation)),
    stat("items", items(version).length, `${version.quarters.reduce((n, q) => n + q.commitments.length, 0)} commitments`),
  );
}

function leftOut(version) {
  return pagedTable(
    version.leftOut,
    [
      { label: "feature", cell: (row) => row.feature?.name ?? row.featureId, sort: (row) => row.feature?.name ?? row.featureId },
      { label: "reason", cell: (row) => format.label(row.reason), sort: (row) => row.reason },
      { label: "detail", cell: (row) => row.detail },
      { label: "value", cell: (row) => format.number(row.value), sort: (row) => row.value, descending: true },
    ],
    { pageSize: 10, name: "left out", empty: "Nothing was left out." },
  );
}

function reviewForm(draft, onReviewed) {
  const comment = h("textarea", { id: "review-comment", rows: 2, placeholder: "Comment for the audit trail" });
  const outcome = h("div.review-outcome");
  async function review(operation) {
    replace(outcome);
    try {
      const data = await mutate(operation, { runId: draft.id, comment: comment.value });
      const result = Object.values(data)[0];
      if (result.__typename === "RoadmapReviewed") {
        await onReviewed(h("div.ok", { role: "status" }, `Roadmap v${draft.version} ${format.label(result.version?.status ?? "reviewed")} by ${result.version?.reviewer ?? "you"}.`));
      } else {
        replace(outcome, typedError(result));
      }
    } catch (error) {
      replace(outcome, failure(error));
    }
  }
  const allowed = may("APPROVER");
  return card(
    "Review the draft",
    h("p", `Draft v${draft.version} (run `, h("code", draft.id), `) waits for an approver.`),
    h("label", { for: "review-comment" }, "Comment"),
    guard(comment, allowed, "APPROVER"),
    h(
      "div.actions",
      guard(h("button.primary", { type: "button", id: "approve", onclick: () => review("ApproveRoadmap") }, "Approve"), allowed, "APPROVER"),
      guard(h("button.danger", { type: "button", id: "reject", onclick: () => review("RejectRoadmap") }, "Reject"), allowed, "APPROVER"),
      allowed ? null : h("span.muted", "Only an approver may review a draft."),
    ),
    outcome,
  );
}

function auditTrail(history) {
  return pagedTable(
    history,
    [
      { label: "version", cell: (row) => `v${row.version}`, sort: (row) => row.version, descending: true },
      { label: "status", cell: (row) => h(`span.badge.${row.status.toLowerCase()}`, format.label(row.status)) },
      { label: "drafted", cell: (row) => format.dateTime(row.recordedAt) },
      { label: "reviewer", cell: (row) => row.reviewer ?? "—" },
      { label: "decided", cell: (row) => format.dateTime(row.decidedAt) },
      { label: "comment", cell: (row) => row.reviewComment ?? "" },
    ],
    { pageSize: 8, name: "versions", empty: "No roadmap has been drafted yet." },
  );
}

export async function render(container) {
  const progress = progressSlot();
  const startMessage = h("div");
  const quarters = h("input", { id: "draft-quarters", type: "number", min: 1, max: 8, value: 4 });
  const trials = h("input", { id: "draft-trials", type: "number", min: 100, max: 100000, step: 100, value: 2000 });
  const planner = may("PLANNER");
  const boardSlot = h("div.board-slot");
  const reviewStatus = h("div", { id: "review-status" });

  async function reload() {
    const data = await query("RoadmapBoard");
    const draft = data.drafts[0] ?? null;
    const current = data.roadmap;
    const shown = draft ?? current;
    replace(
      boardSlot,
      draft
        ? reviewForm(draft, async (message) => {
            replace(reviewStatus, message);
            await reload();
          })
        : null,
      shown
        ? card(
            `${draft ? "Draft" : "Current"} roadmap v${shown.version} — ${format.label(shown.status)}`,
            h("p", shown.headline),
            valueComparison(shown),
            board(shown),
          )
        : card("Roadmap", h("p.muted", "No roadmap yet: draft one.")),
      draft && current ? card(`Current roadmap v${current.version} (published)`, valueComparison(current), board(current)) : null,
      shown ? card("Left out", leftOut(shown)) : null,
      card("Audit trail", auditTrail(data.history)),
    );
    boardSlot.dataset.loaded = String(Date.now());
  }

  const start = guard(
    h("button.primary", {
      type: "button",
      id: "start-draft",
      onclick: async () => {
        replace(startMessage);
        try {
          const input = { quarters: Number(quarters.value), options: { trials: Number(trials.value) } };
          const result = (await mutate("StartRoadmapDraft", { input })).startRoadmapDraft;
          if (result.__typename !== "RunStarted") {
            replace(startMessage, typedError(result));
            return;
          }
          progress.follow(result.run.id, {
            onEvent: (event) => {
              if (event.stage === "AWAITING_REVIEW" || event.done) reload().catch((error) => replace(startMessage, failure(error)));
            },
          });
        } catch (error) {
          replace(startMessage, failure(error));
        }
      },
    }, "Draft a roadmap"),
    planner,
    "PLANNER",
  );

  await reload();
  replace(
    container,
    h("h1", "Roadmap board"),
    card(
      "New draft",
      h("div.form-row", h("label", { for: "draft-quarters" }, "Quarters"), guard(quarters, planner, "PLANNER"), h("label", { for: "draft-trials" }, "Trials"), guard(trials, planner, "PLANNER"), start),
      startMessage,
      progress.element,
    ),
    reviewStatus,
    boardSlot,
  );
  return () => progress.stop();
}
