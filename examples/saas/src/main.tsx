//! Boot: the config and the session from the app's backend, then the app.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "@tollgate/react/styles.css";
import "../../shared/base.css";
import "./styles.css";
import { loadApp } from "../../shared/account";
import { App } from "./app";

const root = createRoot(document.getElementById("root")!);
loadApp().then(
  ({ config, user }) =>
    root.render(
      <StrictMode>
        <App config={config} initialUser={user} />
      </StrictMode>,
    ),
  (error: Error) =>
    root.render(
      <main>
        <p className="tg-error" role="alert">
          The app's backend did not answer: {error.message}
        </p>
      </main>,
    ),
);
