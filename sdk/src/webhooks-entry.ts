//! `@tollgate/sdk/webhooks`: the delivery verifier alone.

export * from "./webhooks.js";
