//! Worker glue: everything that touches the Workers runtime and is shared by the workers.
//!
//! This is the only library besides the worker crates that depends on `worker`. It owns the
//! request pipeline ([`serve`]), the single mapping from errors to HTTP ([`ApiError`]),
//! configuration read from bindings ([`Config`]), storage probes and structured logs.

pub mod assets;
pub mod audit;
pub mod body;
pub mod config;
pub mod crypto;
pub mod db;
pub mod dev_issuer;
pub mod developer;
pub mod error;
pub mod forward;
pub mod idempotent;
pub mod keyauth;
pub mod lanes;
pub mod limits;
pub mod list;
pub mod log;
pub mod meter;
pub mod outbound;
pub mod panic;
pub mod ratelimit;
pub mod revoke;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod storage;
pub mod stripe;
pub mod subscription;
pub mod views;

pub use config::{Config, Environment};
pub use error::ApiError;
pub use serve::{Cors, Ctx, HealthProbe, WorkerSpec, json, json_text, now_ms, serve};
