// Loader for the service worker; the logic is Rust (wasm/baton_extension).
import init, { start_service_worker, on_connect, on_browser_event } from "./wasm/baton_extension.js";

// Chrome delivers the event that woke the worker only to listeners added
// synchronously, before the Wasm has loaded: hold those events until it has.
let ready = false;
const early = [];
chrome.runtime.onConnect.addListener((port) => (ready ? on_connect(port) : early.push(() => on_connect(port))));
// Listening for startup makes the worker (and so the host link) start with the browser.
chrome.runtime.onStartup.addListener(() => {});
chrome.runtime.onInstalled.addListener(() => {});

// Browser events capture and restore handle, passed on by name.
for (const name of [
  "tabs.onCreated", "tabs.onUpdated", "tabs.onRemoved", "tabs.onMoved", "tabs.onActivated",
  "tabs.onAttached", "tabs.onDetached", "windows.onCreated", "windows.onRemoved", "windows.onFocusChanged",
  "tabGroups.onUpdated", "tabGroups.onRemoved", "webNavigation.onCommitted",
  "webNavigation.onHistoryStateUpdated", "webNavigation.onReferenceFragmentUpdated", "runtime.onMessage", "storage.onChanged",
]) {
  const [api, event] = name.split(".");
  chrome[api]?.[event]?.addListener((...args) => {
    const forward = () => on_browser_event(name, args);
    ready ? forward() : early.push(forward);
  });
}

init().then(() => {
  start_service_worker();
  ready = true;
  early.splice(0).forEach((f) => f());
});
