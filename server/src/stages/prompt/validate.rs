//! Field-by-field validation of a prompt response (spec §4.14, the table under "Response"),
//! worded and coded as authentik's serializer (DRF) does. Every problem becomes an entry under
//! its field key; a body that is not an object is one `non_field_errors` entry.

use app::protocol::ResponseErrors;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Map, Value};

use super::fields::{py_str, ResolvedField};
use super::PromptType;
use crate::engine::fields::{bool_value, string_value, FieldError, ResponseFields, MAX_TEXT_LEN};
use crate::engine::EngineResult;
use crate::store::user;

/// Longest text area value accepted (characters).
pub const MAX_TEXT_AREA_LEN: usize = 65_536;
/// Longest `data:` URI accepted for a file field (characters); the request body limit usually
/// bites first.
pub const MAX_FILE_LEN: usize = 8 * 1024 * 1024;
/// A choice error repeats what was sent; very long input is cut in the message.
const MAX_ECHO_CHARS: usize = 200;

pub const USERNAME_TAKEN: &str = "Username is already taken.";
pub const INVALID_EMAIL: &str = "Enter a valid email address.";
pub const INVALID_INTEGER: &str = "A valid integer is required.";
pub const INVALID_DATE: &str =
    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.";
pub const INVALID_DATETIME: &str = "Datetime has wrong format. Use one of these formats instead: \
     YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";
pub const INVALID_SCHEME: &str = "Invalid scheme";
pub const INVALID_ENCODING: &str = "Invalid encoding";

/// Validates `response` against the resolved fields. `own_username` is the current username of
/// the user the flow is about (keeping it is not "taken"). Returns the validated values by
/// field key, or every error found.
pub async fn validate(
    db: &DatabaseConnection,
    resolved: &[ResolvedField],
    response: &Value,
    own_username: Option<&str>,
) -> EngineResult<Result<Map<String, Value>, ResponseErrors>> {
    let mut fields = ResponseFields::new(response);
    let Some(body) = fields.object() else {
        return Ok(fields.finish().map(|()| Map::new()));
    };
    let mut validated = Map::new();
    for field in resolved {
        let key = field.key();
        match validate_field(field, body.get(key)) {
            Ok(Some(value)) => {
                if field.kind == PromptType::Username {
                    if let Some(error) = username_taken(db, &value, own_username).await? {
                        fields.add_error(key, error);
                        continue;
                    }
                }
                validated.insert(key.to_owned(), value);
            }
            Ok(None) => {}
            Err(error) => fields.add_error(key, error),
        }
    }
    Ok(fields.finish().map(|()| validated))
}

/// One field: `Ok(None)` when it is optional and was not sent.
fn validate_field(
    field: &ResolvedField,
    sent: Option<&Value>,
) -> Result<Option<Value>, FieldError> {
    let kind = field.kind;
    if matches!(kind, PromptType::Hidden | PromptType::Static) {
        return Ok(Some(Value::String(field.server_value.clone())));
    }
    let default = field.default_value();
    // A default makes a field optional; checkboxes and separators never are required.
    let required = field.required
        && default.is_none()
        && !matches!(kind, PromptType::Checkbox | PromptType::Separator);
    let value = match sent {
        None => match default {
            Some(default) => Some(
                // A default that does not validate (e.g. "True" for a checkbox is fine, "x"
                // for a number is not) is kept as the text it is.
                convert(field, &Value::String(default.to_owned()), false)
                    .unwrap_or_else(|_| Value::String(default.to_owned())),
            ),
            None if required => return Err(FieldError::required()),
            None => None,
        },
        Some(Value::Null) => return Err(FieldError::null()),
        Some(sent) => Some(convert(field, sent, required)?),
    };
    // Read-only text is checked like text, then the server's value replaces it.
    if kind.server_value_wins() {
        return Ok(value.map(|_| Value::String(field.server_value.clone())));
    }
    Ok(value)
}

/// A present, non-null value read as the field's type.
fn convert(field: &ResolvedField, sent: &Value, required: bool) -> Result<Value, FieldError> {
    use PromptType as T;
    let text = |max_len: usize, allow_blank: bool| string_value(sent, max_len, allow_blank);
    Ok(match field.kind {
        T::Text | T::TextReadOnly | T::Password | T::Username => {
            Value::String(text(MAX_TEXT_LEN, !required)?)
        }
        T::TextArea | T::TextAreaReadOnly => Value::String(text(MAX_TEXT_AREA_LEN, !required)?),
        T::AkLocale | T::Separator | T::Hidden | T::Static => {
            Value::String(text(MAX_TEXT_LEN, true)?)
        }
        T::Email => {
            let email = text(MAX_TEXT_LEN, !required)?;
            if !email.is_empty() && !is_valid_email(&email) {
                return Err(FieldError::new(INVALID_EMAIL, "invalid"));
            }
            Value::String(email)
        }
        T::File => {
            let uri = text(MAX_FILE_LEN, !required)?;
            if !uri.is_empty() {
                check_data_uri(&uri)?;
            }
            Value::String(uri)
        }
        T::Number => Value::from(integer(sent)?),
        T::Checkbox => Value::Bool(bool_value(sent)?),
        T::Date => Value::String(date(sent)?),
        T::DateTime => Value::String(datetime(sent)?),
        T::RadioButtonGroup | T::Dropdown => Value::String(choice(field, sent)?),
    })
}

/// DRF's IntegerField: integers, or text holding one (a trailing `.0` allowed).
fn integer(sent: &Value) -> Result<i64, FieldError> {
    let invalid = || FieldError::new(INVALID_INTEGER, "invalid");
    match sent {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(invalid),
        Value::String(s) if s.len() > 1000 => Err(FieldError::new(
            "String value too large.",
            "max_string_length",
        )),
        Value::String(s) => {
            let trimmed = s.trim();
            let whole = trimmed
                .split_once('.')
                .filter(|(_, zeros)| zeros.chars().all(|c| c == '0'))
                .map_or(trimmed, |(whole, _)| whole);
            whole.parse::<i64>().map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// An ISO 8601 date, kept as `YYYY-MM-DD`.
fn date(sent: &Value) -> Result<String, FieldError> {
    let invalid = || FieldError::new(INVALID_DATE, "invalid");
    let text = sent
        .as_str()
        .filter(|s| s.len() <= 64)
        .ok_or_else(invalid)?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| invalid())
}

/// An ISO 8601 date and time; without an offset it is UTC (authentik's default time zone).
/// Kept as RFC 3339 in UTC.
fn datetime(sent: &Value) -> Result<String, FieldError> {
    let invalid = || FieldError::new(INVALID_DATETIME, "invalid");
    let text = sent
        .as_str()
        .filter(|s| s.len() <= 64)
        .ok_or_else(invalid)?
        .trim();
    let at: DateTime<Utc> = match DateTime::parse_from_rfc3339(text) {
        Ok(at) => at.with_timezone(&Utc),
        Err(_) => [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(invalid)?
        .and_utc(),
    };
    Ok(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// DRF's ChoiceField: `str(value)` must be one of the choice values.
fn choice(field: &ResolvedField, sent: &Value) -> Result<String, FieldError> {
    let text = py_str(sent);
    if field.choice_values().any(|v| v == text) {
        return Ok(text);
    }
    let echo: String = text.chars().take(MAX_ECHO_CHARS).collect();
    Err(FieldError::new(
        format!("\"{echo}\" is not a valid choice."),
        "invalid_choice",
    ))
}

/// A file arrives inline: `data:<mime>;base64,<data>`.
fn check_data_uri(uri: &str) -> Result<(), FieldError> {
    let Some(rest) = uri.strip_prefix("data:") else {
        return Err(FieldError::new(INVALID_SCHEME, "invalid"));
    };
    let header = rest.split_once(',').map_or(rest, |(header, _)| header);
    let encoding = header.split_once(';').map(|(_, params)| params);
    if encoding != Some("base64") {
        return Err(FieldError::new(INVALID_ENCODING, "invalid"));
    }
    Ok(())
}

async fn username_taken(
    db: &DatabaseConnection,
    value: &Value,
    own_username: Option<&str>,
) -> EngineResult<Option<FieldError>> {
    let Some(username) = value.as_str().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if own_username == Some(username) {
        return Ok(None);
    }
    let taken = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .is_some();
    Ok(taken.then(|| FieldError::new(USERNAME_TAKEN, "invalid")))
}

/// An address of the usual shape: a dot-atom or quoted local part, `@`, and a domain of at
/// least two labels (or `localhost`, or an address literal in brackets).
pub fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    valid_local_part(local) && valid_domain(domain)
}

fn valid_local_part(local: &str) -> bool {
    if local.is_empty() || local.len() > 64 {
        return false;
    }
    if let Some(quoted) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        return quoted.chars().all(|c| (' '..='~').contains(&c));
    }
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
    })
}

fn valid_domain(domain: &str) -> bool {
    if domain == "localhost" {
        return true;
    }
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let ip = literal.strip_prefix("IPv6:").unwrap_or(literal);
        return ip.parse::<std::net::IpAddr>().is_ok();
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if domain.len() > 253 || labels.len() < 2 {
        return false;
    }
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld = labels.last().copied().unwrap_or_default();
    labels.iter().all(label_ok)
        && tld.chars().count() >= 2
        && !tld.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::{PromptChoice, PromptField as WireField};
    use serde_json::json;

    fn field(kind: PromptType, required: bool) -> ResolvedField {
        ResolvedField {
            kind,
            required,
            server_value: "server".into(),
            challenge: WireField {
                field_key: "f".into(),
                label: "F".into(),
                kind: String::new(),
                required,
                placeholder: String::new(),
                initial_value: String::new(),
                order: 0,
                sub_text: String::new(),
                choices: Some(vec![
                    PromptChoice {
                        label: "A".into(),
                        value: "a".into(),
                    },
                    PromptChoice {
                        label: "One".into(),
                        value: "1".into(),
                    },
                ]),
            },
        }
    }

    fn check(
        kind: PromptType,
        required: bool,
        sent: Option<Value>,
    ) -> Result<Option<Value>, FieldError> {
        validate_field(&field(kind, required), sent.as_ref())
    }

    fn code(kind: PromptType, sent: Value) -> &'static str {
        check(kind, true, Some(sent)).unwrap_err().code
    }

    #[test]
    fn missing_required_and_null_are_drf_errors() {
        assert_eq!(
            check(PromptType::Text, true, None),
            Err(FieldError::required())
        );
        assert_eq!(check(PromptType::Text, false, None), Ok(None));
        assert_eq!(
            check(PromptType::Text, false, Some(json!(null))),
            Err(FieldError::null())
        );
        // Checkboxes and separators are never required.
        assert_eq!(check(PromptType::Checkbox, true, None), Ok(None));
        assert_eq!(check(PromptType::Separator, true, None), Ok(None));
    }

    #[test]
    fn a_default_removes_required_and_fills_in() {
        let mut number = field(PromptType::Number, true);
        number.challenge.initial_value = "7".into();
        assert_eq!(validate_field(&number, None), Ok(Some(json!(7))));
        assert_eq!(
            validate_field(&number, Some(&json!("8"))),
            Ok(Some(json!(8)))
        );
    }

    #[test]
    fn text_keeps_whitespace_and_blank_only_when_optional() {
        assert_eq!(
            check(PromptType::Text, true, Some(json!("  x "))),
            Ok(Some(json!("  x ")))
        );
        assert_eq!(code(PromptType::Text, json!("")), "blank");
        assert_eq!(
            check(PromptType::Text, false, Some(json!(""))),
            Ok(Some(json!("")))
        );
        assert_eq!(code(PromptType::Text, json!(["x"])), "invalid");
        assert_eq!(
            code(PromptType::Text, json!("x".repeat(MAX_TEXT_LEN + 1))),
            "max_length"
        );
        assert_eq!(
            check(PromptType::AkLocale, true, Some(json!(""))),
            Ok(Some(json!("")))
        );
    }

    #[test]
    fn server_values_win_for_hidden_static_and_read_only() {
        for kind in [PromptType::Hidden, PromptType::Static] {
            assert_eq!(
                check(kind, true, Some(json!("evil"))),
                Ok(Some(json!("server")))
            );
            assert_eq!(check(kind, true, None), Ok(Some(json!("server"))));
        }
        assert_eq!(
            check(PromptType::TextReadOnly, true, Some(json!("evil"))),
            Ok(Some(json!("server")))
        );
        // Read-only text still honours `required` (authentik's behaviour).
        assert_eq!(
            check(PromptType::TextAreaReadOnly, true, None),
            Err(FieldError::required())
        );
    }

    #[test]
    fn numbers_dates_and_checkboxes() {
        assert_eq!(
            check(PromptType::Number, true, Some(json!("42"))),
            Ok(Some(json!(42)))
        );
        assert_eq!(
            check(PromptType::Number, true, Some(json!(3.0))),
            Ok(Some(json!(3)))
        );
        assert_eq!(
            check(PromptType::Number, true, Some(json!(" 5.00 "))),
            Ok(Some(json!(5)))
        );
        for bad in [
            json!("4x"),
            json!(1.5),
            json!(true),
            json!("99999999999999999999"),
        ] {
            assert_eq!(
                check(PromptType::Number, true, Some(bad.clone())),
                Err(FieldError::new(INVALID_INTEGER, "invalid")),
                "{bad}"
            );
        }
        assert_eq!(
            code(PromptType::Number, json!("1".repeat(1001))),
            "max_string_length"
        );
        assert_eq!(
            check(PromptType::Date, true, Some(json!("2024-02-29"))),
            Ok(Some(json!("2024-02-29")))
        );
        assert_eq!(
            check(PromptType::Date, true, Some(json!("2023-02-29"))),
            Err(FieldError::new(INVALID_DATE, "invalid"))
        );
        assert_eq!(
            check(PromptType::DateTime, true, Some(json!("2024-01-02T03:04"))),
            Ok(Some(json!("2024-01-02T03:04:00Z")))
        );
        assert_eq!(
            check(
                PromptType::DateTime,
                true,
                Some(json!("2024-01-02T03:04:05+02:00"))
            ),
            Ok(Some(json!("2024-01-02T01:04:05Z")))
        );
        assert_eq!(code(PromptType::DateTime, json!("yesterday")), "invalid");
        assert_eq!(
            check(PromptType::Checkbox, true, Some(json!("on"))),
            Ok(Some(json!(true)))
        );
        assert_eq!(code(PromptType::Checkbox, json!("perhaps")), "invalid");
    }

    #[test]
    fn choices_must_be_offered() {
        assert_eq!(
            check(PromptType::Dropdown, true, Some(json!("a"))),
            Ok(Some(json!("a")))
        );
        // str(1) == "1", as DRF compares.
        assert_eq!(
            check(PromptType::RadioButtonGroup, true, Some(json!(1))),
            Ok(Some(json!("1")))
        );
        assert_eq!(
            check(PromptType::Dropdown, true, Some(json!("x"))),
            Err(FieldError::new(
                "\"x\" is not a valid choice.",
                "invalid_choice"
            ))
        );
        let long = check(PromptType::Dropdown, true, Some(json!("y".repeat(10_000)))).unwrap_err();
        assert!(long.message.len() < 300);
    }

    #[test]
    fn files_are_base64_data_uris() {
        assert_eq!(
            check(
                PromptType::File,
                true,
                Some(json!("data:text/plain;base64,aGk="))
            ),
            Ok(Some(json!("data:text/plain;base64,aGk=")))
        );
        assert_eq!(
            check(PromptType::File, true, Some(json!("https://x/y.png"))),
            Err(FieldError::new(INVALID_SCHEME, "invalid"))
        );
        assert_eq!(
            check(PromptType::File, true, Some(json!("data:text/plain,hi"))),
            Err(FieldError::new(INVALID_ENCODING, "invalid"))
        );
    }

    #[test]
    fn email_addresses() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x@localhost",
            "\"q s\"@ex.com",
            "u@[127.0.0.1]",
            "a@bücher.de",
        ] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in [
            "",
            "plain",
            "a@",
            "@b.co",
            "a@b",
            "a..b@c.de",
            "a@-b.de",
            "a@b.c",
            "a b@c.de",
            "a@b.123",
            "ü@x.de",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert_eq!(
            check(PromptType::Email, true, Some(json!("nope"))),
            Err(FieldError::new(INVALID_EMAIL, "invalid"))
        );
        assert_eq!(
            check(PromptType::Email, false, Some(json!(""))),
            Ok(Some(json!("")))
        );
    }
}
