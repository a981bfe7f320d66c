// Loader for the content script; the logic is Rust (wasm/content/baton_extension).
// Content scripts are classic scripts, so this uses wasm-bindgen's
// no-modules glue, which defines the global `wasm_bindgen`.
wasm_bindgen({ module_or_path: chrome.runtime.getURL("wasm/content/baton_extension_bg.wasm") })
  .then(() => wasm_bindgen.start_content_script())
  // A page whose Content-Security-Policy lacks 'wasm-unsafe-eval' stops the
  // module from compiling even here: tell the worker, so it can say why.
  .catch((e) =>
    chrome.runtime
      .sendMessage({ baton: "unavailable", reason: String((e && e.message) || e) })
      .catch(() => {}),
  );
