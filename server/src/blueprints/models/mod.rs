//! How each supported model is stored. Every model looks the same to the applier: rows as
//! maps of authentik's attribute names ([`Record`]), a `normalise` step that runs the attributes
//! through the model's typed configuration (so defaults are filled in, bad values are refused
//! with the field's name, and comparisons are exact), and insert / update / delete.

pub mod flows;
pub mod identity;
pub mod invitations;
pub mod policies;
pub mod prompts;
pub mod stages;

use sea_orm::{DatabaseTransaction, EntityTrait, PrimaryKeyTrait};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::EntryError;

pub type Fields = Map<String, Value>;

/// One stored object as blueprint attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub pk: Value,
    pub fields: Fields,
}

#[async_trait::async_trait]
pub trait ModelStore: Send + Sync {
    /// Rows that may match `identifiers` (a cheap narrowing: the caller checks every identifier).
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError>;

    /// The attributes in canonical form: defaults filled in, values typed, unknown keys dropped.
    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError>;

    /// Checks references to other objects before writing, for a precise message.
    async fn check(&self, _tx: &DatabaseTransaction, _fields: &Fields) -> Result<(), EntryError> {
        Ok(())
    }

    /// Creates the object (with `pk` when the blueprint names one) and returns its pk.
    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError>;

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError>;

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError>;
}

/// Deserialises `fields` into `T` and back, naming the offending field on failure.
pub fn typed<T: DeserializeOwned + Serialize>(fields: Fields) -> Result<(T, Fields), EntryError> {
    let value: T = serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            EntryError::entry(message)
        } else {
            EntryError::field(path, message)
        }
    })?;
    let back = match serde_json::to_value(&value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    Ok((value, back))
}

/// A field's value as a plain string (for columns stored as text).
pub fn text(fields: &Fields, key: &str) -> String {
    match fields.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub fn flag(fields: &Fields, key: &str) -> bool {
    fields.get(key).and_then(Value::as_bool).unwrap_or_default()
}

pub fn number(fields: &Fields, key: &str) -> i32 {
    fields
        .get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or_default()
}

/// A uuid-valued field; `Ok(None)` when absent or null.
pub fn uuid_field(fields: &Fields, key: &str) -> Result<Option<Uuid>, EntryError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => uuid_of(value)
            .map(Some)
            .ok_or_else(|| EntryError::field(key, format!("{value} is not a valid id"))),
    }
}

pub fn uuid_of(value: &Value) -> Option<Uuid> {
    value.as_str().and_then(|s| Uuid::parse_str(s).ok())
}

/// The pk a blueprint asks for on create (`identifiers.pk`), as a uuid.
pub fn requested_uuid(pk: Option<&Value>) -> Result<Uuid, EntryError> {
    match pk {
        None | Some(Value::Null) => Ok(Uuid::new_v4()),
        Some(value) => {
            uuid_of(value).ok_or_else(|| EntryError::field("pk", format!("{value} is not a UUID")))
        }
    }
}

pub fn pk_uuid(pk: &Value) -> Result<Uuid, EntryError> {
    uuid_of(pk).ok_or_else(|| EntryError::field("pk", format!("{pk} is not a UUID")))
}

/// Whether two attribute values are the same (numbers by value, ids case-insensitively).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => {
            x == y || matches!((Uuid::parse_str(x), Uuid::parse_str(y)), (Ok(p), Ok(q)) if p == q)
        }
        // Numbers written as text (e.g. a user pk from a query) still match.
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

/// Whether `record` has every identifier's value (`pk` is the record's pk).
pub fn matches(record: &Record, identifiers: &Fields) -> bool {
    identifiers.iter().all(|(key, wanted)| {
        let actual = if key == "pk" {
            Some(&record.pk)
        } else {
            record.fields.get(key)
        };
        actual.is_some_and(|actual| same_value(actual, wanted))
    })
}

/// The first stored object matching every identifier.
pub async fn find(
    store: &dyn ModelStore,
    tx: &DatabaseTransaction,
    identifiers: &Fields,
) -> Result<Option<Record>, EntryError> {
    Ok(store
        .rows(tx, identifiers)
        .await?
        .into_iter()
        .find(|record| matches(record, identifiers)))
}

/// authentik's slug rule: letters, digits, `-` and `_`.
pub fn check_slug(fields: &Fields, key: &str) -> Result<(), EntryError> {
    let value = text(fields, key);
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(EntryError::field(
            key,
            format!("{value:?} is not a valid slug (letters, numbers, \"-\" and \"_\" only)"),
        ));
    }
    Ok(())
}

/// Fails on `field` unless a row of `E` has primary key `id` (a reference to check before
/// writing, so the error names the field instead of a foreign-key violation).
pub async fn ensure_exists<E, K>(
    tx: &DatabaseTransaction,
    id: K,
    field: &str,
    what: &str,
) -> Result<(), EntryError>
where
    E: EntityTrait,
    K: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType> + std::fmt::Display + Copy,
{
    if E::find_by_id(id).one(tx).await?.is_none() {
        return Err(EntryError::field(field, format!("no {what} {id}")));
    }
    Ok(())
}

/// The entry's `name`: required and non-empty (stages and policies are looked up by it).
pub fn required_name(fields: &Fields) -> Result<String, EntryError> {
    match fields.get("name") {
        Some(Value::String(name)) if !name.is_empty() => Ok(name.clone()),
        _ => Err(EntryError::field("name", "required (a non-empty string)")),
    }
}
