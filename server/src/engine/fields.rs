//! Reads a challenge response field by field, collecting errors the way authentik (DRF) words
//! them, so that every problem with a body ends up in `response_errors` instead of a 4xx or 500.

use app::protocol::{ResponseErrors, NON_FIELD_ERRORS};
use serde_json::{Map, Value};

/// Upper bound for free-text fields: long enough for any real identifier or password, short
/// enough that nobody makes us hash megabytes.
pub const MAX_TEXT_LEN: usize = 4096;

/// One field's problem, worded and coded as DRF does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub message: String,
    pub code: &'static str,
}

impl FieldError {
    pub fn new(message: impl Into<String>, code: &'static str) -> Self {
        Self {
            message: message.into(),
            code,
        }
    }

    /// A required field that was not sent.
    pub fn required() -> Self {
        Self::new("This field is required.", "required")
    }

    /// A field sent as `null`.
    pub fn null() -> Self {
        Self::new("This field may not be null.", "null")
    }
}

/// A present, non-null value read as DRF's CharField reads it: strings (at most `max_len`
/// characters; blank only if `allow_blank`; whitespace kept) and numbers (as text).
pub fn string_value(
    value: &Value,
    max_len: usize,
    allow_blank: bool,
) -> Result<String, FieldError> {
    match value {
        Value::String(s) if s.chars().count() > max_len => Err(FieldError::new(
            format!("Ensure this field has no more than {max_len} characters."),
            "max_length",
        )),
        Value::String(s) if s.is_empty() && !allow_blank => {
            Err(FieldError::new("This field may not be blank.", "blank"))
        }
        Value::String(s) => Ok(s.clone()),
        // DRF's CharField accepts numbers and renders them as text.
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(FieldError::new("Not a valid string.", "invalid")),
    }
}

/// A present value read as DRF's BooleanField reads it (`true`, `"on"`, `"yes"`, `1`, …).
pub fn bool_value(value: &Value) -> Result<bool, FieldError> {
    const TRUE: &[&str] = &["t", "y", "yes", "true", "on", "1"];
    const FALSE: &[&str] = &["f", "n", "no", "false", "off", "0"];
    let invalid = || FieldError::new("Must be a valid boolean.", "invalid");
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        // DRF lists the lower-, title- and upper-case spellings; "tRUE" is not one of them.
        Value::String(s) if is_drf_spelling(s, TRUE) => Ok(true),
        Value::String(s) if is_drf_spelling(s, FALSE) => Ok(false),
        _ => Err(invalid()),
    }
}

fn is_drf_spelling(text: &str, words: &[&str]) -> bool {
    words.iter().any(|word| {
        let mut title = word.to_string();
        if let Some(first) = title.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        text == *word || text == title || text == word.to_ascii_uppercase()
    })
}

pub struct ResponseFields<'a> {
    body: Option<&'a Map<String, Value>>,
    errors: ResponseErrors,
}

impl<'a> ResponseFields<'a> {
    pub fn new(body: &'a Value) -> Self {
        match body {
            Value::Object(map) => Self {
                body: Some(map),
                errors: ResponseErrors::new(),
            },
            other => {
                let kind = match other {
                    Value::Array(_) => "list",
                    Value::String(_) => "str",
                    Value::Number(_) => "int",
                    Value::Bool(_) => "bool",
                    _ => "null",
                };
                let errors = ResponseErrors::single(
                    NON_FIELD_ERRORS,
                    format!("Invalid data. Expected a dictionary, but got {kind}."),
                    "invalid",
                );
                Self { body: None, errors }
            }
        }
    }

    fn raw(&self, key: &str) -> Option<&'a Value> {
        self.body.and_then(|map| map.get(key))
    }

    fn text(&mut self, key: &str, required: bool, allow_blank: bool) -> Option<String> {
        // A body that is not an object already has its one error (as DRF reports it).
        self.body?;
        match self.raw(key) {
            None => {
                if required {
                    self.add_error(key, FieldError::required());
                }
                None
            }
            Some(Value::Null) => {
                if required {
                    self.add_error(key, FieldError::null());
                }
                None
            }
            Some(value) => match string_value(value, MAX_TEXT_LEN, allow_blank) {
                Ok(text) => Some(text),
                Err(error) => {
                    self.add_error(key, error);
                    None
                }
            },
        }
    }

    /// The body as an object; `None` when it is not one (that error is already recorded).
    pub fn object(&self) -> Option<&'a Map<String, Value>> {
        self.body
    }

    /// Records an error for `key` (a field name or [`NON_FIELD_ERRORS`]).
    pub fn add_error(&mut self, key: &str, error: FieldError) {
        self.errors.add(key, error.message, error.code);
    }

    /// A required, non-blank string (whitespace kept as sent).
    pub fn required_string(&mut self, key: &str) -> Option<String> {
        self.text(key, true, false)
    }

    /// An optional string; blank and null read as absent.
    pub fn optional_string(&mut self, key: &str) -> Option<String> {
        self.text(key, false, true).filter(|s| !s.is_empty())
    }

    pub fn required_bool(&mut self, key: &str) -> Option<bool> {
        self.body?;
        match self.raw(key) {
            None => {
                self.add_error(key, FieldError::required());
                None
            }
            Some(value) => match bool_value(value) {
                Ok(b) => Some(b),
                Err(error) => {
                    self.add_error(key, error);
                    None
                }
            },
        }
    }

    /// An optional JSON object (e.g. a WebAuthn assertion).
    pub fn optional_object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        match self.raw(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => {
                self.errors
                    .add(key, "Expected a dictionary of items.", "invalid");
                None
            }
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `Ok` when every field read so far was valid.
    pub fn finish(self) -> Result<(), ResponseErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_required_field_is_reported_like_drf() {
        let body = json!({"component": "ak-stage-password"});
        let mut fields = ResponseFields::new(&body);
        assert_eq!(fields.required_string("password"), None);
        let errors = fields.finish().unwrap_err();
        assert_eq!(
            errors.for_field("password"),
            vec!["This field is required."]
        );
    }

    #[test]
    fn wrong_types_and_oversized_values_are_field_errors() {
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        let body = json!({"a": [1], "b": long, "c": "", "d": 5, "e": "maybe"});
        let mut fields = ResponseFields::new(&body);
        assert_eq!(fields.required_string("a"), None);
        assert_eq!(fields.required_string("b"), None);
        assert_eq!(fields.required_string("c"), None);
        assert_eq!(fields.required_string("d"), Some("5".into()));
        assert_eq!(fields.required_bool("e"), None);
        let errors = fields.finish().unwrap_err();
        assert_eq!(errors.0["a"][0].code, "invalid");
        assert_eq!(errors.0["b"][0].code, "max_length");
        assert_eq!(errors.0["c"][0].code, "blank");
        assert_eq!(errors.0["e"][0].code, "invalid");
    }

    #[test]
    fn booleans_are_read_in_drf_spellings_only() {
        for yes in [
            json!(true),
            json!("on"),
            json!("True"),
            json!("YES"),
            json!(1),
        ] {
            assert_eq!(bool_value(&yes), Ok(true), "{yes}");
        }
        for no in [
            json!(false),
            json!("off"),
            json!("False"),
            json!("n"),
            json!(0),
        ] {
            assert_eq!(bool_value(&no), Ok(false), "{no}");
        }
        for bad in [
            json!("tRUE"),
            json!(2),
            json!([true]),
            json!(null),
            json!(""),
        ] {
            assert_eq!(bool_value(&bad).unwrap_err().code, "invalid", "{bad}");
        }
    }

    #[test]
    fn a_non_object_body_is_a_non_field_error() {
        let body = json!([1, 2]);
        let mut fields = ResponseFields::new(&body);
        assert_eq!(fields.required_string("password"), None);
        let errors = fields.finish().unwrap_err();
        assert_eq!(
            errors.0.keys().collect::<Vec<_>>(),
            [NON_FIELD_ERRORS],
            "only the one error, as DRF reports it"
        );
    }
}
