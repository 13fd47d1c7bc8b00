//! The Stripe client's pure half: what a call looks like on the wire, what comes back, and how
//! Stripe's failures become ours.
//!
//! The glue (`tollgate-edge`) only sends a [`calls::Call`] and hands the answer to
//! [`calls::Call::parse`]; every rule about encoding, idempotency and error mapping lives here
//! and is tested natively.

pub mod calls;
pub mod error;
pub mod events;
pub mod form;
pub mod objects;

/// The Stripe API version Tollgate speaks (sent as `Stripe-Version`): the one the official
/// SDK pinned in `package.json` targets, whose shapes `objects` reads and the sandbox serves.
pub const API_VERSION: &str = "2026-10-28.endive";

pub use calls::{Call, HttpVerb};
pub use error::{ProviderError, ProviderErrorKind};
pub use form::Form;
