// Loader for the service worker; the logic is Rust (wasm/baton_extension).
import init, { start_service_worker, on_connect } from "./wasm/baton_extension.js";

// Chrome delivers the event that woke the worker only to listeners added
// synchronously, before the Wasm has loaded: hold those ports until it has.
let ready = false;
const early = [];
chrome.runtime.onConnect.addListener((port) => (ready ? on_connect(port) : early.push(port)));
// Listening for startup makes the worker (and so the host link) start with the browser.
chrome.runtime.onStartup.addListener(() => {});
chrome.runtime.onInstalled.addListener(() => {});

init().then(() => {
  start_service_worker();
  ready = true;
  early.splice(0).forEach(on_connect);
});
