import { query } from "../graphql.js";
import { card, format, h, replace, stat } from "../ui.js";

const PAGE = 10;

function sparkline(values) {
  if (!values.length) return h("span.muted", "no history");
  const max = Math.max(...values, 1);
  const points = values.map((value, index) => `${(index / Math.max(values.length - 1, 1)) * 80},${20 - (value / max) * 18}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 80 22");
  svg.setAttribute("class", "sparkline");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  svg.append(line);
  return svg;
}

function changeSummary(lastImport) {
  if (!lastImport) return h("p.muted", "No import has been recorded yet.");
  const changed = [...lastImport.nodes, ...lastImport.relationships].filter((c) => c.created + c.updated + c.deleted > 0);
  return h(
    "div",
    h("p", "Last import: ", h("strong", format.dateTime(lastImport.changedAt))),
    changed.length
      ? h(
          "table.compact",
          h("thead", h("tr", h("th", "what"), h("th", "created"), h("th", "updated"), h("th", "deleted"))),
          h("tbody", changed.map((c) => h("tr", h("td", c.type), h("td", c.created), h("td", c.updated), h("td", c.deleted)))),
        )
      : h("p.muted", "It changed nothing."),
  );
}

function reviewSummary(review) {
  if (!review) return null;
  return h(
    "div.review",
    h("p", "Latest portfolio review (", format.dateTime(review.recordedAt), "): ", review.headline),
    h("p", `ARR at risk ${format.money(review.arrAtRisk)} (${format.signedMoney(review.arrAtRiskChange)} since the review before); `,
      `${review.newRiskCount} new risks, ${review.resolvedRiskCount} resolved.`),
  );
}

/** A list paged through the API's Relay connection (`first`/`after`), one page in the DOM at a time. */
function connectionList(title, load, row, header) {
  const cursors = [null];
  let index = 0;
  const body = h("tbody");
  const status = h("span.muted");
  const previous = h("button.small", { type: "button", onclick: () => show(index - 1) }, "‹ Previous");
  const next = h("button.small", { type: "button", onclick: () => show(index + 1) }, "Next ›");
  async function show(target, connection = null) {
    const page = connection ?? (await load(cursors[target]));
    index = target;
    cursors[index + 1] = page.pageInfo.endCursor;
    replace(body, page.nodes.map(row));
    status.textContent = `${index * PAGE + 1}–${index * PAGE + page.nodes.length} of ${page.totalCount}`;
    previous.disabled = index === 0;
    next.disabled = !page.pageInfo.hasNextPage;
  }
  const element = card(title, h("table", h("thead", header), body), h("div.pager", previous, status, next));
  return { element, show };
}

export async function render(container) {
  const variables = { productsFirst: PAGE, teamsFirst: PAGE };
  const data = await query("Overview", variables);
  const summary = data.portfolioSummary;
  const byStatus = Object.fromEntries(summary.featuresByStatus.map((item) => [item.status, item.count]));

  const products = connectionList(
    "Products",
    async (after) => (await query("ProductsPage", { first: PAGE, after })).products,
    (product) => h("tr", h("td", h("strong", product.name)), h("td.muted", product.description)),
    h("tr", h("th", "product"), h("th", "description")),
  );
  const teams = connectionList(
    "Teams",
    async (after) => (await query("TeamsPage", { first: PAGE, after })).teams,
    (team) =>
      h(
        "tr",
        h("td", h("strong", team.name)),
        h("td", team.headcount),
        h("td", format.number(team.capacity)),
        h("td", format.number(team.meanThroughput)),
        h("td", sparkline(team.throughputHistory)),
      ),
    h("tr", h("th", "team"), h("th", "headcount"), h("th", "capacity (pw/week)"), h("th", "mean throughput"), h("th", "throughput")),
  );

  replace(
    container,
    h("h1", "Portfolio overview"),
    h(
      "div.stats",
      stat("total ARR", format.money(summary.totalArr), `${summary.customerCount} customers`),
      stat("products", data.products.totalCount),
      stat("teams", data.teams.totalCount),
      stat("open work", summary.openFeatureCount, `${byStatus.IN_PROGRESS} in progress · ${byStatus.PLANNED} planned · ${byStatus.PROPOSED} proposed`),
      stat("done", byStatus.DONE),
    ),
    h("div.columns", products.element, teams.element),
    card("What changed", changeSummary(summary.lastImport), reviewSummary(data.portfolioReviews[0])),
  );
  await Promise.all([products.show(0, data.products), teams.show(0, data.teams)]);
  performance.mark("lodestar:overview-rendered");
}
