//! What an admin operation can fail with. Input problems carry per-field messages, so the REST
//! layer can answer DRF's `{"field": ["message"]}` and the UI can show each under its field.

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use crate::blueprints::error::EntryError;

/// DRF's key for errors about the input as a whole.
pub const NON_FIELD_ERRORS: &str = "non_field_errors";

/// Messages per field name (`non_field_errors` for the input as a whole).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds every error of `other`.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// `Ok(())` when there are no errors, else `Err(AdminError::Invalid(self))`.
    pub fn into_result(self) -> Result<(), AdminError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Invalid(self))
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

/// The field serde names in "missing field `x`", if that is the message.
pub fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// Where a stage is used (authentik's `UsedBy`): a flow's stage binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageUse {
    pub binding: uuid::Uuid,
    pub flow_slug: String,
    pub flow_name: String,
    pub order: i32,
}

#[derive(Debug, Error)]
pub enum AdminError {
    /// The actor is not a superuser.
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    /// The collection does not offer this operation (DRF's 405), e.g. creating in `stages/all`.
    #[error("Method \"{0}\" not allowed.")]
    MethodNotAllowed(&'static str),
    /// The input is invalid; nothing was changed.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// A stage still bound in flows cannot be deleted without `force`.
    #[error("stage {stage:?} is used by {} binding(s) ({}); remove them first or delete with force", used_by.len(), used_by.iter().map(|u| u.flow_slug.as_str()).collect::<Vec<_>>().join(", "))]
    StageInUse {
        stage: String,
        used_by: Vec<StageUse>,
    },
    /// Hashing a new password failed (e.g. every hashing slot stayed busy).
    #[error("password hashing failed: {0}")]
    Password(crate::engine::EngineError),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// Something that is not the caller's fault (e.g. an export that could not be written).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AdminError::Invalid(FieldErrors::single(field, message))
    }
}

impl From<EntryError> for AdminError {
    fn from(error: EntryError) -> Self {
        match error {
            EntryError::Invalid {
                field: Some(field),
                message,
            } => AdminError::field(&field, message),
            EntryError::Invalid {
                field: None,
                message,
            } => AdminError::field(NON_FIELD_ERRORS, message),
            EntryError::Unsupported(message) => AdminError::field(NON_FIELD_ERRORS, message),
            EntryError::Database(error) => AdminError::Database(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_errors_keep_their_field() {
        let error = AdminError::from(EntryError::field("slug", "bad slug"));
        let AdminError::Invalid(errors) = error else {
            panic!("not invalid: {error:?}");
        };
        assert_eq!(errors.0["slug"], vec!["bad slug".to_owned()]);
        let error = AdminError::from(EntryError::entry("exactly one"));
        let AdminError::Invalid(errors) = error else {
            panic!("not invalid");
        };
        assert_eq!(errors.to_string(), "non_field_errors: exactly one");
    }
}
