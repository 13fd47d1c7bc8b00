//! Panics: on wasm32 a panic is a trap that Rust cannot catch, and inside an async handler it
//! leaves the request's promise pending for ever. The hook installed here tells the JavaScript
//! shell (`workers/shell.mjs`) first, so the shell answers every request in flight on this
//! instance with the contract's opaque 500; worker-build's own hook then schedules a fresh
//! instance for the next request.

use std::panic;
use std::sync::Once;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = globalThis, js_name = __tollgateOnPanic)]
    fn notify_shell(message: &str) -> Result<(), JsValue>;
}

/// Chains the shell notification after the hooks already installed (worker's logs the panic
/// and marks the instance for re-initialisation). Runs once per instance.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            previous(info);
            // Without the shell (a bare build) there is nobody to tell; the request then ends
            // as the runtime's own 500.
            let _ = notify_shell(&info.to_string());
        }));
    });
}
