//! Tollgate's pure core: the domain types, rules and wire contracts every worker shares.
//!
//! Nothing here touches the Workers runtime. Time and randomness come in as arguments or
//! through the small seams in [`ids`], so every rule runs natively under `cargo test` and
//! compiles unchanged for `wasm32-unknown-unknown`.

pub mod assets;
pub mod catalog;
pub mod checkout;
pub mod connect;
pub mod console;
pub mod contract;
pub mod customer_api;
pub mod customers;
pub mod dashboard;
pub mod download;
pub mod drift;
pub mod end_user;
pub mod gateway;
pub mod holds;
pub mod idempotency;
pub mod ids;
pub mod internal;
pub mod jwt;
pub mod keycache;
pub mod keys;
pub mod limits;
pub mod meter;
pub mod oidc;
pub mod operators;
pub mod outbound;
pub mod paging;
pub mod project;
pub mod refunds;
pub mod request_id;
pub mod routing;
pub mod settle;
pub mod stream_token;
pub mod stripe;
pub mod stripe_signature;
pub mod subscription;
pub mod usage;

pub use contract::{
    Detail, ErrorBody, ErrorCode, Health, HealthStatus, ListPage, StorageCheck, StorageChecks,
};
pub use keys::{ApiKey, KeyError, KeyKind, KeyStatus, Pepper};
pub use project::{Mode, ProjectName, ProjectType};
pub use request_id::RequestId;
pub use routing::{
    Match, Method, Params, Route, form_pairs, match_route, methods_for, query_pairs,
};
