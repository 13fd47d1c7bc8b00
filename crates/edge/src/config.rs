//! Configuration read from a worker's bindings, parsed once per request into typed values.

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
}

impl Config {
    /// Reads the configuration from the worker's bindings.
    #[must_use]
    pub fn from_env(env: &Env) -> Self {
        let environment = env.var("ENVIRONMENT").ok().map(|v| v.to_string());
        Self {
            environment: Environment::parse(environment.as_deref()),
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
