//! `@tollgate/sdk/browser`: only what a page needs (the browser client and the errors), for a small bundle.

export { TollgateBrowser, type TollgateBrowserOptions, type EndUserTokenGrant } from "./browser.js";
export * from "./errors.js";
export type { FollowOptions } from "./follow.js";
export type * from "./types.js";
