// Customer insight: the latest run's themes (by ARR), a theme's feedback (a planner renames the theme or
// merges it into another), and the suggested feedback-to-feature links a planner confirms or rejects.
// Feedback and theme names are customer or user text: shown as text only.
import { mutate, query } from "../graphql.js";
import { progressSlot } from "../progress.js";
import { may } from "../session.js";
import { card, failure, format, guard, h, pagedTable, replace, stat, typedError } from "../ui.js";

const THEMES = 100; // the API's page cap: the largest themes of the run
const THEMES_PAGE = 8;
const MEMBERS_PAGE = 6;
const LINKS_PAGE = 12;
const EXCERPT = 180;
const STATUSES = ["SUGGESTED", "CONFIRMED", "REJECTED"];
const ARROWS = { RISING: "↑", STEADY: "→", FALLING: "↓" };

const short = (label) => (label.length > 28 ? `${label.slice(0, 27)}…` : label);
const excerpt = (text) => (text.length > EXCERPT ? `${text.slice(0, EXCERPT - 1)}…` : text);
const score = (value) => (value === null || value === undefined ? "—" : value.toFixed(2));

function sentiment(value) {
  const shown = `${value > 0 ? "+" : ""}${value.toFixed(2)}`;
  return h(value < -0.05 ? "span.worse" : value > 0.05 ? "span.better" : "span", shown);
}

function trend(theme) {
  const { direction, recentCount, previousCount } = theme.trend;
  return h(
    "span.trend",
    { dataset: { direction }, title: `${recentCount} items in the recent weeks, ${previousCount} in the same span before` },
    `${ARROWS[direction] ?? ""} ${format.label(direction)} `,
    h("span.muted", `(${recentCount} vs ${previousCount})`),
  );
}

/** A list the API pages with cursors: `load(after)` answers a connection; `row(node)` draws one. */
function cursorTable(columns, { name, empty, pageSize, load, row }) {
  const body = h("tbody");
  const status = h("span.muted");
  const cursors = [null];
  let index = 0;
  let stale = false;
  const previous = h("button.small", { type: "button", onclick: () => show(index - 1) }, "‹ Previous");
  const next = h("button.small", { type: "button", onclick: () => show(stale ? index : index + 1) }, "Next ›");
  async function show(target) {
    const page = await load(cursors[target]);
    // A decision on this page moved its rows out of the list: the next page starts where this one did.
    if (stale && target === index) cursors.length = index + 1;
    stale = false;
    index = target;
    cursors[index + 1] = page.pageInfo.endCursor;
    const rows = await Promise.all(page.nodes.map(row));
    replace(body, rows.length ? rows : h("tr", h("td", { colSpan: columns.length, class: "muted" }, empty)));
    const first = index * pageSize;
    status.textContent = `${rows.length ? first + 1 : 0}–${first + rows.length} of ${page.totalCount} ${name}`;
    previous.disabled = index === 0;
    next.disabled = !page.pageInfo.hasNextPage;
  }
  const element = h(
    "div.paged",
    { dataset: { name } },
    h("table", h("thead", h("tr", columns.map((label) => h("th", label)))), body),
    h("div.pager", previous, status, next),
  );
  return { element, show, changed: () => (stale = true) };
}

function themesTable(themes, onOpen) {
  const table = pagedTable(
    themes,
    [
      {
        label: "theme",
        cell: (t) => [
          h("button.link", { type: "button", dataset: { themeId: t.id }, onclick: () => onOpen(t), title: "Show its feedback" }, t.label),
          h("div.muted.terms", t.topTerms.slice(0, 4).join(" · ")),
        ],
        sort: (t) => t.label.toLowerCase(),
      },
      { label: "items", cell: (t) => String(t.itemCount), sort: (t) => t.itemCount, descending: true },
      { label: "customers", cell: (t) => String(t.customerCount), sort: (t) => t.customerCount, descending: true },
      { label: "ARR", cell: (t) => format.money(t.arr), sort: (t) => t.arr, descending: true },
      { label: "sentiment", cell: (t) => sentiment(t.sentiment), sort: (t) => t.sentiment },
      { label: "trend", cell: trend, sort: (t) => t.trend.recentCount - t.trend.previousCount, descending: true },
    ],
    { pageSize: THEMES_PAGE, name: "themes", empty: "The run found no themes." },
  );
  table.sortBy("ARR");
  return table;
}

/**
 * The selected theme's feedback; for a planner also "Rename" and "Merge into…" (another theme of the list).
 * `themes()` answers the list as it now stands; `onChanged(theme, mergedId)` is told of a rename or a merge.
 */
function membersPanel(themes, onChanged) {
  const planner = may("PLANNER");
  const element = h("div", { id: "theme-members" }, h("h2", "Feedback"), h("p.muted", "Choose a theme to read its feedback."));

  async function change(outcome, buttons, operation, variables, done) {
    replace(outcome);
    for (const button of buttons) button.disabled = true;
    try {
      const result = Object.values(await mutate(operation, variables))[0];
      if (result.__typename === "ThemeChanged") return await done(result.theme);
      replace(outcome, typedError(result));
    } catch (error) {
      replace(outcome, failure(error));
    }
    for (const button of buttons) button.disabled = false;
  }

  function tools(theme) {
    const outcome = h("div", { id: "theme-outcome" });
    const label = h("input", { id: "theme-label", value: theme.label, maxLength: 120, size: 28, autocomplete: "off" });
    const save = h("button.small.primary", { type: "submit" }, "Save");
    const rename = h(
      "form.form-row",
      {
        id: "theme-rename",
        onsubmit: (event) => {
          event.preventDefault();
          change(outcome, [save], "RenameTheme", { id: theme.id, label: label.value }, async (renamed) => {
            onChanged(renamed, null);
            await open(renamed, `Renamed to “${renamed.label}”.`);
          });
        },
      },
      h("label", { for: "theme-label" }, "Rename"),
      label,
      save,
    );
    const others = themes().filter((t) => t.id !== theme.id);
    const target = h(
      "select",
      { id: "merge-target" },
      others.map((t) => h("option", { value: t.id, title: t.label }, `${short(t.label)} (${t.itemCount} items)`)),
    );
    const confirmation = h("div", { id: "merge-confirm" });
    const ask = h("button.small", { type: "button", disabled: others.length === 0 }, "Merge…");
    ask.addEventListener("click", () => {
      const into = others.find((t) => t.id === target.value);
      if (!into) return;
      const yes = h("button.small.danger", { type: "button" }, "Confirm merge");
      const no = h("button.small", { type: "button" }, "Cancel");
      const close = () => {
        ask.disabled = target.disabled = false;
        replace(confirmation);
      };
      no.addEventListener("click", close);
      yes.addEventListener("click", () =>
        change(outcome, [yes, no], "MergeThemes", { targetId: into.id, sourceId: theme.id }, async (merged) => {
          onChanged(merged, theme.id);
          await open(merged, `Merged “${theme.label}” into “${merged.label}”: ${merged.itemCount} items.`);
        }),
      );
      ask.disabled = target.disabled = true;
      replace(
        confirmation,
        h(
          "div.form-row",
          h("span", `Merge “${theme.label}” (${theme.itemCount} items) into “${into.label}”? Its feedback moves there.`),
          yes,
          no,
        ),
      );
    });
    return h(
      "div",
      { id: "theme-tools" },
      rename,
      h("div.form-row", h("label", { for: "merge-target" }, "Merge into…"), target, ask),
      confirmation,
      outcome,
    );
  }

  async function open(theme, notice = null) {
    const members = cursorTable(["feedback", "sentiment"], {
      name: "items",
      empty: "No feedback in this theme.",
      pageSize: MEMBERS_PAGE,
      load: async (after) => {
        const found = (await query("ThemeMembers", { id: theme.id, first: MEMBERS_PAGE, after })).theme;
        return found?.members ?? { nodes: [], totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null } };
      },
      row: (m) =>
        h(
          "tr",
          { dataset: { feedbackId: m.feedbackId } },
          h(
            "td",
            h("div.feedback-text", m.text),
            h("div.muted", `${m.customer?.name ?? m.customerId ?? "unknown customer"} · ${format.date(m.createdAt)}${m.source ? ` · ${m.source}` : ""}`),
          ),
          h("td", sentiment(m.sentiment)),
        ),
    });
    await members.show(0);
    element.dataset.themeId = theme.id;
    for (const button of document.querySelectorAll("button.link[data-theme-id]")) {
      button.closest("tr")?.classList.toggle("selected", button.dataset.themeId === theme.id);
    }
    const panel = planner ? tools(theme) : null;
    if (panel && notice) replace(panel.querySelector("#theme-outcome"), h("div.ok", { role: "status" }, notice));
    replace(element, h("h2", `Feedback in “${theme.label}”`), panel, members.element);
  }
  const fail = (error) => replace(element, h("h2", "Feedback"), failure(error));
  return { element: h("section.card", { dataset: { card: "Theme feedback" } }, element), open, fail };
}

/** The links by status; a planner confirms or rejects; `onDecided()` follows each decision. */
function linksPanel(onDecided) {
  const planner = may("PLANNER");
  const outcome = h("div", { id: "link-outcome" });
  const filter = h(
    "select",
    { id: "link-status", onchange: () => table().show(0).catch((error) => replace(outcome, failure(error))) },
    STATUSES.map((status) => h("option", { value: status }, format.label(status))),
  );
  const slot = h("div");
  const excerptOf = new Map();
  let current = null;

  async function decide(operation, link, tr) {
    replace(outcome);
    for (const button of tr.querySelectorAll("button")) button.disabled = true;
    try {
      const result = Object.values(await mutate(operation, { feedbackId: link.feedbackId, featureId: link.featureId }))[0];
      if (result.__typename !== "FeedbackLinkDecided") {
        replace(outcome, typedError(result));
        for (const button of tr.querySelectorAll("button")) button.disabled = false;
        return;
      }
      const decided = { ...link, ...result.link };
      tr.replaceWith(row(decided, excerptOf.get(link.feedbackId)));
      current.changed();
      onDecided();
      replace(outcome, h("div.ok", { role: "status" }, `Link to ${link.feature?.name ?? link.featureId} ${format.label(decided.status)}.`));
    } catch (error) {
      replace(outcome, failure(error));
      for (const button of tr.querySelectorAll("button")) button.disabled = false;
    }
  }

  function row(link, feedback) {
    const tr = h(
      "tr",
      { dataset: { feedbackId: link.feedbackId, featureId: link.featureId, status: link.status } },
      h(
        "td",
        feedback ? h("div.feedback-text", excerpt(feedback.text)) : h("code", link.feedbackId),
        feedback ? h("div.muted", `${feedback.customer?.name ?? "unknown customer"} · ${format.date(feedback.createdAt)}`) : null,
      ),
      h("td", link.feature?.name ?? link.featureId),
      h("td", score(link.score)),
      h("td", h(`span.badge.${link.status.toLowerCase()}`, format.label(link.status))),
      h("td", link.decidedBy ? `${link.decidedBy}, ${format.dateTime(link.decidedAt)}` : "—"),
    );
    if (planner) {
      tr.append(
        h(
          "td.row-actions",
          link.status !== "CONFIRMED" ? h("button.small.primary", { type: "button", onclick: () => decide("ConfirmFeedbackLink", link, tr) }, "Confirm") : null,
          link.status !== "REJECTED" ? h("button.small.danger", { type: "button", onclick: () => decide("RejectFeedbackLink", link, tr) }, "Reject") : null,
        ),
      );
    }
    return tr;
  }

  function table() {
    const status = filter.value;
    const columns = ["feedback", "feature", "similarity", "status", "decided", ...(planner ? [""] : [])];
    current = cursorTable(columns, {
      name: `${format.label(status)} links`,
      empty: status === "SUGGESTED" ? "No suggested link waits for a decision." : `No ${format.label(status)} link.`,
      pageSize: LINKS_PAGE,
      load: async (after) => {
        const page = (await query("FeedbackLinks", { status, first: LINKS_PAGE, after })).feedbackLinks;
        const ids = [...new Set(page.nodes.map((link) => link.feedbackId))].filter((id) => !excerptOf.has(id));
        if (ids.length) {
          for (const feedback of (await query("FeedbackTexts", { ids })).nodes) if (feedback?.id) excerptOf.set(feedback.id, feedback);
        }
        return page;
      },
      row: (link) => row(link, excerptOf.get(link.feedbackId)),
    });
    replace(slot, current.element);
    return current;
  }

  return {
    element: h(
      "div",
      h(
        "div.form-row",
        h("label", { for: "link-status" }, "Status"),
        filter,
        planner ? null : h("span.muted", "Only a planner may confirm or reject a link."),
      ),
      outcome,
      slot,
    ),
    show: () => table().show(0),
  };
}

function startInsight(refresh) {
  const progress = progressSlot();
  const message = h("div");
  const button = guard(
    h("button.primary", {
      type: "button",
      id: "start-insight",
      onclick: async () => {
        replace(message);
        try {
          const result = (await mutate("StartInsightRun", { input: null })).startInsightRun;
          if (result.__typename !== "RunStarted") replace(message, typedError(result));
          else progress.follow(result.run.id, { onEvent: (event) => event.done && setTimeout(refresh, 300) });
        } catch (error) {
          replace(message, failure(error));
        }
      },
    }, "Run insight"),
    may("PLANNER"),
    "PLANNER",
  );
  return { element: h("div", button, message, progress.element), stop: () => progress.stop() };
}

export async function render(container, { refresh }) {
  const data = await query("Insight", { themesFirst: THEMES });
  let themes = data.themes.nodes;
  let themeCount = data.themes.totalCount;
  const start = startInsight(refresh);
  const digestId = themes[0]?.digestId ?? null;
  if (digestId === null) {
    replace(
      container,
      h("h1", "Customer insight"),
      card("No insight run yet", h("p", "No insight run has found themes in the feedback yet."), start.element),
    );
    return start.stop;
  }
  const digest = (await query("InsightDigest", { id: digestId })).insightDigest;
  const themeStat = stat("themes", format.number(themeCount));
  const suggestedStat = stat("suggested links", format.number(data.suggested.totalCount), "awaiting a decision");
  const themesSlot = h("div");
  const members = membersPanel(
    () => themes,
    (changed, mergedId) => {
      themes = themes.filter((t) => t.id !== mergedId).map((t) => (t.id === changed.id ? { ...t, ...changed } : t));
      if (mergedId !== null) themeCount -= 1;
      themeStat.querySelector(".stat-value").textContent = format.number(themeCount);
      drawThemes();
    },
  );
  const openTheme = (theme) => members.open(theme).catch(members.fail);
  const drawThemes = () => replace(themesSlot, themesTable(themes, openTheme));
  drawThemes();
  // A decision changes the count of suggested links: asked again, the latest answer wins.
  let asked = 0;
  const links = linksPanel(async () => {
    const ask = ++asked;
    try {
      const count = (await query("Insight", { themesFirst: 0 })).suggested.totalCount;
      if (ask === asked) suggestedStat.querySelector(".stat-value").textContent = format.number(count);
    } catch {
      // The count stays as it was; the next decision or a reload asks again.
    }
  });
  const shown = themeCount > themes.length ? `the ${themes.length} largest of ${themeCount} themes` : null;
  replace(
    container,
    h("h1", "Customer insight"),
    h(
      "div.stats",
      stat("feedback analysed", format.number(digest?.feedbackCount), digest ? `as of ${format.date(digest.asOf)}` : null),
      themeStat,
      suggestedStat,
      stat("analysed", format.dateTime(digest?.recordedAt), digest?.modelName),
    ),
    digest ? h("p", { id: "insight-headline" }, digest.headline) : null,
    digest?.recommendation ? h("p.muted", digest.recommendation) : null,
    h(
      "div.split",
      card("Themes by ARR", shown ? h("p.muted", `Showing ${shown}.`) : null, themesSlot),
      members.element,
    ),
    card("Feedback-to-feature links", links.element),
    card("Re-run", start.element),
  );
  await links.show();
  return start.stop;
}
