// Loader for the content script's JavaScript build, for pages whose
// Content-Security-Policy forbids WebAssembly (see content.js). The worker
// injects it after wasm/content-js/baton_extension_asm.js (the Rust code,
// translated from Wasm at build time) and wasm/content-js/baton_extension.js
// (wasm-bindgen's glue, global `baton_content_js`).
(() => {
  try {
    baton_content_js.initFromAsm(baton_content_asm);
    baton_content_js.start_content_script();
  } catch (e) {
    chrome.runtime
      .sendMessage({ baton: "unavailable", reason: "JavaScript build: " + String((e && e.message) || e) })
      .catch(() => {});
  }
})();
