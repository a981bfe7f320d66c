// Loader for the content script; the logic is Rust (wasm/content/baton_extension).
// Content scripts are classic scripts, so this uses wasm-bindgen's
// no-modules glue, which defines the global `wasm_bindgen`.
wasm_bindgen({ module_or_path: chrome.runtime.getURL("wasm/content/baton_extension_bg.wasm") })
  .then(() => wasm_bindgen.start_content_script())
  .catch(() => {});
