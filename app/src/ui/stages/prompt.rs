//! `ak-stage-prompt`: the stage's prompt fields, each with the input its type calls for, its
//! label, hint (`sub_text`) and errors.
//!
//! Without JavaScript the form posts plain `key=value` pairs; a hidden [`PROMPT_TYPES_FIELD`]
//! tells [`prompt_form_response`] each field's type, so the server (and, once hydrated, the
//! browser) turns the pairs into the JSON authentik's API takes: booleans for checkboxes,
//! integers for numbers, nothing for fields left empty. Files are read into `data:` URIs in the
//! browser; without JavaScript a file cannot be sent.

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::protocol::{component::PROMPT, PromptChallenge, PromptField};
use crate::ui::form::{error_id, FieldErrors, FormFields, StageCx, StageForm, SubmitButton};

/// The hidden form field carrying `{field_key: type}` for the form conversion (never sent on).
pub const PROMPT_TYPES_FIELD: &str = "_keyflow_prompt_types";

/// Languages offered by `ak-locale` fields (`""`: the browser's own).
const LOCALES: &[(&str, &str)] = &[
    ("", "Auto-detect (based on your browser)"),
    ("en", "English"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("fr", "Français"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
    ("pt", "Português"),
    ("tr", "Türkçe"),
    ("zh-Hans", "简体中文"),
];

#[component]
pub fn PromptStage(challenge: PromptChallenge, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let keys: Vec<String> = challenge
        .fields
        .iter()
        .map(|f| f.field_key.clone())
        .collect();
    let types: Map<String, Value> = challenge
        .fields
        .iter()
        .map(|f| (f.field_key.clone(), Value::String(f.kind.clone())))
        .collect();
    let types = Value::Object(types).to_string();
    let first_input = challenge.fields.iter().position(|f| takes_input(&f.kind));
    let inputs = challenge
        .fields
        .into_iter()
        .enumerate()
        .map(|(index, field)| {
            let errors = stage.errors_for(&field.field_key);
            prompt_input(field, errors, first_input == Some(index))
        })
        .collect_view();
    view! {
        <div class="stage" data-component=PROMPT>
            <StageForm
                stage=stage.clone()
                component=PROMPT
                fields=&[]
                dynamic_fields=keys
                to_response=prompt_form_response
            >
                <input type="hidden" name=PROMPT_TYPES_FIELD value=types/>
                {inputs}
                <SubmitButton label="Continue" flow=flow/>
            </StageForm>
        </div>
    }
}

/// Types the person types or picks into (not separators, hidden or static text).
fn takes_input(kind: &str) -> bool {
    !matches!(
        kind,
        "separator" | "hidden" | "static" | "text_read_only" | "text_area_read_only"
    )
}

fn input_id(key: &str) -> String {
    format!("prompt-{key}")
}

fn hint_id(key: &str) -> String {
    format!("prompt-{key}-hint")
}

/// `aria-describedby`: the hint and the errors, when there are any.
fn described_by(field: &PromptField, invalid: bool) -> Option<String> {
    let mut ids = Vec::new();
    if !field.sub_text.is_empty() {
        ids.push(hint_id(&field.field_key));
    }
    if invalid {
        ids.push(error_id(&field.field_key));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// `datetime-local` inputs take `YYYY-MM-DDThh:mm[:ss]`, without an offset.
fn local_datetime(value: &str) -> String {
    let trimmed = value.trim_end_matches('Z');
    let cut = trimmed
        .char_indices()
        .skip(19)
        .find(|(_, c)| matches!(c, '+' | '-' | '.'))
        .map_or(trimmed.len(), |(i, _)| i);
    trimmed[..cut].to_owned()
}

/// One prompt field: label, input, hint and errors.
fn prompt_input(field: PromptField, errors: Vec<String>, autofocus: bool) -> AnyView {
    let key = field.field_key.clone();
    let id = input_id(&key);
    let invalid = !errors.is_empty();
    let described = described_by(&field, invalid);
    let aria_invalid = invalid.then_some("true");
    let hint = (!field.sub_text.is_empty()).then(|| {
        view! { <p class="hint" id=hint_id(&key)>{field.sub_text.clone()}</p> }
    });
    let required = field.required;
    let label = field.label.clone();
    let placeholder = field.placeholder.clone();
    let value = field.initial_value.clone();
    let text_input = |kind: &'static str, autocomplete: &'static str| {
        view! {
            <input
                id=id.clone()
                name=key.clone()
                type=kind
                autocomplete=autocomplete
                placeholder=placeholder.clone()
                value=value.clone()
                required=required
                autofocus=autofocus
                aria-invalid=aria_invalid
                aria-describedby=described.clone()
            />
        }
        .into_any()
    };
    let control = match field.kind.as_str() {
        "text" => text_input("text", "off"),
        "username" => text_input("text", "username"),
        "email" => text_input("email", "email"),
        "password" => text_input("password", "new-password"),
        "number" => text_input("number", "off"),
        "date" => text_input("date", "off"),
        "date-time" => view! {
            <input
                id=id.clone()
                name=key.clone()
                type="datetime-local"
                value=local_datetime(&value)
                required=required
                autofocus=autofocus
                aria-invalid=aria_invalid
                aria-describedby=described.clone()
            />
        }
        .into_any(),
        "text_read_only" => view! {
            <input
                id=id.clone()
                name=key.clone()
                type="text"
                readonly
                value=value.clone()
                aria-describedby=described.clone()
            />
        }
        .into_any(),
        "text_area" | "text_area_read_only" => {
            let readonly = field.kind == "text_area_read_only";
            view! {
                <textarea
                    id=id.clone()
                    name=key.clone()
                    placeholder=placeholder.clone()
                    readonly=readonly
                    required=required && !readonly
                    autofocus=autofocus
                    aria-invalid=aria_invalid
                    aria-describedby=described.clone()
                >
                    {value.clone()}
                </textarea>
            }
            .into_any()
        }
        "checkbox" => {
            let checked = matches!(value.as_str(), "True" | "true" | "on" | "1");
            // An unticked box sends nothing: the hidden "false" comes first, a ticked box's
            // "true" after it wins.
            return view! {
                <div class="field checkbox" data-prompt-type="checkbox">
                    <input type="hidden" name=key.clone() value="false"/>
                    <input
                        type="checkbox"
                        id=id.clone()
                        name=key.clone()
                        value="true"
                        checked=checked
                        autofocus=autofocus
                        aria-invalid=aria_invalid
                        aria-describedby=described.clone()
                    />
                    <label for=id.clone()>{label}</label>
                    {hint}
                    <FieldErrors field=key messages=errors/>
                </div>
            }
            .into_any();
        }
        "radio-button-group" => {
            let options = field
                .choices
                .clone()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, choice)| {
                    let option_id = format!("{id}-{i}");
                    let checked = choice.value == value;
                    view! {
                        <div class="radio">
                            <input
                                type="radio"
                                id=option_id.clone()
                                name=key.clone()
                                value=choice.value
                                checked=checked
                                required=required
                                autofocus=autofocus && i == 0
                            />
                            <label for=option_id>{choice.label}</label>
                        </div>
                    }
                })
                .collect_view();
            return view! {
                <fieldset
                    class="field radio-group"
                    data-prompt-type="radio-button-group"
                    aria-invalid=aria_invalid
                    aria-describedby=described
                >
                    <legend>{label}</legend>
                    {options}
                    {hint}
                    <FieldErrors field=key messages=errors/>
                </fieldset>
            }
            .into_any();
        }
        "dropdown" => {
            let options = field
                .choices
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|choice| {
                    let selected = choice.value == value;
                    view! { <option value=choice.value selected=selected>{choice.label}</option> }
                })
                .collect_view();
            view! {
                <select
                    id=id.clone()
                    name=key.clone()
                    required=required
                    autofocus=autofocus
                    aria-invalid=aria_invalid
                    aria-describedby=described.clone()
                >
                    {options}
                </select>
            }
            .into_any()
        }
        "ak-locale" => {
            let options = LOCALES
                .iter()
                .map(|(code, name)| {
                    let selected = *code == value;
                    view! { <option value=*code selected=selected>{*name}</option> }
                })
                .collect_view();
            view! {
                <select
                    id=id.clone()
                    name=key.clone()
                    autocomplete="language"
                    autofocus=autofocus
                    aria-invalid=aria_invalid
                    aria-describedby=described.clone()
                >
                    {options}
                </select>
            }
            .into_any()
        }
        "file" => file_input(&key, &id, &value, required, autofocus, described.clone()),
        "separator" => {
            return view! {
                <div class="separator" role="separator" data-prompt-type="separator">
                    <span>{label}</span>
                    {hint}
                </div>
            }
            .into_any();
        }
        "hidden" => {
            return view! { <input type="hidden" name=key value=value/> }.into_any();
        }
        "static" => {
            return view! {
                <div class="static-text" data-prompt-type="static">
                    <p>{value}</p>
                    {hint}
                </div>
            }
            .into_any();
        }
        // A type this client does not know: a plain text box, so the flow can go on.
        _ => text_input("text", "off"),
    };
    view! {
        <div class="field" data-prompt-type=field.kind.clone()>
            <label for=id>{label}</label>
            {control}
            {hint}
            <FieldErrors field=key messages=errors/>
        </div>
    }
    .into_any()
}

/// A file picker (unnamed, so its file is never posted) and the hidden `data:` URI it fills.
fn file_input(
    key: &str,
    id: &str,
    value: &str,
    required: bool,
    autofocus: bool,
    described: Option<String>,
) -> AnyView {
    let data_uri: NodeRef<leptos::html::Input> = NodeRef::new();
    let on_change = move |ev: leptos::ev::Event| read_file_into(ev, data_uri);
    view! {
        <input
            type="file"
            id=id.to_owned()
            required=required && value.is_empty()
            autofocus=autofocus
            aria-describedby=described
            on:change=on_change
        />
        <input type="hidden" name=key.to_owned() value=value.to_owned() node_ref=data_uri/>
    }
    .into_any()
}

/// Reads the chosen file as a `data:` URI into the hidden input.
fn read_file_into(ev: leptos::ev::Event, target: NodeRef<leptos::html::Input>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        let Some(file) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        let Ok(reader) = web_sys::FileReader::new() else {
            return;
        };
        let done = reader.clone();
        let on_load = Closure::once_into_js(move || {
            if let (Some(uri), Some(input)) =
                (done.result().ok().and_then(|r| r.as_string()), target.get())
            {
                input.set_value(&uri);
            }
        });
        reader.set_onload(Some(on_load.unchecked_ref()));
        let _ = reader.read_as_data_url(&file);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, target);
}

/// The prompt response from a submitted form: one key per field named in
/// [`PROMPT_TYPES_FIELD`], typed for its prompt type. Fields left empty that are not text are
/// left out (so "required" is what the server reports); values that do not parse are sent as
/// the text they are, for the server to reject with the right message.
pub fn prompt_form_response(fields: &FormFields) -> Value {
    let types: Map<String, Value> = fields
        .get(PROMPT_TYPES_FIELD)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut body = Map::new();
    body.insert("component".into(), Value::String(PROMPT.into()));
    for (key, kind) in types {
        let Some(sent) = fields.get(&key) else {
            continue;
        };
        let value = match kind.as_str().unwrap_or_default() {
            "checkbox" => Value::Bool(sent == "true" || sent == "on"),
            "hidden" | "static" | "separator" => continue,
            "number" => match sent.trim() {
                "" => continue,
                number => number
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(sent.clone()), Value::from),
            },
            "date" | "date-time" | "file" | "radio-button-group" | "dropdown"
                if sent.is_empty() =>
            {
                continue
            }
            _ => Value::String(sent),
        };
        body.insert(key, value);
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> FormFields {
        FormFields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn form_pairs_become_typed_json() {
        let types = json!({
            "name": "text", "age": "number", "terms": "checkbox", "news": "checkbox",
            "born": "date", "color": "dropdown", "ref": "hidden", "bio": "text_area",
            "bad": "number"
        })
        .to_string();
        let fields = form(&[
            ("component", PROMPT),
            ("csrf_token", "t"),
            (PROMPT_TYPES_FIELD, &types),
            ("name", " Ann "),
            ("age", "30"),
            ("terms", "false"),
            ("terms", "true"),
            ("news", "false"),
            ("born", ""),
            ("color", "red"),
            ("ref", "forged"),
            ("bio", ""),
            ("bad", "3x"),
            ("unlisted", "x"),
        ]);
        assert_eq!(
            prompt_form_response(&fields),
            json!({
                "component": PROMPT, "name": " Ann ", "age": 30, "terms": true, "news": false,
                "color": "red", "bio": "", "bad": "3x"
            })
        );
    }

    #[test]
    fn without_the_type_list_only_the_component_is_sent() {
        let fields = form(&[("component", PROMPT), ("name", "x")]);
        assert_eq!(prompt_form_response(&fields), json!({"component": PROMPT}));
    }

    #[test]
    fn datetime_local_values_drop_offset_and_fraction() {
        assert_eq!(
            local_datetime("2024-01-02T03:04:05Z"),
            "2024-01-02T03:04:05"
        );
        assert_eq!(
            local_datetime("2024-01-02T03:04:05.123+02:00"),
            "2024-01-02T03:04:05"
        );
        assert_eq!(local_datetime("2024-01-02T03:04"), "2024-01-02T03:04");
        assert_eq!(local_datetime(""), "");
    }
}
