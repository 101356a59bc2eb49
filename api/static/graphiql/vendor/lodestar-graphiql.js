// Starts GraphiQL on the Lodestar API that served this page: queries and mutations are POSTed to this
// page's own URL, subscriptions go over graphql-transport-ws to the same URL as ws:// (wss:// under https).
// Mirrors strawberry's GraphiQL template (strawberry/static/graphiql.html), explorer plugin included.
(function () {
  "use strict";

  const EXAMPLE_QUERY = `# Lodestar GraphiQL
#
# Put an API key in the Headers tab below, e.g.
#   {"Authorization": "Bearer <key from \`lodestar apikey create --role viewer\`>"}
# Without one, only \`me\` answers (it is null for an anonymous caller).
#
# Run: Ctrl-Enter (or the play button). Complete: Ctrl-Space.

{
  me {
    name
    role
  }
}
`;

  const parameters = Object.fromEntries(new URLSearchParams(window.location.search));

  function updateURL(changes) {
    Object.assign(parameters, changes);
    const kept = Object.entries(parameters).filter(([, value]) => Boolean(value));
    history.replaceState(null, "", "?" + new URLSearchParams(kept).toString());
  }

  const endpoint = new URL(window.location.href);
  endpoint.search = "";
  endpoint.hash = "";
  const subscriptionEndpoint = new URL(endpoint);
  subscriptionEndpoint.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  const baseFetcher = GraphiQL.createFetcher({
    url: endpoint.toString(),
    subscriptionUrl: subscriptionEndpoint.toString(),
  });

  function isSubscription(params, options) {
    const document = options && options.documentAST;
    if (!document) {
      return false;
    }
    const name = params.operationName || undefined;
    return document.definitions.some(
      (definition) =>
        definition.kind === "OperationDefinition" &&
        definition.operation === "subscription" &&
        (definition.name ? definition.name.value : undefined) === name,
    );
  }

  // A browser WebSocket carries no headers: the headers editor's values become the `connection_init`
  // payload, where the API reads `authorization` or `apiKey`.
  function connectionParams(headers) {
    const params = {};
    for (const [name, value] of Object.entries(headers || {})) {
      params[name.toLowerCase()] = value;
    }
    if (params.authorization === undefined && params["x-api-key"] !== undefined) {
      params.apiKey = params["x-api-key"];
    }
    return params;
  }

  function fetcher(params, options) {
    if (isSubscription(params, options)) {
      return baseFetcher(params, { ...options, headers: connectionParams(options.headers) });
    }
    return baseFetcher(params, options);
  }

  function LodestarGraphiQL() {
    const [query, setQuery] = React.useState(parameters.q || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.variables);
    const [headers, setHeaders] = React.useState(parameters.headers);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      query: query,
      variables: variables,
      headers: headers,
      onEditQuery: (value) => {
        setQuery(value);
        updateURL({ q: value });
      },
      onEditVariables: (value) => {
        setVariables(value);
        updateURL({ variables: value });
      },
      onEditHeaders: setHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(LodestarGraphiQL));
})();
