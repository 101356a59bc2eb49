// ECharts, vendored (vendor/, see versions.json), loaded only by the views that draw charts, so the
// overview paints without waiting for it. Its URL, with a fingerprint, comes from the page.
let loading = null;

export function echarts() {
  if (loading === null) {
    const url = document.querySelector('meta[name="lodestar-chart-library"]').content;
    loading = import(new URL(url, document.baseURI).href);
  }
  return loading;
}

const charts = new Set();

/** A chart in `element` with `option`; disposed when the view changes (`disposeCharts`). */
export async function chart(element, option) {
  const library = await echarts();
  if (!element.isConnected) return null;
  const previous = library.getInstanceByDom(element);
  if (previous) {
    charts.delete(previous);
    previous.dispose();
  }
  const instance = library.init(element, null, { renderer: "canvas" });
  instance.setOption({ animation: false, ...option });
  charts.add(instance);
  return instance;
}

export function disposeCharts() {
  for (const instance of charts) instance.dispose();
  charts.clear();
}

window.addEventListener("resize", () => {
  for (const instance of charts) instance.resize();
});
