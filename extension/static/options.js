// Loader for the options page; the logic is Rust (wasm/baton_extension).
import init, { start_options } from "./wasm/baton_extension.js";

init().then(start_options);
