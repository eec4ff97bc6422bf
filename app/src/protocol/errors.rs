use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One validation error, as authentik (DRF) reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub string: String,
    pub code: String,
}

/// Errors that belong to no single field are reported under this key.
pub const NON_FIELD_ERRORS: &str = "non_field_errors";

/// `response_errors`: field name → errors. Ordered so the JSON is stable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResponseErrors(pub BTreeMap<String, Vec<ErrorDetail>>);

impl ResponseErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, message: impl Into<String>, code: &str) -> Self {
        let mut errors = Self::new();
        errors.add(field, message, code);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>, code: &str) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(ErrorDetail {
                string: message.into(),
                code: code.to_owned(),
            });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Messages for one field (for rendering next to that field).
    pub fn for_field(&self, field: &str) -> Vec<String> {
        self.0
            .get(field)
            .map(|errors| errors.iter().map(|e| e.string.clone()).collect())
            .unwrap_or_default()
    }

    pub fn merge(&mut self, other: ResponseErrors) {
        for (field, errors) in other.0 {
            self.0.entry(field).or_default().extend(errors);
        }
    }
}
