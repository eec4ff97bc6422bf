//! A form over a JSON object's fields, described by [`FormField`]s: the typed configuration of a
//! policy or stage kind, edited field by field (text, numbers, switches, choices, references to
//! other objects, lists, durations, write-only secrets, code). The values live in one signal holding the object, so saving sends exactly
//! what the form shows; errors appear under each field by its API name.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::widgets::{FieldError, FormError};

/// How a field is edited. The server's stage forms name these in snake case
/// (`"multi_choice"`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    /// Several lines of text.
    LongText,
    /// Python code (monospace, tab inserts spaces, line numbers).
    Code,
    Integer,
    /// A decimal number.
    Number,
    Switch,
    /// One of [`FormField::choices`].
    Choice,
    /// Any of [`FormField::choices`] (a JSON array of the chosen values).
    MultiChoice,
    /// The pk of one object of [`FormField::collection`]; the page fills the choices.
    Reference,
    /// The pks of objects of [`FormField::collection`] (a JSON array).
    References,
    /// Free text values, one per line (a JSON array of strings).
    List,
    /// authentik's duration text, e.g. `hours=1;minutes=30`.
    Duration,
    /// Write-only: never shown; left empty, the stored value is kept.
    Secret,
    /// A JSON object, edited as text (text that is no JSON is sent as text, for the server
    /// to name the field).
    Json,
}

/// One field of a kind's configuration: a policy kind's table, or a stage kind's form as the
/// server derives it from the kind's typed configuration
/// (`GET /api/v3/stages/<kind>/form/`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormField {
    /// The API field name.
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub help: String,
    /// `(value, label)` pairs of a choice; for references, filled by the page.
    #[serde(default)]
    pub choices: Vec<(String, String)>,
    /// The collection a reference points into (`flows/instances`, `stages/password`, …).
    #[serde(default)]
    pub collection: Option<String>,
    /// Whether "none" (`null`) is allowed.
    #[serde(default)]
    pub nullable: bool,
}

impl FormField {
    pub fn new(key: &str, label: &str, kind: FieldKind) -> Self {
        Self {
            key: key.to_owned(),
            label: label.to_owned(),
            kind,
            help: String::new(),
            choices: Vec::new(),
            collection: None,
            nullable: false,
        }
    }

    pub fn help(mut self, help: &str) -> Self {
        self.help = help.to_owned();
        self
    }
}

/// A kind's whole form: its fields in display order and the values a new object starts with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FormDescriptor {
    pub fields: Vec<FormField>,
    #[serde(default)]
    pub defaults: Map<String, Value>,
}

/// The text an input shows for `value`.
fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| text_of(Some(item)))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
    }
}

/// The values of an array field (strings; other values as their JSON text).
fn items_of(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().map(|item| text_of(Some(item))).collect(),
        _ => Vec::new(),
    }
}

/// The value to store for `text` typed into a field of `kind` (numbers that do not parse are
/// sent as text, so the server names the field in its error; an empty nullable choice is
/// `null`).
fn value_of(field: &FormField, text: String) -> Value {
    match field.kind {
        FieldKind::Integer => text
            .trim()
            .parse::<i64>()
            .map_or(Value::String(text), Value::from),
        FieldKind::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(text), Value::Number),
        FieldKind::Choice | FieldKind::Reference | FieldKind::Text
            if field.nullable && text.is_empty() =>
        {
            Value::Null
        }
        FieldKind::Json => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        FieldKind::List => Value::Array(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| Value::String(line.to_owned()))
                .collect(),
        ),
        _ => Value::String(text),
    }
}

/// Every field of `fields`, bound to `values`. `id_prefix` keeps ids unique on the page.
#[component]
pub fn ConfigFields(
    fields: Vec<FormField>,
    values: RwSignal<Map<String, Value>>,
    error: FormError,
    #[prop(into)] id_prefix: String,
) -> impl IntoView {
    fields
        .into_iter()
        .map(|spec| view! { <ConfigField spec values error id_prefix=id_prefix.clone()/> })
        .collect_view()
}

#[component]
fn ConfigField(
    spec: FormField,
    values: RwSignal<Map<String, Value>>,
    error: FormError,
    id_prefix: String,
) -> impl IntoView {
    let key = StoredValue::new(spec.key.clone());
    let field_key = spec.key.clone();
    let id = format!("{id_prefix}{}", spec.key);
    let error_id = format!("{id}-error");
    let current = move || values.with(|v| key.with_value(|k| text_of(v.get(k))));
    let kind = spec.kind;
    let spec = StoredValue::new(spec);
    let set = move |text: String| {
        let value = spec.with_value(|f| value_of(f, text));
        values.update(|v| {
            v.insert(key.get_value(), value);
        })
    };
    let (label, help_text) = spec.with_value(|f| (f.label.clone(), f.help.clone()));
    let help = (!help_text.is_empty()).then(|| view! { <p class="help">{help_text}</p> });
    let input = match kind {
        FieldKind::Switch => {
            return view! {
                <div class="form-row checkbox">
                    <input
                        id=id.clone()
                        type="checkbox"
                        name=field_key.clone()
                        prop:checked=move || values.with(|v| key.with_value(|k| v.get(k).and_then(Value::as_bool).unwrap_or(false)))
                        on:change=move |ev| {
                            let checked = event_target_checked(&ev);
                            values.update(|v| {
                                v.insert(key.get_value(), Value::Bool(checked));
                            });
                        }
                    />
                    <label for=id.clone()>{label}</label>
                    {help}
                    <FieldError error field=field_key id/>
                </div>
            }
            .into_any();
        }
        FieldKind::MultiChoice | FieldKind::References => {
            let choices = spec.with_value(|f| f.choices.clone());
            return view! {
                <fieldset class="form-row choice-set" id=id.clone() aria-describedby=error_id.clone()>
                    <legend>{label}</legend>
                    {choices
                        .into_iter()
                        .enumerate()
                        .map(|(n, (value, text))| {
                            let option_id = format!("{id}-{n}");
                            let stored = StoredValue::new(value);
                            view! {
                                <label class="choice" for=option_id.clone()>
                                    <input
                                        id=option_id.clone()
                                        type="checkbox"
                                        value=stored.get_value()
                                        prop:checked=move || values.with(|v| key.with_value(|k| items_of(v.get(k)).contains(&stored.get_value())))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            values.update(|v| {
                                                let k = key.get_value();
                                                let mut items = items_of(v.get(&k));
                                                let value = stored.get_value();
                                                items.retain(|item| *item != value);
                                                if on {
                                                    items.push(value);
                                                }
                                                v.insert(k, Value::Array(items.into_iter().map(Value::String).collect()));
                                            });
                                        }
                                    />
                                    {text}
                                </label>
                            }
                        })
                        .collect_view()}
                    {help}
                    <FieldError error field=field_key id=id.clone()/>
                </fieldset>
            }
            .into_any();
        }
        FieldKind::Json => view! {
            <textarea
                id=id.clone()
                name=field_key.clone()
                class="code"
                rows="3"
                spellcheck="false"
                aria-describedby=error_id.clone()
                prop:value=current
                on:input=move |ev| set(event_target_value(&ev))
            ></textarea>
        }
        .into_any(),
        FieldKind::Code => view! { <CodeArea id=id.clone() value=Signal::derive(current) on_input=Callback::new(set) error_id=error_id.clone()/> }.into_any(),
        FieldKind::LongText | FieldKind::List => view! {
            <textarea
                id=id.clone()
                name=field_key.clone()
                rows="3"
                aria-describedby=error_id.clone()
                prop:value=current
                on:input=move |ev| set(event_target_value(&ev))
            ></textarea>
        }
        .into_any(),
        FieldKind::Choice | FieldKind::Reference => {
            let (choices, nullable) = spec.with_value(|f| (f.choices.clone(), f.nullable));
            let empty = if nullable { "— none —" } else { "Choose…" };
            view! {
                <select
                    id=id.clone()
                    name=field_key.clone()
                    aria-describedby=error_id.clone()
                    prop:value=current
                    on:change=move |ev| set(event_target_value(&ev))
                >
                    <option value="" disabled=!nullable selected=move || current().is_empty()>{empty}</option>
                    {choices
                        .into_iter()
                        .map(|(v, l)| {
                            let value = StoredValue::new(v);
                            view! { <option value=value.get_value() selected=move || current() == value.get_value()>{l}</option> }
                        })
                        .collect_view()}
                </select>
            }
            .into_any()
        }
        FieldKind::Secret => view! {
            <input
                id=id.clone()
                name=field_key.clone()
                type="password"
                autocomplete="new-password"
                placeholder="Unchanged unless you type a new one"
                aria-describedby=error_id.clone()
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    values.update(|v| {
                        if text.is_empty() {
                            v.remove(&key.get_value());
                        } else {
                            v.insert(key.get_value(), Value::String(text));
                        }
                    });
                }
            />
        }
        .into_any(),
        FieldKind::Text | FieldKind::Integer | FieldKind::Number | FieldKind::Duration => view! {
            <input
                id=id.clone()
                name=field_key.clone()
                type=match kind {
                    FieldKind::Integer | FieldKind::Number => "number",
                    _ => "text",
                }
                step=(kind == FieldKind::Number).then_some("any")
                aria-describedby=error_id.clone()
                prop:value=current
                on:input=move |ev| set(event_target_value(&ev))
            />
        }
        .into_any(),
    };
    view! {
        <div class="form-row">
            <label for=id.clone()>{label}</label>
            {input}
            {help}
            <FieldError error field=field_key id/>
        </div>
    }
    .into_any()
}

/// A code editor area: monospace, line numbers beside it, Tab indents by four spaces.
#[component]
pub fn CodeArea(
    #[prop(into)] id: String,
    value: Signal<String>,
    on_input: Callback<String>,
    #[prop(into)] error_id: String,
    /// The line to mark (1-based), e.g. where a syntax error is.
    #[prop(optional, into)]
    marked_line: Option<Signal<Option<usize>>>,
) -> impl IntoView {
    let lines = move || value.with(|v| v.lines().count().max(1) + usize::from(v.ends_with('\n')));
    let marked = move || marked_line.and_then(|m| m.get());
    view! {
        <div class="code-area">
            <ol class="code-gutter" aria-hidden="true">
                {move || {
                    (1..=lines())
                        .map(|n| {
                            let class = if marked() == Some(n) { "marked" } else { "" };
                            view! { <li class=class>{n}</li> }
                        })
                        .collect_view()
                }}
            </ol>
            <textarea
                id=id
                class="code"
                rows="8"
                spellcheck="false"
                autocapitalize="off"
                aria-describedby=error_id
                prop:value=move || value.get()
                on:input=move |ev| on_input.run(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Tab" && !ev.shift_key() {
                        ev.prevent_default();
                        insert_indent(&ev, on_input);
                    }
                }
            ></textarea>
        </div>
    }
}

/// Inserts four spaces at the caret of the textarea `ev` came from.
#[cfg(feature = "hydrate")]
fn insert_indent(ev: &leptos::ev::KeyboardEvent, on_input: Callback<String>) {
    use wasm_bindgen::JsCast;
    let Some(area) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
    else {
        return;
    };
    let text = area.value();
    let start = area.selection_start().ok().flatten().unwrap_or(0) as usize;
    let end = area.selection_end().ok().flatten().unwrap_or(0) as usize;
    // Selection offsets count UTF-16 units; map them to a char boundary.
    let to_byte = |units: usize| {
        let mut count = 0;
        for (byte, ch) in text.char_indices() {
            if count >= units {
                return byte;
            }
            count += ch.len_utf16();
        }
        text.len()
    };
    let (a, b) = (to_byte(start), to_byte(end));
    let updated = format!("{}    {}", &text[..a], &text[b..]);
    area.set_value(&updated);
    let caret = (start + 4) as u32;
    let _ = area.set_selection_range(caret, caret);
    on_input.run(updated);
}

#[cfg(not(feature = "hydrate"))]
fn insert_indent(_ev: &leptos::ev::KeyboardEvent, _on_input: Callback<String>) {}
