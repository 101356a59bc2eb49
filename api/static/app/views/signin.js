import { signIn } from "../session.js";
import { card, failure, h, replace } from "../ui.js";

export function render(container, { navigate }) {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, placeholder: "lsk_…", size: 48 });
  const message = h("div");
  const form = h(
    "form.signin",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        replace(message);
        try {
          await signIn(input.value.trim());
          navigate("overview");
        } catch (error) {
          replace(message, failure(error));
        }
      },
    },
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button.primary", { type: "submit" }, "Sign in"),
  );
  replace(
    container,
    card(
      "Sign in",
      h("p", "Paste an API key (", h("code", "lodestar apikey create --role approver"), "). It is kept for this browser tab's session only."),
      form,
      message,
    ),
  );
  input.focus();
}
