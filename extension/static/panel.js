// Loader for the panel; the logic is Rust (wasm/baton_extension).
import init, { start_panel } from "./wasm/baton_extension.js";

init().then(start_panel);
