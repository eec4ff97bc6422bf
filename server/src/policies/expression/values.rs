//! Data crossing into and out of the interpreter: JSON and rows as `MontyObject`s, and back.

use chrono::{DateTime, Datelike, Timelike, Utc};
use monty_types::{MontyDateTime, MontyObject};
use serde_json::{Map, Number, Value as Json};

use crate::engine::context::PendingUser;
use crate::store::{group, user};

/// Deepest JSON nesting converted (deeper values arrive as their JSON text).
const MAX_DEPTH: usize = 64;

pub fn text(value: &str) -> MontyObject {
    MontyObject::String(value.to_owned())
}

pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, MontyObject)>) -> MontyObject {
    MontyObject::dict(
        pairs
            .into_iter()
            .map(|(k, v)| (text(k), v))
            .collect::<Vec<_>>(),
    )
}

pub fn from_json(value: &Json) -> MontyObject {
    from_json_at(value, 0)
}

fn from_json_at(value: &Json, depth: usize) -> MontyObject {
    if depth > MAX_DEPTH {
        return MontyObject::String(value.to_string());
    }
    match value {
        Json::Null => MontyObject::None,
        Json::Bool(b) => MontyObject::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => MontyObject::Int(i),
            None => MontyObject::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => MontyObject::String(s.clone()),
        Json::Array(items) => {
            MontyObject::List(items.iter().map(|v| from_json_at(v, depth + 1)).collect())
        }
        Json::Object(map) => MontyObject::dict(
            map.iter()
                .map(|(k, v)| (text(k), from_json_at(v, depth + 1)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// Plain data back to JSON; anything else becomes its Python `repr`.
pub fn to_json(value: &MontyObject) -> Json {
    match value {
        MontyObject::None => Json::Null,
        MontyObject::Bool(b) => Json::Bool(*b),
        MontyObject::Int(i) => Json::from(*i),
        MontyObject::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        MontyObject::String(s) => Json::String(s.clone()),
        MontyObject::List(items)
        | MontyObject::Tuple(items)
        | MontyObject::Set(items)
        | MontyObject::FrozenSet(items) => Json::Array(items.iter().map(to_json).collect()),
        MontyObject::Dict(pairs) => {
            let mut map = Map::new();
            for (k, v) in pairs.clone() {
                let key = match k {
                    MontyObject::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, to_json(&v));
            }
            Json::Object(map)
        }
        other => Json::String(other.to_string()),
    }
}

pub fn datetime(at: DateTime<Utc>) -> MontyObject {
    MontyObject::DateTime(MontyDateTime {
        year: at.year(),
        month: at.month() as u8,
        day: at.day() as u8,
        hour: at.hour() as u8,
        minute: at.minute() as u8,
        second: at.second() as u8,
        microsecond: at.timestamp_subsec_micros().min(999_999),
        offset_seconds: Some(0),
        timezone_name: None,
    })
}

fn optional_datetime(at: Option<DateTime<Utc>>) -> MontyObject {
    at.map_or(MontyObject::None, datetime)
}

/// A saved user as the prelude's `User` is built from (authentik's attribute names).
pub fn user(row: &user::Model, backend: Option<&str>) -> MontyObject {
    let usable = !row.password.is_empty() && !row.password.starts_with('!');
    let mut pairs = vec![
        ("pk", MontyObject::Int(row.id.into())),
        ("id", MontyObject::Int(row.id.into())),
        ("uuid", text(&row.uuid.to_string())),
        ("username", text(&row.username)),
        ("email", text(&row.email)),
        ("name", text(&row.name)),
        ("is_active", MontyObject::Bool(row.is_active)),
        ("is_superuser", MontyObject::Bool(row.is_superuser)),
        ("attributes", from_json(&row.attributes)),
        ("path", text(&row.path)),
        ("type", text(&row.user_type)),
        ("is_authenticated", MontyObject::Bool(true)),
        ("is_anonymous", MontyObject::Bool(false)),
        ("last_login", optional_datetime(row.last_login)),
        ("date_joined", datetime(row.date_joined)),
        (
            "password_change_date",
            optional_datetime(row.password_change_date),
        ),
        ("_usable_password", MontyObject::Bool(usable)),
    ];
    if let Some(backend) = backend {
        pairs.push(("backend", text(backend)));
    }
    dict(pairs)
}

/// authentik's `AnonymousUser`, as far as expressions can tell.
pub fn anonymous_user() -> MontyObject {
    dict([
        ("pk", MontyObject::None),
        ("id", MontyObject::None),
        ("username", text("")),
        ("email", text("")),
        ("name", text("")),
        ("is_active", MontyObject::Bool(false)),
        ("is_superuser", MontyObject::Bool(false)),
        ("attributes", MontyObject::dict(Vec::new())),
        ("is_authenticated", MontyObject::Bool(false)),
        ("is_anonymous", MontyObject::Bool(true)),
        ("last_login", MontyObject::None),
        ("password_change_date", MontyObject::None),
        ("_usable_password", MontyObject::Bool(false)),
    ])
}

/// An unsaved pending user (identification's stand-in): only what identification knew.
pub fn unsaved_user(pending: &PendingUser) -> MontyObject {
    let mut pairs = vec![
        (
            "pk",
            pending
                .pk
                .map_or(MontyObject::None, |pk| MontyObject::Int(pk.into())),
        ),
        (
            "id",
            pending
                .pk
                .map_or(MontyObject::None, |pk| MontyObject::Int(pk.into())),
        ),
        ("username", text(&pending.username)),
        ("email", text(&pending.email)),
        ("name", text("")),
        ("is_active", MontyObject::Bool(false)),
        ("is_superuser", MontyObject::Bool(false)),
        ("attributes", MontyObject::dict(Vec::new())),
        ("is_authenticated", MontyObject::Bool(false)),
        ("is_anonymous", MontyObject::Bool(false)),
        ("last_login", MontyObject::None),
        ("password_change_date", MontyObject::None),
        ("_usable_password", MontyObject::Bool(false)),
    ];
    if let Some(backend) = &pending.backend {
        pairs.push(("backend", text(backend)));
    }
    dict(pairs)
}

pub fn group(row: &group::Model) -> MontyObject {
    dict([
        ("pk", text(&row.id.to_string())),
        ("name", text(&row.name)),
        ("is_superuser", MontyObject::Bool(row.is_superuser)),
        ("attributes", from_json(&row.attributes)),
        (
            "parent_id",
            row.parent_id
                .map_or(MontyObject::None, |id| text(&id.to_string())),
        ),
    ])
}

/// A plan-context value the expression set, as the plan stores it: the prelude exports users
/// as `{"__ak_user__": true, pk, username, email[, backend]}`, which is a `PendingUser`.
pub fn context_value(value: Json) -> Json {
    match value {
        Json::Object(mut map) if map.get("__ak_user__") == Some(&Json::Bool(true)) => {
            map.remove("__ak_user__");
            Json::Object(map)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips() {
        let value = json!({"a": [1, 2.5, "x", null, true], "b": {"c": {}}});
        assert_eq!(to_json(&from_json(&value)), value);
    }

    #[test]
    fn exported_users_become_pending_users() {
        let exported =
            json!({"__ak_user__": true, "pk": 1, "username": "akadmin", "email": "a@b.c"});
        let pending: PendingUser = serde_json::from_value(context_value(exported)).unwrap();
        assert_eq!(pending.pk, Some(1));
        assert_eq!(pending.username, "akadmin");
    }
}
