//! A form over a JSON object's fields, described by a table of [`FieldSpec`]s: the typed
//! configuration of a policy or stage kind, edited field by field (text, numbers, switches,
//! choices, code). The values live in one signal holding the object, so saving sends exactly
//! what the form shows; errors appear under each field by its API name.

use leptos::prelude::*;
use serde_json::{Map, Value};

use super::widgets::{FieldError, FormError};

/// How a field is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// Several lines of text.
    LongText,
    /// Python code (monospace, tab inserts spaces, line numbers).
    Code,
    Integer,
    Switch,
    Choice(&'static [(&'static str, &'static str)]),
}

/// One field of a kind's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The API field name.
    pub key: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub help: &'static str,
}

impl FieldSpec {
    pub const fn new(key: &'static str, label: &'static str, kind: FieldKind) -> Self {
        Self {
            key,
            label,
            kind,
            help: "",
        }
    }

    pub const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }
}

/// The text an input shows for `value`.
fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The value to store for `text` typed into a field of `kind` (numbers that do not parse are
/// sent as text, so the server names the field in its error).
fn value_of(kind: FieldKind, text: String) -> Value {
    match kind {
        FieldKind::Integer => text
            .trim()
            .parse::<i64>()
            .map_or(Value::String(text), Value::from),
        _ => Value::String(text),
    }
}

/// Every field of `fields`, bound to `values`. `id_prefix` keeps ids unique on the page.
#[component]
pub fn ConfigFields(
    fields: &'static [FieldSpec],
    values: RwSignal<Map<String, Value>>,
    error: FormError,
    #[prop(into)] id_prefix: String,
) -> impl IntoView {
    fields
        .iter()
        .map(|spec| view! { <ConfigField spec=*spec values error id_prefix=id_prefix.clone()/> })
        .collect_view()
}

#[component]
fn ConfigField(
    spec: FieldSpec,
    values: RwSignal<Map<String, Value>>,
    error: FormError,
    id_prefix: String,
) -> impl IntoView {
    let key = spec.key;
    let id = format!("{id_prefix}{key}");
    let error_id = format!("{id}-error");
    let current = move || values.with(|v| text_of(v.get(key)));
    let set = move |text: String| {
        values.update(|v| {
            v.insert(key.to_owned(), value_of(spec.kind, text));
        })
    };
    let help = (!spec.help.is_empty()).then(|| view! { <p class="help">{spec.help}</p> });
    let input = match spec.kind {
        FieldKind::Switch => {
            return view! {
                <div class="form-row checkbox">
                    <input
                        id=id.clone()
                        type="checkbox"
                        name=key
                        prop:checked=move || values.with(|v| v.get(key).and_then(Value::as_bool).unwrap_or(false))
                        on:change=move |ev| {
                            let checked = event_target_checked(&ev);
                            values.update(|v| {
                                v.insert(key.to_owned(), Value::Bool(checked));
                            });
                        }
                    />
                    <label for=id.clone()>{spec.label}</label>
                    {help}
                    <FieldError error field=key id/>
                </div>
            }
            .into_any();
        }
        FieldKind::Code => view! { <CodeArea id=id.clone() value=Signal::derive(current) on_input=Callback::new(set) error_id=error_id.clone()/> }.into_any(),
        FieldKind::LongText => view! {
            <textarea
                id=id.clone()
                name=key
                rows="3"
                aria-describedby=error_id.clone()
                prop:value=current
                on:input=move |ev| set(event_target_value(&ev))
            ></textarea>
        }
        .into_any(),
        FieldKind::Choice(choices) => view! {
            <select
                id=id.clone()
                name=key
                aria-describedby=error_id.clone()
                prop:value=current
                on:change=move |ev| set(event_target_value(&ev))
            >
                {choices
                    .iter()
                    .map(|(v, l)| view! { <option value=*v selected=move || current() == *v>{*l}</option> })
                    .collect_view()}
            </select>
        }
        .into_any(),
        FieldKind::Text | FieldKind::Integer => view! {
            <input
                id=id.clone()
                name=key
                type=if spec.kind == FieldKind::Integer { "number" } else { "text" }
                aria-describedby=error_id.clone()
                prop:value=current
                on:input=move |ev| set(event_target_value(&ev))
            />
        }
        .into_any(),
    };
    view! {
        <div class="form-row">
            <label for=id.clone()>{spec.label}</label>
            {input}
            {help}
            <FieldError error field=key id/>
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
