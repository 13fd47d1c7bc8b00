//! `@tollgate/sdk`: the server client, the browser client, typed errors and the webhook verifier.

export { Tollgate, type TollgateOptions, type ForUser, type DownloadTarget } from "./server.js";
export { TollgateBrowser, type TollgateBrowserOptions, type EndUserTokenGrant } from "./browser.js";
export * from "./errors.js";
export { Webhook, WebhookVerificationError, constantTimeEqual, type WebhookEvent, type WebhookEventType, type WebhookEventData, type HeaderSource, type WebhookOptions } from "./webhooks.js";
export { newIdempotencyKey, backoffDelay, MAX_RETRY_AFTER_SECONDS, type TransportOptions, type RequestOptions } from "./transport.js";
export { parseEvents, type FollowOptions } from "./follow.js";
export type * from "./types.js";
export { FINAL_CHECKOUT_STATES } from "./types.js";
export type { paths, components, operations } from "./openapi.js";
