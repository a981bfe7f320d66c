// Loader for the popup; the logic is Rust (wasm/baton_extension).
import init, { start_popup } from "./wasm/baton_extension.js";

init().then(start_popup);
