// Small DOM helpers shared by the views: element builder, formatting, pages of rows, typed errors.

/** h("div.card", {attrs}, ...children): an element; children may be strings, nodes, arrays or null. */
export function h(tag, attributes = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const element = document.createElement(name || "div");
  if (classes.length) element.className = classes.join(" ");
  if (attributes instanceof Node || typeof attributes !== "object" || Array.isArray(attributes)) {
    children.unshift(attributes);
    attributes = {};
  }
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

const money = new Intl.NumberFormat("en", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1 });
const number = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

export const format = {
  money: (value) => (value === null || value === undefined ? "—" : money.format(value)),
  signedMoney: (value) => (value === null || value === undefined ? "—" : (value > 0 ? "+" : "") + money.format(value)),
  number: (value) => (value === null || value === undefined ? "—" : number.format(value)),
  percent: (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`),
  signedPercent: (value) =>
    value === null || value === undefined ? "—" : `${value > 0 ? "+" : ""}${Math.round(value * 100)} pts`,
  days: (value) => (value === null || value === undefined ? "—" : `${value > 0 ? "+" : ""}${value} d`),
  date: (value) => value ?? "—",
  dateTime: (value) => (value ? new Date(value).toLocaleString("en-GB", { timeZone: "UTC" }) + " UTC" : "—"),
  label: (value) => (value ? value.toLowerCase().replaceAll("_", " ") : "—"),
};

export function daysBetween(from, to) {
  return Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);
}

export function addDays(from, days) {
  return new Date(Date.parse(from) + days * 86_400_000).toISOString().slice(0, 10);
}

/** A card with a title. */
export function card(title, ...children) {
  return h("section.card", { dataset: { card: title } }, h("h2", title), ...children);
}

export function stat(label, value, detail = null) {
  return h("div.stat", { dataset: { stat: label } }, h("div.stat-value", value), h("div.stat-label", label), detail && h("div.muted", detail));
}

/**
 * A table that shows `pageSize` rows of `rows` at a time (never thousands of DOM rows), with optional
 * sorting by the columns that have a `sort` key. columns: [{label, cell(row), sort?(row)}].
 */
export function pagedTable(rows, columns, { pageSize = 20, name = "rows", empty = "Nothing to show." } = {}) {
  let page = 0;
  let sorted = rows;
  let sortColumn = null;
  let descending = false;
  const body = h("tbody");
  const status = h("span.muted");
  const previous = h("button.small", { type: "button", onclick: () => show(page - 1) }, "‹ Previous");
  const next = h("button.small", { type: "button", onclick: () => show(page + 1) }, "Next ›");
  const head = h(
    "tr",
    columns.map((column) =>
      h(
        "th",
        column.sort
          ? h("button.sort", { type: "button", onclick: () => sortBy(column) }, column.label)
          : column.label,
      ),
    ),
  );
  function sortBy(column) {
    descending = sortColumn === column ? !descending : column.descending ?? false;
    sortColumn = column;
    const key = column.sort;
    sorted = [...rows].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const order = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
      return descending ? -order : order;
    });
    show(0);
  }
  function show(target) {
    const pages = Math.max(1, Math.ceil(sorted.length / pageSize));
    page = Math.min(Math.max(target, 0), pages - 1);
    const slice = sorted.slice(page * pageSize, (page + 1) * pageSize);
    replace(
      body,
      slice.length
        ? slice.map((row) => h("tr", columns.map((column) => h("td", column.cell(row)))))
        : h("tr", h("td", { colSpan: columns.length, class: "muted" }, empty)),
    );
    status.textContent = `${sorted.length ? page * pageSize + 1 : 0}–${page * pageSize + slice.length} of ${sorted.length} ${name}`;
    previous.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  const table = h("div.paged", { dataset: { name } }, h("table", h("thead", head), body), h("div.pager", previous, status, next));
  table.sortBy = (label) => sortBy(columns.find((column) => column.label === label));
  show(0);
  return table;
}

/** The API's typed answer to a refused or invalid mutation, shown as it came. */
export function typedError(result) {
  const lines = [h("strong", result.__typename), ": ", result.message];
  if (result.__typename === "PermissionDenied") {
    lines.push(` (needs ${result.requiredRole}; you are ${result.yourRole ?? "not signed in"})`);
  }
  const issues = result.issues?.map((issue) => h("li", `${issue.location}: ${issue.message}`));
  return h("div.error", { role: "alert", dataset: { typename: result.__typename } }, ...lines, issues?.length ? h("ul", issues) : null);
}

export function failure(error) {
  return h("div.error", { role: "alert", dataset: { code: error.code ?? "ERROR" } }, h("strong", error.code ?? "Error"), ": ", error.message);
}

/** A control the caller's role may not use: disabled, saying which role it needs. */
export function guard(element, allowed, role) {
  if (!allowed) {
    element.disabled = true;
    element.title = `Needs the ${role.toLowerCase()} role`;
    element.classList.add("not-allowed");
  }
  return element;
}
