// Loader for the content script; the logic is Rust (wasm/content/baton_extension).
// Content scripts are classic scripts, so this uses wasm-bindgen's
// no-modules glue, which defines the global `wasm_bindgen`.
(() => {
  const report = (baton, e) =>
    chrome.runtime.sendMessage({ baton, reason: String((e && e.message) || e) }).catch(() => {});

  wasm_bindgen({ module_or_path: chrome.runtime.getURL("wasm/content/baton_extension_bg.wasm") }).then(
    () => {
      try {
        wasm_bindgen.start_content_script();
      } catch (e) {
        report("unavailable", e);
      }
    },
    // A page whose Content-Security-Policy lacks 'wasm-unsafe-eval' stops the
    // module from compiling even here. The worker then injects the same Rust
    // built as JavaScript (content_fallback.js); if that fails too, it reports
    // "unavailable" so the popup can say why.
    (e) => report("wasm_blocked", e),
  );
})();
