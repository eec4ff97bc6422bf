//! What can go wrong applying a blueprint, said precisely: which file, which entry, which model,
//! which field, and why.

use serde::Serialize;
use thiserror::Error;

/// A blueprint that cannot be applied as written. Nothing was changed.
#[derive(Clone, Debug, Error, PartialEq, Serialize)]
pub struct BlueprintError {
    /// The file name (or `api` / `default/<file>` for embedded ones).
    pub file: String,
    /// The entry's position, e.g. `entries[3]` or `entries.flows[0]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for BlueprintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(entry) = &self.entry {
            write!(f, ": {entry}")?;
        }
        if let Some(model) = &self.model {
            write!(f, " ({model})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field {field:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl BlueprintError {
    /// A problem with the file as a whole (syntax, version, shape).
    pub fn file(source: &str, message: impl Into<String>) -> Self {
        Self {
            file: source.to_owned(),
            entry: None,
            model: None,
            field: None,
            message: message.into(),
        }
    }
}

/// Why applying stopped.
#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("{0}")]
    Invalid(#[from] Box<BlueprintError>),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl From<BlueprintError> for ApplyError {
    fn from(error: BlueprintError) -> Self {
        ApplyError::Invalid(Box::new(error))
    }
}

/// A problem inside one entry, before the file and entry are attached.
#[derive(Debug)]
pub enum EntryError {
    /// The entry cannot be applied: `(field, why)`.
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// keyflow cannot store this entry (e.g. a stage kind it does not have): skipped, with why.
    Unsupported(String),
    Database(sea_orm::DbErr),
}

impl EntryError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        EntryError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn entry(message: impl Into<String>) -> Self {
        EntryError::Invalid {
            field: None,
            message: message.into(),
        }
    }
}

impl From<sea_orm::DbErr> for EntryError {
    fn from(error: sea_orm::DbErr) -> Self {
        EntryError::Database(error)
    }
}
