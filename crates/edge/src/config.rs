//! Configuration read from a worker's bindings, parsed once per isolate into typed values.

use std::cell::OnceCell;
use worker::Env;

/// Where a worker runs. Development-only routes and controls exist only in `Development`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// Local runs and tests (`ENVIRONMENT=development`).
    Development,
    /// Anything deployed. Also the answer for a missing or unknown value, so a forgotten
    /// variable can never switch development routes on in a real deployment.
    Production,
}

impl Environment {
    /// Parses the `ENVIRONMENT` variable; only the exact word `development` enables it.
    #[must_use]
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("development") => Self::Development,
            _ => Self::Production,
        }
    }
}

/// The settings every worker reads.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The deployment environment.
    pub environment: Environment,
    /// Whether to log one line per request (`REQUEST_LOG=1`, honoured in development only:
    /// `npm start` asks for it, the tests and the bench do not).
    pub request_log: bool,
}

thread_local! {
    static READ: OnceCell<Config> = const { OnceCell::new() };
}

impl Config {
    /// The configuration in the worker's bindings.
    ///
    /// Read on an isolate's first request and kept: variables are fixed for a deployment and
    /// an isolate never outlives its deployment, while each read is a crossing into
    /// JavaScript on every request's path.
    #[must_use]
    pub fn from_env(env: &Env) -> Self {
        READ.with(|read| *read.get_or_init(|| Self::read(env)))
    }

    fn read(env: &Env) -> Self {
        let var = |name| env.var(name).ok().map(|v| v.to_string());
        let environment = Environment::parse(var("ENVIRONMENT").as_deref());
        Self {
            environment,
            request_log: environment == Environment::Development
                && var("REQUEST_LOG").as_deref() == Some("1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_word_development_enables_development() {
        assert_eq!(
            Environment::parse(Some("development")),
            Environment::Development
        );
        for other in [
            None,
            Some(""),
            Some("Development"),
            Some("dev"),
            Some("production"),
            Some(" development"),
        ] {
            assert_eq!(
                Environment::parse(other),
                Environment::Production,
                "{other:?}"
            );
        }
    }
}
