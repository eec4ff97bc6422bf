//! The one-time-code input shared by TOTP set-up and authenticator validation: named `code` like
//! the wire field, `autocomplete=one-time-code` so phones offer a received code, and numeric
//! keyboards for TOTP codes (recovery codes are letters and digits).

use leptos::prelude::*;

use crate::ui::form::FieldErrors;

#[component]
pub fn CodeInput(
    #[prop(into)] label: String,
    /// Digits only (TOTP): numeric keyboard, and the browser refuses other characters.
    numeric: bool,
    errors: Vec<String>,
) -> impl IntoView {
    let invalid = !errors.is_empty();
    view! {
        <div class="field">
            <label for="code">{label}</label>
            <div class="input-row">
                <input
                    id="code"
                    name="code"
                    type="text"
                    inputmode=numeric.then_some("numeric")
                    pattern=numeric.then_some("[0-9 ]+")
                    autocomplete="one-time-code"
                    spellcheck="false"
                    autocapitalize="off"
                    required
                    autofocus
                    aria-invalid=invalid.then_some("true")
                    aria-describedby=invalid.then_some("code-error")
                />
            </div>
            <FieldErrors field="code" messages=errors/>
        </div>
    }
}
