//! Reads a challenge response field by field, collecting errors the way authentik (DRF) words
//! them, so that every problem with a body ends up in `response_errors` instead of a 4xx or 500.

use app::protocol::{ResponseErrors, NON_FIELD_ERRORS};
use serde_json::{Map, Value};

/// Upper bound for free-text fields: long enough for any real identifier or password, short
/// enough that nobody makes us hash megabytes.
pub const MAX_TEXT_LEN: usize = 4096;

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
                    self.errors.add(key, "This field is required.", "required");
                }
                None
            }
            Some(Value::Null) => {
                if required {
                    self.errors.add(key, "This field may not be null.", "null");
                }
                None
            }
            Some(Value::String(s)) if s.chars().count() > MAX_TEXT_LEN => {
                self.errors.add(
                    key,
                    format!("Ensure this field has no more than {MAX_TEXT_LEN} characters."),
                    "max_length",
                );
                None
            }
            Some(Value::String(s)) if s.is_empty() && !allow_blank => {
                self.errors
                    .add(key, "This field may not be blank.", "blank");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            // DRF's CharField accepts numbers and renders them as text.
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.errors.add(key, "Not a valid string.", "invalid");
                None
            }
        }
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
                self.errors.add(key, "This field is required.", "required");
                None
            }
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if matches!(s.as_str(), "true" | "True" | "on" | "1") => {
                Some(true)
            }
            Some(Value::String(s)) if matches!(s.as_str(), "false" | "False" | "off" | "0") => {
                Some(false)
            }
            Some(_) => {
                self.errors.add(key, "Must be a valid boolean.", "invalid");
                None
            }
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
        let body = json!({"a": [1], "b": long, "c": "", "d": 5, "e": "yes"});
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
