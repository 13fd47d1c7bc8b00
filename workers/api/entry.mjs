// Entry module of the `api` worker: the Rust build inside the shared shell (../shell.mjs), and
// nothing else: its Durable Objects live in the meter worker.
import RustWorker from "./build/index.js";
import { shell } from "../shell.mjs";

export default shell(RustWorker);
