// Live progress of a run over the `runProgress` subscription: each stage as it arrives.
import { subscribe } from "./graphql.js";
import { failure, format, h, replace } from "./ui.js";

/**
 * A panel that follows run `runId`. `onEvent(event)` is told every event (e.g. to refresh a view
 * when a draft reaches AWAITING_REVIEW). Returns {element, stop}.
 */
export function progressPanel(runId, { onEvent } = {}) {
  const bar = h("progress", { max: 100, value: 0 });
  const stage = h("strong.stage", "waiting for the first event…");
  const log = h("ol.events");
  const element = h("div.progress", { dataset: { runId } }, h("div", "Run ", h("code", runId), ": ", stage), bar, log);
  const stop = subscribe("RunProgress", { id: runId }, {
    onNext: ({ runProgress: event }) => {
      bar.value = event.percent;
      stage.textContent = `${format.label(event.stage)} (${event.percent}%)${event.done ? ` — ${format.label(event.state)}` : ""}`;
      element.dataset.stage = event.stage;
      element.dataset.done = String(event.done);
      log.append(h("li", { dataset: { stage: event.stage } }, h("code", format.label(event.stage)), " ", event.message ?? ""));
      while (log.children.length > 60) log.firstElementChild.remove();
      onEvent?.(event);
    },
    onEnd: (error) => {
      if (error) element.append(failure(error));
    },
  });
  return { element, stop };
}

/** Where progress panels go in a view: one at a time, stopped when replaced or when the view closes. */
export function progressSlot() {
  const element = h("div.progress-slot");
  let current = null;
  return {
    element,
    follow(runId, options) {
      current?.stop();
      current = progressPanel(runId, options);
      replace(element, current.element);
    },
    stop() {
      current?.stop();
    },
  };
}
