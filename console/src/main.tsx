//! Boot: a popup hands its answer to the opener and closes; otherwise load the config,
//! finish a sign-in coming back from the issuer, and mount the app.
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router";
import { loadConfig, type ConsoleConfig } from "./config";
import { createApi } from "./api/client";
import { ApiError } from "./api/errors";
import { beginSignIn, completeSignIn, relayPopupCallback } from "./auth/oidc";
import { useSession } from "./auth/session";
import { AppProvider } from "./app";
import { createRouter } from "./routes";
import { relayStripePopup } from "./pages/stripe";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);

function Message({ title, children }: { title: string; children?: React.ReactNode }) {
  return (
    <main className="centered">
      <h1>{title}</h1>
      {children}
    </main>
  );
}

function SignIn({ config, error: initial }: { config: ConsoleConfig; error: string | null }) {
  const [error, setError] = useState(initial);
  return (
    <main className="centered signin">
      <h1>Tollgate console</h1>
      <p>Sign in with your developer account to manage projects, keys, catalog and webhooks.</p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button
        type="button"
        className="primary"
        onClick={() => {
          const here = window.location.pathname + window.location.search;
          const returnTo = here.startsWith(config.redirectPath) ? "/console/" : here;
          beginSignIn(config, returnTo).catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
        }}
      >
        Sign in
      </button>
      {config.environment !== "production" && <p className="muted small">Environment: {config.environment}</p>}
    </main>
  );
}

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      refetchOnWindowFocus: false,
      // A 4xx will not change by asking again; a network blip or 5xx may.
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
      staleTime: 5_000,
    },
  },
});

function Root({ config, error }: { config: ConsoleConfig; error: string | null }) {
  const session = useSession();
  if (!session) return <SignIn config={config} error={error} />;
  return <RouterProvider router={router!} />;
}

let router: ReturnType<typeof createRouter> | null = null;

async function boot() {
  if (relayPopupCallback() || relayStripePopup()) {
    root.render(<Message title="Done">This window closes by itself.</Message>);
    return;
  }
  let config: ConsoleConfig;
  try {
    config = await loadConfig();
  } catch (err) {
    root.render(<Message title="The console could not start">{String(err instanceof Error ? err.message : err)}</Message>);
    return;
  }
  let error: string | null = null;
  if (window.location.pathname === config.redirectPath) {
    try {
      const returnTo = await completeSignIn(config);
      window.history.replaceState(null, "", returnTo);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      window.history.replaceState(null, "", "/console/");
    }
  }
  const api = createApi(config);
  router = createRouter();
  root.render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <AppProvider config={config} api={api}>
          <Root config={config} error={error} />
        </AppProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}

void boot();
