//! WASM entry point of the admin interface: hydrate the server-rendered `/if/admin/` page.

// The admin pages' view types are deep; computing their layouts needs more than 128.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::admin::AdminApp);
    // Marker for end-to-end tests: the admin bundle ran and hydration finished.
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
