//! What every page reads from the app: the config, the typed client and the fresh sign-in
//! gate that destructive writes pass through.
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";
import type { ConsoleConfig } from "./config";
import type { Api } from "./api/client";
import { ApiError } from "./api/errors";
import { freshSignIn } from "./auth/oidc";

interface AppContext {
  config: ConsoleConfig;
  api: Api;
  /** Runs a write; on `reauthentication_required` asks for a fresh sign-in, then retries once. */
  fresh: <T>(action: () => Promise<T>) => Promise<T>;
}

const Ctx = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("useApp outside AppProvider");
  return ctx;
}

interface Prompt {
  resolve: () => void;
  reject: (err: Error) => void;
}

export function AppProvider({ config, api, children }: { config: ConsoleConfig; api: Api; children: ReactNode }) {
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  const [error, setError] = useState<string | null>(null);
  const promptRef = useRef<Prompt | null>(null);

  const ask = useCallback(
    () =>
      new Promise<void>((resolve, reject) => {
        const p = { resolve, reject };
        promptRef.current = p;
        setError(null);
        setPrompt(p);
      }),
    [],
  );

  const fresh = useCallback(
    async <T,>(action: () => Promise<T>): Promise<T> => {
      try {
        return await action();
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== "reauthentication_required") throw err;
        await ask();
        return action();
      }
    },
    [ask],
  );

  const close = (fn: (p: Prompt) => void) => {
    const p = promptRef.current;
    promptRef.current = null;
    setPrompt(null);
    if (p) fn(p);
  };

  return (
    <Ctx.Provider value={{ config, api, fresh }}>
      {children}
      {prompt && (
        <div className="modal-backdrop">
          <div
            className="modal"
            role="dialog"
            aria-modal="true"
            aria-labelledby="reauth-title"
            onKeyDown={(e) => {
              if (e.key === "Escape") close((p) => p.reject(new Error("The action was cancelled: it needs a fresh sign-in.")));
            }}
          >
            <h2 id="reauth-title">Confirm it is you</h2>
            <p>This action needs a sign-in from the last few minutes. Sign in again in the window that opens; the action then runs once more.</p>
            {error && (
              <p className="error" role="alert">
                {error}
              </p>
            )}
            <div className="actions">
              <button
                type="button"
                className="primary"
                autoFocus
                onClick={() => {
                  freshSignIn(config).then(
                    () => close((p) => p.resolve()),
                    (err: unknown) => setError(err instanceof Error ? err.message : String(err)),
                  );
                }}
              >
                Sign in again
              </button>
              <button type="button" onClick={() => close((p) => p.reject(new Error("The action was cancelled: it needs a fresh sign-in.")))}>
                Cancel
              </button>
            </div>
          </div>
        </div>
      )}
    </Ctx.Provider>
  );
}
