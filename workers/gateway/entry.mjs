// Entry module of the `gateway` worker: the Rust build inside the shared shell (../shell.mjs).
import RustWorker from "./build/index.js";
import { shell } from "../shell.mjs";

export default shell(RustWorker);
