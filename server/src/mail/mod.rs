//! Outgoing mail (spec §4.12 "Mail details" and "Worker"): templates, the SMTP transport and a
//! persistent job queue.
//!
//! Callers (the Email stage, the Email authenticator, notifications) build an [`OutgoingMail`]
//! and call [`Mailer::enqueue`]: the template is rendered at once (so a broken template is the
//! caller's error, reported as a configuration error), and the rendered mail is written to the
//! job queue in the same database. A worker ([`Mailer::start_worker`]) delivers it, retrying with
//! exponential backoff while the SMTP server is unreachable, across restarts of keyflow.
//!
//! ```text
//! stage ──enqueue──▶ render template ──▶ jobs table (apalis, sea-orm's pool) ──▶ worker
//!                                                                          │ SMTP ok: email_sent event
//!                                                                          └ error: event + retry later
//! ```
//!
//! Secrets: SMTP passwords never enter the queue in clear text (a stage's settings are read
//! from the stage when the mail is sent; other settings carry the password sealed with the
//! install key) and never appear in events or logs.

mod job;
mod message;
mod queue;
pub mod templates;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

use crate::mfa::crypto::MfaKeys;
pub use crate::stages::email::SmtpSettings;
pub use message::format_recipient;
pub use templates::{Rendered, BUILTIN_TEMPLATES};

/// Identifies one queued mail; also the left part of its `Message-ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MailId(pub Uuid);

impl std::fmt::Display for MailId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One mail to send.
#[derive(Clone, Debug)]
pub struct OutgoingMail {
    /// The recipient's display name (may be empty; CR/LF are flattened, non-ASCII names are
    /// left out so the header is the bare address).
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    /// A built-in (`email/password_reset.html`, …, see [`BUILTIN_TEMPLATES`]) or a file under
    /// the custom template directory.
    pub template: String,
    /// Template variables: `url`, `user` (`name`, `username`, `email`), `expires`, `token`,
    /// `code`, … as the template expects.
    pub context: Value,
    /// The calling stage's SMTP settings (`use_global_settings` selects the install-wide ones).
    pub smtp: SmtpSettings,
    /// The calling stage: its current SMTP settings are used at delivery, and the mail is
    /// discarded if the stage was deleted meanwhile. `None` for mails not sent by a stage.
    pub stage_id: Option<Uuid>,
}

/// What can go wrong when queueing a mail. Delivery errors never reach the caller: the worker
/// retries them and records events.
#[derive(Debug, Error)]
pub enum MailError {
    /// Unknown template name (authentik's API message).
    #[error("Invalid template '{0}' specified.")]
    UnknownTemplate(String),
    /// The template exists but does not compile or render.
    #[error("Template '{template}' could not be rendered: {message}")]
    Template { template: String, message: String },
    /// The recipient or sender address is not a valid mail address.
    #[error("Invalid email address '{0}'")]
    InvalidAddress(String),
    /// The mail could not be stored in the queue.
    #[error("mail queue: {0}")]
    Queue(String),
    /// The SMTP password could not be sealed for storage.
    #[error("cannot protect the SMTP password: {0}")]
    Crypto(String),
}

/// Install-wide mail settings (`KEYFLOW_EMAIL__*`, `KEYFLOW_WORKER__*`).
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The global SMTP settings, used when a stage sets `use_global_settings`; `from_address`
    /// is `email.from`.
    pub global: SmtpSettings,
    /// Directory of custom templates (names are paths relative to it).
    pub template_dir: Option<PathBuf>,
    pub worker: WorkerSettings,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            global: SmtpSettings {
                use_global_settings: true,
                from_address: "authentik@localhost".into(),
                ..SmtpSettings::default()
            },
            template_dir: None,
            worker: WorkerSettings::default(),
        }
    }
}

/// How the delivery worker polls and retries.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// First retry delay; doubles each attempt (dramatiq's default minimum: 15 s).
    pub retry_min: Duration,
    /// Longest retry delay (1 h).
    pub retry_max: Duration,
    /// Retries after the first attempt (`worker.task_max_retries`, 5); then the mail is dropped
    /// and a `system_exception` event says so.
    pub retries: u32,
    /// How often the queue is polled for new mails.
    pub poll_interval: Duration,
    /// Worker heartbeat; a mail held by a worker silent for two heartbeats (a stopped keyflow)
    /// is handed to another worker.
    pub heartbeat: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            retry_min: Duration::from_secs(15),
            retry_max: Duration::from_secs(3600),
            retries: 5,
            poll_interval: Duration::from_secs(1),
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// The mail service; cheap to clone (lives in `EngineServices::mail`).
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    settings: MailSettings,
    templates: templates::Templates,
    keys: MfaKeys,
}

impl Mailer {
    /// A mailer over `db` (the queue's tables come from [`Mailer::migrate`], run at start-up).
    /// `keys` seal SMTP passwords that have to be stored with a queued mail.
    pub fn new(db: DatabaseConnection, settings: MailSettings, keys: MfaKeys) -> Self {
        let templates = templates::Templates::new(settings.template_dir.clone());
        Self {
            inner: Arc::new(Inner {
                db,
                settings,
                templates,
                keys,
            }),
        }
    }

    /// Creates or updates the job queue's tables (apalis' own migrations, recorded in sqlx's
    /// `_sqlx_migrations` table; on PostgreSQL in the `apalis` schema).
    pub async fn migrate(db: &DatabaseConnection) -> Result<(), MailError> {
        queue::migrate(db).await
    }

    pub fn settings(&self) -> &MailSettings {
        &self.inner.settings
    }

    /// `Ok` for a built-in template or an existing custom one; else
    /// [`MailError::UnknownTemplate`] ("Invalid template '<x>' specified.").
    pub fn check_template(&self, name: &str) -> Result<(), MailError> {
        self.inner.templates.check(name)
    }

    /// Renders a template without sending anything (previews, tests).
    pub fn render(&self, template: &str, context: &Value) -> Result<Rendered, MailError> {
        self.inner.templates.render(template, context)
    }

    /// Renders `mail.template` with `mail.context` and queues the mail for delivery with the
    /// stage's SMTP settings (or the global ones when `smtp.use_global_settings`). Returns once
    /// the job is committed to the database; delivery happens in the worker.
    ///
    /// Errors: [`MailError::UnknownTemplate`] / [`MailError::Template`] (the caller records a
    /// `configuration_error` event and denies access), [`MailError::InvalidAddress`],
    /// [`MailError::Queue`].
    pub async fn enqueue(&self, mail: OutgoingMail) -> Result<MailId, MailError> {
        let rendered = self.inner.templates.render(&mail.template, &mail.context)?;
        let id = MailId(Uuid::new_v4());
        let job = job::MailJob::new(id, &mail, rendered, &self.inner.settings, &self.inner.keys)?;
        queue::push(
            &self.inner.db,
            &job,
            self.inner.settings.worker.retries.saturating_add(1),
        )
        .await?;
        tracing::debug!(mail = %id, template = %mail.template, "mail queued");
        Ok(id)
    }

    /// Starts the delivery worker on the current tokio runtime. It runs until the returned
    /// handle is dropped (or [`MailWorker::stop`]); a mail it was holding is then picked up by
    /// the next worker after two heartbeats.
    pub fn start_worker(&self) -> MailWorker {
        let delivery = job::Delivery {
            db: self.inner.db.clone(),
            settings: self.inner.settings.clone(),
            keys: self.inner.keys.clone(),
        };
        MailWorker {
            task: Some(queue::spawn_worker(
                &self.inner.db,
                delivery,
                &self.inner.settings.worker,
            )),
        }
    }
}

/// The running delivery worker; stops when dropped.
pub struct MailWorker {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MailWorker {
    /// Stops the worker at once (an interrupted delivery is retried by the next worker).
    pub fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for MailWorker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
