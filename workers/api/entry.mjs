// Entry module of the `api` worker: the Rust build inside the shared shell (../shell.mjs), and
// the Durable Object class it defines (CheckoutPush: live checkout status, see src/push.rs).
import RustWorker from "./build/index.js";
import { shell } from "../shell.mjs";

export { CheckoutPush } from "./build/index.js";
export default shell(RustWorker);
