//! What every stage form shares. Without JavaScript a stage is a plain
//! `<form method="post" action="/if/flow/{slug}/?{query}">` whose inputs carry the wire field
//! names; the server answers it with the re-rendered page. Once hydrated, the same form is
//! submitted as JSON to the executor API and the next challenge is swapped in place.
//! Validation errors (`response_errors`) are rendered here too: under their field, or at the top
//! of the form for `non_field_errors` and fields the stage does not show.

use leptos::{ev::SubmitEvent, prelude::*};
use serde_json::Value;

use super::cookies::csrf_token;
use super::flow::FlowState;
use crate::protocol::{flow_page_url, FlowInfo, ResponseErrors, NON_FIELD_ERRORS};

/// What a stage component gets besides its own challenge body (the same for every stage).
#[derive(Clone)]
pub struct StageCx {
    pub flow: FlowState,
    pub errors: ResponseErrors,
    pub flow_info: Option<FlowInfo>,
}

impl StageCx {
    pub fn errors_for(&self, field: &str) -> Vec<String> {
        self.errors.for_field(field)
    }
}

/// The submitted fields of a form, in document order (a stage turns them into its typed
/// response).
#[derive(Clone, Debug, Default)]
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The last value sent under `name`, as a server reading the form would see it (this is
    /// what makes the hidden `remember_me=false` before the checkbox work).
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    #[cfg(feature = "hydrate")]
    pub fn from_form(form: &web_sys::HtmlFormElement) -> Self {
        use wasm_bindgen::JsCast;
        let Ok(data) = web_sys::FormData::new_with_form(form) else {
            return Self::default();
        };
        let Ok(Some(entries)) = js_sys::try_iter(&data) else {
            return Self::default();
        };
        let pairs = entries
            .flatten()
            .filter_map(|entry| {
                let pair = entry.dyn_into::<js_sys::Array>().ok()?;
                Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
            })
            .collect();
        Self(pairs)
    }
}

/// Turns the submitted fields into the stage's JSON response (with `component`).
pub type ToResponse = fn(&FormFields) -> Value;

/// The `<form>` of a stage: hidden `component` and `csrf_token`, errors that belong to no shown
/// field, then the stage's own inputs. `fields` lists the fields the stage renders errors for;
/// `dynamic_fields` adds names known only from the challenge (prompt fields).
#[component]
pub fn StageForm(
    stage: StageCx,
    component: &'static str,
    fields: &'static [&'static str],
    #[prop(optional)] dynamic_fields: Vec<String>,
    to_response: ToResponse,
    children: Children,
) -> impl IntoView {
    let action = flow_page_url(&stage.flow.slug, &stage.flow.query);
    let csrf = csrf_token().unwrap_or_default();
    let shown: Vec<&str> = fields
        .iter()
        .copied()
        .chain(dynamic_fields.iter().map(String::as_str))
        .collect();
    let top = form_level_errors(&stage.errors, &shown);
    let flow = stage.flow.clone();
    let on_submit = move |ev: SubmitEvent| flow.submit(ev, to_response);
    view! {
        <form class="stage-form" method="post" action=action on:submit=on_submit>
            <input type="hidden" name="component" value=component/>
            <input type="hidden" name="csrf_token" value=csrf/>
            {(!top.is_empty())
                .then(|| {
                    view! {
                        <div class="alert" role="alert" data-field-error=NON_FIELD_ERRORS>
                            {top.into_iter().map(|m| view! { <p>{m}</p> }).collect_view()}
                        </div>
                    }
                })}
            {children()}
        </form>
    }
}

fn form_level_errors(errors: &ResponseErrors, shown: &[&str]) -> Vec<String> {
    errors
        .0
        .iter()
        .filter(|(field, _)| !shown.contains(&field.as_str()))
        .flat_map(|(field, details)| {
            details.iter().map(move |d| {
                if field == NON_FIELD_ERRORS {
                    d.string.clone()
                } else {
                    format!("{field}: {}", d.string)
                }
            })
        })
        .collect()
}

/// The id of a field's error list (for `aria-describedby`).
pub fn error_id(field: &str) -> String {
    format!("{field}-error")
}

/// The errors of one field, announced as they appear.
#[component]
pub fn FieldErrors(#[prop(into)] field: String, messages: Vec<String>) -> impl IntoView {
    (!messages.is_empty()).then(|| {
        view! {
            <div class="field-error" id=error_id(&field) role="alert" data-field-error=field>
                {messages.into_iter().map(|m| view! { <p>{m}</p> }).collect_view()}
            </div>
        }
    })
}

/// A labelled input named like its wire field, with its errors underneath. `reveal` adds a
/// show/hide toggle for passwords (hidden by CSS until the page is hydrated).
#[component]
pub fn Field(
    name: &'static str,
    #[prop(into)] label: String,
    #[prop(default = "text")] kind: &'static str,
    autocomplete: &'static str,
    #[prop(optional, into)] value: String,
    #[prop(optional)] autofocus: bool,
    #[prop(optional)] reveal: bool,
    errors: Vec<String>,
) -> impl IntoView {
    let shown = RwSignal::new(false);
    let input_type = move || if shown.get() { "text" } else { kind };
    let invalid = !errors.is_empty();
    view! {
        <div class="field">
            <label for=name>{label}</label>
            <div class="input-row">
                <input
                    id=name
                    name=name
                    type=input_type
                    autocomplete=autocomplete
                    value=value
                    autofocus=autofocus
                    aria-invalid=invalid.then_some("true")
                    aria-describedby=invalid.then(|| error_id(name))
                />
                {reveal
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="reveal"
                                aria-controls=name
                                aria-pressed=move || if shown.get() { "true" } else { "false" }
                                on:click=move |_| shown.update(|s| *s = !*s)
                            >
                                {move || if shown.get() { "Hide" } else { "Show" }}
                            </button>
                        }
                    })}
            </div>
            <FieldErrors field=name messages=errors/>
        </div>
    }
}

/// The primary button; disabled while a response is in flight so nothing is sent twice.
#[component]
pub fn SubmitButton(#[prop(into)] label: String, flow: FlowState) -> impl IntoView {
    let busy = flow.busy;
    view! {
        <button
            type="submit"
            class="button primary"
            disabled=move || busy.get()
            aria-busy=move || busy.get().then_some("true")
        >
            {label}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_of_a_field_wins() {
        let fields = FormFields(vec![
            ("remember_me".into(), "false".into()),
            ("remember_me".into(), "true".into()),
        ]);
        assert_eq!(fields.get("remember_me").as_deref(), Some("true"));
        assert_eq!(fields.get("missing"), None);
    }

    #[test]
    fn errors_of_hidden_fields_go_to_the_top() {
        let mut errors = ResponseErrors::single(NON_FIELD_ERRORS, "Failed to authenticate.", "x");
        errors.add("uid_field", "shown inline", "x");
        errors.add("captcha_token", "Invalid captcha", "x");
        assert_eq!(
            form_level_errors(&errors, &["uid_field"]),
            vec!["captcha_token: Invalid captcha", "Failed to authenticate."]
        );
    }
}
