//! The admin forms of stage kinds and prompt fields, derived from their typed configuration: the
//! JSON Schema `schemars` generates from the Rust types (`stages::config_schema`) becomes a list
//! of [`FormField`]s the UI renders (`app::admin::config_form`). A field's type, its choices
//! (enum variants), whether it may be empty (`Option`) and its help text (the doc comment) all
//! come from the type that the engine runs, so the form cannot offer what the stage would not
//! accept.
//!
//! What the schema cannot say is added here: which collection a stored pk points into
//! ([`REFERENCES`]), which fields are write-only secrets (the kind's `write_only`), and the
//! display order (authentik's field order, `StageKind::fields`).

use app::admin::config_form::{FieldKind, FormDescriptor, FormField};
use serde_json::{Map, Value};

use super::stages::{StageKind, PROMPT_KEYS};
use crate::stages::config_schema;

/// The collection each reference field points into, by field name.
const REFERENCES: &[(&str, &str)] = &[
    ("password_stage", "stages/password"),
    ("captcha_stage", "stages/captcha"),
    ("webauthn_stage", "stages/authenticator/validate"),
    ("enrollment_flow", "flows/instances"),
    ("recovery_flow", "flows/instances"),
    ("passwordless_flow", "flows/instances"),
    ("configure_flow", "flows/instances"),
    ("target_flow", "flows/instances"),
    ("create_users_group", "core/groups"),
    ("configuration_stages", "stages/all"),
    ("fields", "stages/prompt/prompts"),
    ("validation_policies", "policies/all"),
];

/// Fields edited as several lines of text.
const LONG_TEXT: &[&str] = &["deny_message", "placeholder", "initial_value", "sub_text"];

/// Words shown in capitals (or their usual spelling) in labels.
const WORDS: &[(&str, &str)] = &[
    ("url", "URL"),
    ("js", "JS"),
    ("api", "API"),
    ("ssl", "SSL"),
    ("tls", "TLS"),
    ("id", "ID"),
    ("sid", "SID"),
    ("ip", "IP"),
    ("sms", "SMS"),
    ("webauthn", "WebAuthn"),
    ("smtp", "SMTP"),
    ("upn", "UPN"),
    ("totp", "TOTP"),
];

/// The form of a stage kind; `None` when keyflow has no typed configuration for it.
pub fn stage_form(kind: &StageKind) -> Option<FormDescriptor> {
    let (schema, defaults) = config_schema(kind.kind)?;
    let order: Vec<&str> = kind.fields.iter().chain(kind.write_only).copied().collect();
    let mut form = describe(&schema, &order, kind.write_only, defaults);
    // The name is a column of its own, not part of the configuration.
    form.fields.insert(
        0,
        FormField::new("name", "Name", FieldKind::Text)
            .help("Unique among all stages: bindings and blueprints refer to it."),
    );
    Some(form)
}

/// The form of a prompt field (authentik's `Prompt`).
pub fn prompt_form() -> FormDescriptor {
    let (schema, defaults) = config_schema("prompt_field").unwrap_or_default();
    describe(&schema, PROMPT_KEYS, &[], defaults)
}

/// The fields of the object schema `root`, those named in `order` first (in that order), then
/// the rest by name. A field whose stored value cannot be edited here (a pk into a collection
/// keyflow does not serve, a nested object) is left out, so a save keeps it.
fn describe(root: &Value, order: &[&str], secrets: &[&str], defaults: Value) -> FormDescriptor {
    let empty = Map::new();
    let properties = root
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut keys: Vec<&str> = order
        .iter()
        .copied()
        .filter(|k| properties.contains_key(*k))
        .collect();
    let mut rest: Vec<&str> = properties
        .keys()
        .map(String::as_str)
        .filter(|k| !keys.contains(k))
        .collect();
    rest.sort_unstable();
    keys.extend(rest);
    let fields = keys
        .into_iter()
        .filter_map(|key| field(root, key, &properties[key], secrets.contains(&key)))
        .collect();
    let mut defaults = match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for secret in secrets {
        defaults.remove(*secret);
    }
    FormDescriptor { fields, defaults }
}

/// One property as a form field.
fn field(root: &Value, key: &str, property: &Value, secret: bool) -> Option<FormField> {
    let (schema, nullable) = non_null(root, property);
    let mut form = FormField::new(key, &label(key), FieldKind::Text);
    form.help = help(property, &schema);
    form.nullable = nullable;
    let collection = REFERENCES.iter().find(|(k, _)| *k == key).map(|(_, c)| *c);
    if secret {
        form.kind = FieldKind::Secret;
        return Some(form);
    }
    if let Some(choices) = choices(root, &schema) {
        form.kind = FieldKind::Choice;
        form.choices = choices;
        return Some(form);
    }
    form.kind = match type_name(&schema) {
        Some("boolean") => FieldKind::Switch,
        Some("integer") => FieldKind::Integer,
        Some("number") => FieldKind::Number,
        Some("string") => match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => {
                form.collection = Some(collection?.to_owned());
                FieldKind::Reference
            }
            Some("duration") => FieldKind::Duration,
            _ if LONG_TEXT.contains(&key) => FieldKind::LongText,
            _ => FieldKind::Text,
        },
        Some("array") => {
            let (items, _) = non_null(root, schema.get("items")?);
            if let Some(choices) = choices(root, &items) {
                form.choices = choices;
                FieldKind::MultiChoice
            } else if items.get("format").and_then(Value::as_str) == Some("uuid") {
                form.collection = Some(collection?.to_owned());
                FieldKind::References
            } else if type_name(&items) == Some("string") {
                FieldKind::List
            } else {
                return None;
            }
        }
        _ => return None,
    };
    Some(form)
}

/// `schema` with its `$ref` resolved against `root`'s `$defs` (sibling keys such as a field's
/// own description win), and without its `null` alternative; `true` when it had one.
fn non_null(root: &Value, schema: &Value) -> (Value, bool) {
    let mut schema = resolve(root, schema);
    let mut nullable = false;
    for keyword in ["anyOf", "oneOf"] {
        let Some(options) = schema.get(keyword).and_then(Value::as_array) else {
            continue;
        };
        let (nulls, others): (Vec<&Value>, Vec<&Value>) = options
            .iter()
            .partition(|o| o.get("type").and_then(Value::as_str) == Some("null"));
        if !nulls.is_empty() && others.len() == 1 {
            nullable = true;
            let mut inner = resolve(root, others[0]);
            if let (Value::Object(inner), Value::Object(outer)) = (&mut inner, &schema) {
                for (k, v) in outer {
                    if k != keyword {
                        inner.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            schema = inner;
        }
    }
    if let Some(Value::Array(types)) = schema.get("type").cloned() {
        let others: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
        if others.len() == 1 {
            nullable = true;
            schema["type"] = others[0].clone();
        }
    }
    (schema, nullable)
}

fn resolve(root: &Value, schema: &Value) -> Value {
    let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
        return schema.clone();
    };
    let name = target.rsplit('/').next().unwrap_or_default();
    let mut resolved = root
        .get("$defs")
        .and_then(|defs| defs.get(name))
        .map(|def| resolve(root, def))
        .unwrap_or_default();
    if let (Value::Object(resolved), Some(own)) = (&mut resolved, schema.as_object()) {
        for (k, v) in own {
            if k != "$ref" {
                resolved.insert(k.clone(), v.clone());
            }
        }
    }
    resolved
}

fn type_name(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

/// The `(value, label)` pairs of an enum schema: `enum`, or `oneOf` of `const`s (schemars
/// writes the latter when variants have doc comments, which become the labels).
fn choices(root: &Value, schema: &Value) -> Option<Vec<(String, String)>> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| (text(v), label(&text(v))))
                .collect(),
        );
    }
    // schemars groups undocumented variants into one `enum`, and gives each documented one a
    // `const` with its doc comment.
    let variants = schema.get("oneOf").and_then(Value::as_array)?;
    let mut pairs = Vec::new();
    for variant in variants {
        let variant = resolve(root, variant);
        if let Some(value) = variant.get("const") {
            let name = label(&text(value));
            let label = match variant.get("description").and_then(Value::as_str) {
                Some(doc) => format!("{name} — {}", doc.replace('`', "")),
                None => name,
            };
            pairs.push((text(value), label));
        } else {
            let values = variant.get("enum").and_then(Value::as_array)?;
            pairs.extend(values.iter().map(|v| (text(v), label(&text(v)))));
        }
    }
    Some(pairs)
}

/// The field's doc comment (the property's own, else its type's).
fn help(property: &Value, schema: &Value) -> String {
    let of = |v: &Value| {
        let title = v.get("title").and_then(Value::as_str).unwrap_or_default();
        let description = v
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        [title, description]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.replace('\n', " "))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let own = of(property);
    if own.is_empty() {
        of(schema)
    } else {
        own
    }
}

/// `case_insensitive_matching` → "Case insensitive matching"; `js_url` → "JS URL".
fn label(key: &str) -> String {
    let words: Vec<String> = key
        .split(['_', '-', '.'])
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(n, word)| {
            if let Some((_, fixed)) = WORDS.iter().find(|(w, _)| *w == word) {
                return (*fixed).to_owned();
            }
            if n == 0 {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                    .unwrap_or_default()
            } else {
                word.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::stages::{stage_kind, STAGE_KINDS};

    fn form_of(kind: &str) -> FormDescriptor {
        stage_form(stage_kind(kind).expect("kind")).expect("typed configuration")
    }

    fn field_of<'a>(form: &'a FormDescriptor, key: &str) -> &'a FormField {
        form.fields
            .iter()
            .find(|f| f.key == key)
            .unwrap_or_else(|| panic!("no field {key} in {form:?}"))
    }

    #[test]
    fn every_stage_kind_has_a_form() {
        for kind in STAGE_KINDS {
            let form = stage_form(kind).unwrap_or_else(|| panic!("{} has no form", kind.kind));
            for field in &form.fields {
                assert!(!field.label.is_empty(), "{}: {field:?}", kind.kind);
                if matches!(field.kind, FieldKind::Reference | FieldKind::References) {
                    assert!(field.collection.is_some(), "{}: {field:?}", kind.kind);
                }
            }
        }
    }

    #[test]
    fn identification_fields_come_from_the_type() {
        let form = form_of("identification");
        let user_fields = field_of(&form, "user_fields");
        assert_eq!(user_fields.kind, FieldKind::MultiChoice);
        let values: Vec<&str> = user_fields
            .choices
            .iter()
            .map(|(v, _)| v.as_str())
            .collect();
        assert!(
            values.contains(&"email") && values.contains(&"username"),
            "{values:?}"
        );
        let password = field_of(&form, "password_stage");
        assert_eq!(password.kind, FieldKind::Reference);
        assert!(password.nullable);
        assert_eq!(password.collection.as_deref(), Some("stages/password"));
        assert!(password.help.contains("same page"), "{:?}", password.help);
        assert_eq!(
            field_of(&form, "case_insensitive_matching").kind,
            FieldKind::Switch
        );
        assert_eq!(form.defaults["case_insensitive_matching"], true);
        // The name, then authentik's order.
        assert_eq!(form.fields[0].key, "name");
        assert_eq!(form.fields[1].key, "user_fields");
    }

    #[test]
    fn secrets_are_write_only_and_have_no_default() {
        let form = form_of("email");
        assert_eq!(field_of(&form, "password").kind, FieldKind::Secret);
        assert!(!form.defaults.contains_key("password"));
        assert_eq!(field_of(&form, "port").kind, FieldKind::Integer);
        assert_eq!(field_of(&form, "token_expiry").kind, FieldKind::Duration);
        let captcha = form_of("captcha");
        assert_eq!(field_of(&captcha, "private_key").kind, FieldKind::Secret);
        assert_eq!(
            field_of(&captcha, "score_min_threshold").kind,
            FieldKind::Number
        );
    }

    #[test]
    fn enums_lists_and_references() {
        let totp = form_of("authenticator_totp");
        let digits = field_of(&totp, "digits");
        assert_eq!(digits.kind, FieldKind::Choice);
        assert_eq!(
            digits.choices,
            vec![("6".into(), "6".into()), ("8".into(), "8".into())]
        );
        let validate = form_of("authenticator_validate");
        assert_eq!(
            field_of(&validate, "device_classes").kind,
            FieldKind::MultiChoice
        );
        assert_eq!(
            field_of(&validate, "configuration_stages").kind,
            FieldKind::References
        );
        assert_eq!(
            field_of(&validate, "not_configured_action").kind,
            FieldKind::Choice
        );
        let password = form_of("password");
        assert_eq!(field_of(&password, "backends").kind, FieldKind::List);
        let prompt = form_of("prompt");
        assert_eq!(
            field_of(&prompt, "fields").collection.as_deref(),
            Some("stages/prompt/prompts")
        );
    }

    #[test]
    fn prompt_field_form() {
        let form = prompt_form();
        let kind = field_of(&form, "type");
        assert_eq!(kind.kind, FieldKind::Choice);
        assert!(kind.choices.iter().any(|(v, _)| v == "radio-button-group"));
        assert_eq!(form.fields[0].key, "name");
        assert_eq!(field_of(&form, "required").kind, FieldKind::Switch);
        assert_eq!(field_of(&form, "placeholder").kind, FieldKind::LongText);
        // Required fields have no default; the others have their own.
        assert_eq!(
            form.defaults.get("required"),
            Some(&serde_json::json!(true))
        );
        assert!(!form.defaults.contains_key("field_key"));
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(
            label("case_insensitive_matching"),
            "Case insensitive matching"
        );
        assert_eq!(label("js_url"), "JS URL");
        assert_eq!(label("radio-button-group"), "Radio button group");
    }
}
