//! Create and edit one object through the form the server derives from its kind's typed
//! configuration (`GET /api/v3/<collection>/form/`): used by stages of every kind and by prompt
//! fields. [`load_form`] also fills the choices of reference fields (the flows, stages, prompt
//! fields, policies or groups they may point to), so the page renders in one pass.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde_json::{json, Map, Value};

use crate::admin::api::{self, AdminFnError};
use crate::admin::config_form::{ConfigFields, FieldKind, FormDescriptor};
use crate::admin::widgets::{FormAlert, FormError};

/// An object as the API answers it.
pub type Object = Map<String, Value>;

/// How an object of a referenced collection is named in a choice.
fn choice_label(object: &Object) -> String {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    // Accounts by username (names need not be unique), everything else by name.
    let name = match text("username") {
        "" => text("name"),
        username => username,
    };
    let detail = [text("slug"), text("field_key"), text("verbose_name")]
        .into_iter()
        .find(|d| !d.is_empty());
    match detail {
        Some(detail) => format!("{name} ({detail})"),
        None => name.to_owned(),
    }
}

fn pk_text(object: &Object) -> String {
    match object.get("pk") {
        Some(Value::String(pk)) => pk.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The form of `collection`, with every reference field's choices loaded. A value of `object`
/// that is not among them (a deleted target, a collection that cannot be listed) is kept as a
/// choice of its own, so saving never drops it silently.
pub async fn load_form(
    collection: &str,
    object: Option<&Object>,
) -> Result<FormDescriptor, AdminFnError> {
    let form: FormDescriptor = api::action(collection, None, "form", json!({})).await?;
    Ok(fill_choices(form, object).await)
}

/// `form` with the choices of its reference fields loaded (see [`load_form`]).
pub async fn fill_choices(mut form: FormDescriptor, object: Option<&Object>) -> FormDescriptor {
    let mut loaded: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for field in &mut form.fields {
        let Some(target) = field.collection.clone() else {
            continue;
        };
        if !loaded.contains_key(&target) {
            let rows = api::list::<Object>(&target, &[]).await.unwrap_or_default();
            let choices = rows.iter().map(|o| (pk_text(o), choice_label(o))).collect();
            loaded.insert(target.clone(), choices);
        }
        field.choices = loaded[&target].clone();
        let current: Vec<String> = match object.and_then(|o| o.get(&field.key)) {
            Some(Value::String(pk)) => vec![pk.clone()],
            Some(Value::Array(pks)) => pks
                .iter()
                .map(|pk| match pk {
                    Value::String(pk) => pk.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
        for pk in current {
            if !field.choices.iter().any(|(value, _)| *value == pk) {
                field
                    .choices
                    .push((pk.clone(), format!("{pk} (not found)")));
            }
        }
    }
    form
}

/// The form for a new object (`object` is `None`; it starts from the kind's defaults) or for
/// `object`. Saving sends the form's fields only; a new object opens at `{base_href}{pk}/`.
#[component]
pub fn ObjectForm(
    #[prop(into)] collection: String,
    form: FormDescriptor,
    object: Option<Object>,
    /// Where objects of this kind are edited, e.g. `/if/admin/stages/`.
    base_href: &'static str,
    /// The create button's text, e.g. "Create stage".
    #[prop(into)]
    create_label: String,
    #[prop(into)] id_prefix: String,
    /// Called with a new object instead of opening its page (the form then starts over).
    #[prop(optional)]
    on_created: Option<Callback<Object>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let defaults = form.defaults.clone();
    let keys: Vec<String> = form.fields.iter().map(|f| f.key.clone()).collect();
    let secrets: Vec<String> = form
        .fields
        .iter()
        .filter(|f| f.kind == FieldKind::Secret)
        .map(|f| f.key.clone())
        .collect();
    let editing = object.as_ref().map(pk_text);
    let values = RwSignal::new(object.clone().unwrap_or_else(|| form.defaults.clone()));
    let error: FormError = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let save = Action::new({
        let (collection, editing) = (collection.clone(), editing.clone());
        move |body: &Object| {
            let (body, collection, editing) = (body.clone(), collection.clone(), editing.clone());
            async move {
                let body = Value::Object(body);
                match &editing {
                    Some(pk) => api::update::<Object>(&collection, pk, body).await,
                    None => api::create::<Object>(&collection, body).await,
                }
            }
        }
    });
    let created = editing.is_none();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(saved)) => {
            error.set(None);
            if let (true, Some(on_created)) = (created, on_created) {
                values.set(defaults.clone());
                status.set("Created.".into());
                on_created.run(saved);
                return;
            }
            status.set("Saved.".into());
            if created {
                navigate(
                    &format!("{base_href}{}/", pk_text(&saved)),
                    Default::default(),
                );
            }
        }
        Some(Err(e)) => {
            status.set(String::new());
            error.set(Some(e));
        }
        None => {}
    });
    let submit = {
        let keys = keys.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            status.set(String::new());
            let body: Object = values.with(|v| {
                keys.iter()
                    .filter_map(|k| v.get(k).map(|value| (k.clone(), value.clone())))
                    .collect()
            });
            save.dispatch(body);
        }
    };
    // A typed secret is sent once; the next save keeps the stored one.
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(_))) {
            values.update(|v| {
                for secret in &secrets {
                    v.remove(secret);
                }
            });
        }
    });
    view! {
        <form on:submit=submit data-testid="object-form" novalidate=true>
            <ConfigFields fields=form.fields values error id_prefix/>
            <FormAlert error fields=keys/>
            <p role="status" class="saved">{move || status.get()}</p>
            <div class="form-actions">
                <button type="submit" class="button primary">
                    {if created { create_label } else { "Save".to_owned() }}
                </button>
            </div>
        </form>
    }
}
