//! Form pieces every admin page uses: labelled inputs bound to signals, per-field error
//! messages from an [`AdminFnError`], an alert for the rest, and a delete button that asks
//! first. Labels are real `<label for>` pairs, errors are tied with `aria-describedby`.

use leptos::prelude::*;

use super::api::AdminFnError;

/// The last failure of a form, shared by its fields.
pub type FormError = RwSignal<Option<AdminFnError>>;

/// The messages of `field` in `error`, under the input (`id` = `{input id}-error`).
#[component]
pub fn FieldError(
    error: FormError,
    #[prop(into)] field: String,
    #[prop(into)] id: String,
) -> impl IntoView {
    let field_for_view = field.clone();
    view! {
        <Show when=move || error.with(|e| e.as_ref().is_some_and(|e| !e.field(&field).is_empty()))>
            <p class="field-error" id=format!("{id}-error")>
                {
                    let field = field_for_view.clone();
                    move || error.with(|e| e.as_ref().map(|e| e.field(&field).join(" ")))
                }
            </p>
        </Show>
    }
}

/// The API names of a form's fields (see [`FormAlert`]).
#[derive(Clone, Debug, Default)]
pub struct FieldNames(pub Vec<String>);

impl From<&[&str]> for FieldNames {
    fn from(names: &[&str]) -> Self {
        Self(names.iter().map(|n| (*n).to_owned()).collect())
    }
}

impl<const N: usize> From<&[&str; N]> for FieldNames {
    fn from(names: &[&str; N]) -> Self {
        Self::from(&names[..])
    }
}

impl From<Vec<String>> for FieldNames {
    fn from(names: Vec<String>) -> Self {
        Self(names)
    }
}

/// The failure not tied to one of `fields`, as an alert.
#[component]
pub fn FormAlert(
    error: FormError,
    /// The fields that show their own errors (left out of the alert).
    #[prop(optional, into)]
    fields: FieldNames,
) -> impl IntoView {
    view! {
        {move || {
            let fields: Vec<&str> = fields.0.iter().map(String::as_str).collect();
            error
                .get()
                .and_then(|e| e.general(&fields))
                .map(|message| view! { <div class="alert" role="alert">{message}</div> })
        }}
    }
}

/// A labelled text input bound to `value`; `field` names the API field for its errors.
#[component]
pub fn TextInput(
    #[prop(into)] label: String,
    #[prop(into)] field: String,
    value: RwSignal<String>,
    error: FormError,
    #[prop(optional, into)] id_prefix: String,
    #[prop(optional, into)] input_type: Option<String>,
    #[prop(optional, into)] help: Option<String>,
) -> impl IntoView {
    let id = format!("{id_prefix}{field}");
    let error_id = format!("{id}-error");
    view! {
        <div class="form-row">
            <label for=id.clone()>{label}</label>
            <input
                id=id.clone()
                name=field.clone()
                type=input_type.unwrap_or_else(|| "text".into())
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-describedby=error_id
            />
            {help.map(|h| view! { <p class="help">{h}</p> })}
            <FieldError error field id/>
        </div>
    }
}

/// A labelled `<select>` over `(value, label)` choices, bound to `value`.
#[component]
pub fn ChoiceSelect(
    #[prop(into)] label: String,
    #[prop(into)] field: String,
    choices: &'static [(&'static str, &'static str)],
    value: RwSignal<String>,
    error: FormError,
    #[prop(optional, into)] id_prefix: String,
) -> impl IntoView {
    let id = format!("{id_prefix}{field}");
    view! {
        <div class="form-row">
            <label for=id.clone()>{label}</label>
            <select
                id=id.clone()
                name=field.clone()
                on:change=move |ev| value.set(event_target_value(&ev))
                prop:value=move || value.get()
                aria-describedby=format!("{id}-error")
            >
                {choices
                    .iter()
                    .map(|(v, l)| {
                        view! {
                            <option value=*v selected=move || value.get() == *v>
                                {*l}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <FieldError error field id/>
        </div>
    }
}

/// A labelled checkbox bound to `value`.
#[component]
pub fn CheckBox(
    #[prop(into)] label: String,
    #[prop(into)] field: String,
    value: RwSignal<bool>,
    #[prop(optional, into)] id_prefix: String,
) -> impl IntoView {
    let id = format!("{id_prefix}{field}");
    view! {
        <div class="form-row checkbox">
            <input
                id=id.clone()
                type="checkbox"
                name=field
                prop:checked=move || value.get()
                on:change=move |ev| value.set(event_target_checked(&ev))
            />
            <label for=id>{label}</label>
        </div>
    }
}

/// A button that asks before calling `on_confirm`: `label` opens the question, which offers
/// `confirm_label` and Cancel.
#[component]
pub fn ConfirmButton(
    #[prop(into)] label: String,
    /// The trigger's accessible name, when `label` alone is not enough.
    #[prop(optional, into)]
    aria_label: Option<String>,
    #[prop(into)] question: String,
    #[prop(into)] confirm_label: String,
    /// The group's accessible name ("Confirm deletion").
    #[prop(into)]
    group_label: String,
    #[prop(into)] trigger_class: String,
    #[prop(into)] confirm_class: String,
    on_confirm: Callback<()>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    view! {
        <Show
            when=move || asking.get()
            fallback=move || {
                view! {
                    <button
                        type="button"
                        class=trigger_class.clone()
                        aria-label=aria_label.clone()
                        on:click=move |_| asking.set(true)
                    >
                        {label.clone()}
                    </button>
                }
            }
        >
            <span class="confirm" role="group" aria-label=group_label.clone()>
                <span>{question.clone()}</span>
                <button
                    type="button"
                    class=confirm_class.clone()
                    on:click=move |_| {
                        asking.set(false);
                        on_confirm.run(());
                    }
                >
                    {confirm_label.clone()}
                </button>
                <button type="button" class="button" on:click=move |_| asking.set(false)>
                    "Cancel"
                </button>
            </span>
        </Show>
    }
}

/// A delete button that asks before calling `on_confirm` ("Delete X?" with Delete / Cancel).
#[component]
pub fn ConfirmDelete(
    /// What is deleted, for the question ("flow “Login”").
    #[prop(into)]
    what: String,
    on_confirm: Callback<()>,
    #[prop(optional, into)] label: Option<String>,
) -> impl IntoView {
    view! {
        <ConfirmButton
            label=label.unwrap_or_else(|| "Delete".into())
            question=format!("Delete {what}? This cannot be undone.")
            confirm_label="Yes, delete"
            group_label="Confirm deletion"
            trigger_class="button danger"
            confirm_class="button danger"
            on_confirm
        />
    }
}

/// Deletes one object after asking: `pk` from `collection` (with `query`, e.g. a stage's
/// `force`), then opens `back`; a refusal shows as an alert above the button.
#[component]
pub fn DeleteObject(
    collection: &'static str,
    #[prop(into)] pk: String,
    /// What is deleted, for the question ("the user “alice”").
    #[prop(into)]
    what: String,
    /// The list page to open once it is gone.
    back: &'static str,
    #[prop(optional)] query: Vec<(String, String)>,
) -> impl IntoView {
    let error: FormError = RwSignal::new(None);
    let navigate = leptos_router::hooks::use_navigate();
    let delete = Action::new(move |_: &()| {
        let (pk, query) = (pk.clone(), query.clone());
        async move { super::api::delete_object(collection.to_owned(), pk, query).await? }
    });
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(())) => navigate(back, Default::default()),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    view! {
        <FormAlert error/>
        <ConfirmDelete
            what
            on_confirm=Callback::new(move |()| {
                delete.dispatch(());
            })
        />
    }
}

/// A page's heading with optional actions beside it.
#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title.clone()/>
        <div class="page-header">
            <h1>{title}</h1>
            <div class="page-actions">{children.map(|c| c())}</div>
        </div>
    }
}

/// Puts `text` on the clipboard; `false` when the browser refused.
pub async fn copy_text(text: String) -> bool {
    #[cfg(feature = "hydrate")]
    {
        let Some(window) = web_sys::window() else {
            return false;
        };
        let promise = window.navigator().clipboard().write_text(&text);
        wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = text;
        false
    }
}

/// A load failure, shown where the content would be.
pub fn failure(e: &AdminFnError) -> impl IntoView {
    view! { <div class="alert" role="alert">{e.to_string()}</div> }
}

/// The list pages' shared shape: a labelled search box over one admin collection
/// (`GET …?search=`, re-queried on each keystroke) and the rows it finds, drawn by `table`.
/// `noun` is the plural for the loading and empty notes ("flows" → "No flows match.").
#[component]
pub fn SearchList<T>(
    collection: &'static str,
    noun: &'static str,
    /// The search input's id (its label points at it; tests find it by it).
    input_id: &'static str,
    placeholder: &'static str,
    table: fn(Vec<T>) -> AnyView,
) -> impl IntoView
where
    T: serde::de::DeserializeOwned + serde::Serialize + Clone + Send + Sync + 'static,
{
    let search = RwSignal::new(String::new());
    let rows = Resource::new(
        move || search.get(),
        move |search| async move { super::api::list::<T>(collection, &[("search", &search)]).await },
    );
    view! {
        <div class="toolbar">
            <label for=input_id>"Search"</label>
            <input
                id=input_id
                type="search"
                placeholder=placeholder
                on:input=move |ev| search.set(event_target_value(&ev))
            />
        </div>
        <Transition fallback=move || view! { <p class="muted">{format!("Loading {noun}…")}</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) if rows.is_empty() => {
                        view! { <p>{format!("No {noun} match.")}</p> }.into_any()
                    }
                    Ok(rows) => table(rows),
                    Err(e) => failure(&e).into_any(),
                }
            })}
        </Transition>
    }
}
