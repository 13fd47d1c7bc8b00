// Entry module of the `meter` worker: the Rust build inside the shared shell (../shell.mjs),
// and the Durable Object classes it defines: Meter (one end user's exact counter, see
// src/counter.rs) and CheckoutPush (live checkout status, see src/push.rs). The api and
// webhooks workers bind both by script name, so neither class costs them any wasm.
import RustWorker from "./build/index.js";
import { shell } from "../shell.mjs";

export { CheckoutPush, Meter } from "./build/index.js";
export default shell(RustWorker);
