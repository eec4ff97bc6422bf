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

/// The code step of a set-up whose codes are sent (email, SMS): the code, then a second form
/// that asks for a new one. The children say where the code went; `to_code` and `to_resend` build
/// the stage's two responses.
#[component]
pub fn SentCodeStep(
    stage: crate::ui::form::StageCx,
    component: &'static str,
    /// Every field the stage reports errors for (listed by the resend form, so errors show
    /// once).
    all_fields: &'static [&'static str],
    /// `data-testid` prefix: `<prefix>-code-help` and `<prefix>-resend`.
    testid: &'static str,
    code_label: &'static str,
    to_code: crate::ui::form::ToResponse,
    to_resend: crate::ui::form::ToResponse,
    children: Children,
) -> impl IntoView {
    use crate::ui::form::{StageForm, SubmitButton};
    let flow = stage.flow.clone();
    let busy = flow.busy;
    let errors = stage.errors_for("code");
    view! {
        <p class="stage-message" data-testid=format!("{testid}-code-help")>
            {children()}
        </p>
        <StageForm stage=stage.clone() component fields=&["code"] to_response=to_code>
            <CodeInput label=code_label numeric=true errors/>
            <SubmitButton label="Continue" flow=flow/>
        </StageForm>
        <StageForm stage component fields=all_fields to_response=to_resend>
            <button
                type="submit"
                class="button"
                data-testid=format!("{testid}-resend")
                disabled=move || busy.get()
            >
                "Send a new code"
            </button>
        </StageForm>
    }
}
