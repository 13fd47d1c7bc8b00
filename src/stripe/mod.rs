//! The Stripe client's pure half: what a call looks like on the wire, what comes back, and how
//! Stripe's failures become ours.
//!
//! The glue (`tollgate-edge`) only sends a [`calls::Call`] and hands the answer to
//! [`calls::Call::parse`]; every rule about encoding, idempotency and error mapping lives here
//! and is tested natively.

pub mod calls;
pub mod error;
pub mod form;
pub mod objects;

pub use calls::{Call, HttpVerb};
pub use error::{ProviderError, ProviderErrorKind};
pub use form::Form;
