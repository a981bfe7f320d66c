// Loader for a pushed app's frame; the logic is Rust (wasm/baton_extension).
import init, { start_app } from "./wasm/baton_extension.js";

init().then(start_app);
