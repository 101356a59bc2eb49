// The Lodestar dashboard: hash routes, one view at a time, over the public GraphQL API.
import { disposeCharts } from "./charts.js";
import { resume, session, signOut } from "./session.js";
import { failure, h, replace } from "./ui.js";

const VIEWS = {
  overview: () => import("./views/overview.js"),
  roadmap: () => import("./views/roadmap.js"),
  forecast: () => import("./views/forecast.js"),
  scenarios: () => import("./views/scenarios.js"),
  risk: () => import("./views/risk.js"),
  insight: () => import("./views/insight.js"),
  runs: () => import("./views/runs.js"),
  signin: () => import("./views/signin.js"),
};

const main = document.getElementById("view");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let cleanup = null;
let rendering = 0;

function routeName() {
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  return name in VIEWS ? name : "overview";
}

function showCaller() {
  nav.hidden = session.me === null;
  if (session.me === null) {
    replace(who);
    return;
  }
  replace(
    who,
    h("span", { dataset: { role: session.me.role } }, `${session.me.name} · ${session.me.role.toLowerCase()}`),
    h("button.small", { type: "button", onclick: () => { signOut(); location.hash = "#/signin"; route(); } }, "Sign out"),
  );
}

export async function route() {
  const ticket = ++rendering;
  cleanup?.();
  cleanup = null;
  disposeCharts();
  let name = routeName();
  if (session.me === null) name = "signin";
  else if (name === "signin") name = "overview";
  showCaller();
  for (const link of nav.querySelectorAll("a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${name}`);
  }
  const container = h("div.view", { dataset: { view: name } });
  replace(main, container);
  try {
    const view = await VIEWS[name]();
    if (ticket !== rendering) return;
    cleanup = (await view.render(container, { navigate, refresh: route })) ?? null;
  } catch (error) {
    if (ticket === rendering) replace(container, failure(error));
  }
}

export function navigate(name) {
  if (location.hash === `#/${name}`) route();
  else location.hash = `#/${name}`;
}

window.addEventListener("hashchange", route);
const resumed = resume();
if (resumed.me === null) await resumed.verified;
route();
resumed.verified.then((me) => {
  if (me === null || me.role !== resumed.me?.role) route();
});
