// Entry module of the `billing` worker: the Rust build inside the shared shell (../shell.mjs).
// The api worker forwards its checkout and subscription routes here over a service binding.
import RustWorker from "./build/index.js";
import { shell } from "../shell.mjs";

export default shell(RustWorker);
