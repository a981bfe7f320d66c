// Loader for the operator console; the logic is Rust (wasm/baton_extension).
import init, { start_console } from "./wasm/baton_extension.js";

init().then(start_console);
