//! The shared storage bindings and the probes `GET /health` reports on them.

use tollgate::{StorageCheck, StorageChecks};
use worker::Env;

/// The D1 database binding every worker shares.
pub const DB: &str = "DB";
/// The KV namespace binding (a cache only; D1 is the source of truth).
pub const CACHE: &str = "CACHE";
/// The R2 bucket binding.
pub const ASSETS: &str = "ASSETS";

/// Asks D1, KV and R2 one cheap question each; a missing binding counts as a failure.
pub async fn probe(env: &Env) -> StorageChecks {
    StorageChecks {
        d1: check(&probe_d1(env).await),
        kv: check(&probe_kv(env).await),
        r2: check(&probe_r2(env).await),
    }
}

fn check(outcome: &worker::Result<()>) -> StorageCheck {
    if outcome.is_ok() {
        StorageCheck::Ok
    } else {
        StorageCheck::Error
    }
}

async fn probe_d1(env: &Env) -> worker::Result<()> {
    env.d1(DB)?
        .prepare("SELECT 1 AS ok")
        .first::<serde_json::Value>(Some("ok"))
        .await?;
    Ok(())
}

async fn probe_kv(env: &Env) -> worker::Result<()> {
    env.kv(CACHE)?.get("health:probe").text().await?;
    Ok(())
}

async fn probe_r2(env: &Env) -> worker::Result<()> {
    env.bucket(ASSETS)?.head("health/probe").await?;
    Ok(())
}
