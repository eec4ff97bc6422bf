use thiserror::Error;

/// Failures of the engine itself (not of a person's input: that is a stage outcome).
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("flow not found")]
    FlowNotFound,
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("stored data is invalid: {0}")]
    CorruptData(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Every password-hashing slot stayed taken for the whole queue timeout (a burst of
    /// logins): the request is refused with "try again" instead of waiting longer.
    #[error("too many password checks at once")]
    Busy,
    #[error("the flow kept restarting without reaching a challenge")]
    RestartLoop,
    /// A stage kind whose configuration is stored but whose behaviour is not written yet.
    #[error("stage kind {0} is not implemented yet")]
    StageNotImplemented(&'static str),
    /// The client for outside services could not be made (its TLS backend failed to start).
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

impl From<serde_json::Error> for EngineError {
    fn from(error: serde_json::Error) -> Self {
        EngineError::CorruptData(error.to_string())
    }
}

pub type EngineResult<T> = Result<T, EngineError>;
