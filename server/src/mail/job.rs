//! The queued job and its delivery: what is stored per mail, and what the worker does with it.

use chrono::Utc;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{message, transport, MailError, MailId, MailSettings, OutgoingMail, SmtpSettings};
use crate::events::{self, action, NewEvent};
use crate::mfa::crypto::MfaKeys;
use crate::stages::StageConfig;
use crate::store::stage;

/// Associated data binding a sealed SMTP password to its mail.
fn password_aad(id: MailId) -> Vec<u8> {
    format!("keyflow mail smtp password {id}").into_bytes()
}

/// One queued mail: rendered content plus where to send it from. Never holds a clear-text
/// password.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MailJob {
    pub id: MailId,
    /// Settings come from this stage at delivery; a deleted stage discards the mail.
    pub stage_id: Option<Uuid>,
    /// Settings for mails without a stage (the password field holds the sealed password).
    pub smtp: SmtpSettings,
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
}

impl MailJob {
    pub fn new(
        id: MailId,
        mail: &OutgoingMail,
        rendered: super::Rendered,
        settings: &MailSettings,
        keys: &MfaKeys,
    ) -> Result<Self, MailError> {
        // Addresses are checked now, so a typo is the caller's error rather than a mail that
        // fails forever in the queue.
        message::format_recipient(&mail.to_name, &mail.to_address)?;
        let mut smtp = mail.smtp.clone();
        let sender = if smtp.use_global_settings {
            &settings.global.from_address
        } else {
            &smtp.from_address
        };
        message::parse_sender(sender)?;
        smtp.password =
            if mail.stage_id.is_some() || smtp.use_global_settings || smtp.password.is_empty() {
                String::new()
            } else {
                keys.seal(smtp.password.as_bytes(), &password_aad(id))
                    .map_err(|e| MailError::Crypto(e.to_string()))?
            };
        Ok(Self {
            id,
            stage_id: mail.stage_id,
            smtp,
            to_name: mail.to_name.clone(),
            to_address: mail.to_address.clone(),
            subject: mail.subject.clone(),
            html: rendered.html,
            text: rendered.text,
        })
    }
}

/// What the worker needs to deliver mails.
#[derive(Clone)]
pub struct Delivery {
    pub db: DatabaseConnection,
    pub settings: MailSettings,
    pub keys: MfaKeys,
}

/// A delivery attempt that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: the server may come back.
    #[error("{0}")]
    Retry(String),
}

impl Delivery {
    /// Delivers one mail (attempt `attempt`, 1-based). `Ok` also when the mail is discarded
    /// (its stage was deleted, or its data can no longer be used).
    pub async fn deliver(&self, job: &MailJob, attempt: usize) -> Result<(), DeliveryError> {
        let Some(smtp) = self.resolve_settings(job).await? else {
            tracing::info!(mail = %job.id, "mail discarded: its stage was deleted");
            return Ok(());
        };
        let result = self.send(job, &smtp).await;
        let to = message::format_recipient(&job.to_name, &job.to_address)
            .map(|m| m.to_string())
            .unwrap_or_else(|_| job.to_address.clone());
        match result {
            Ok(()) => {
                self.record(
                    action::EMAIL_SENT,
                    json!({
                        "message": format!("Email to {to} sent"),
                        "subject": job.subject,
                        "from_email": smtp.from_address,
                        "to_email": [job.to_address],
                        "message_id": message::parse_sender(&smtp.from_address)
                            .map(|from| message::message_id(job.id.0, &from))
                            .unwrap_or_default(),
                    }),
                )
                .await;
                Ok(())
            }
            Err(error) => {
                let last = attempt > self.settings.worker.retries as usize;
                tracing::warn!(mail = %job.id, attempt, "mail delivery failed: {error}");
                self.record(
                    action::SYSTEM_EXCEPTION,
                    json!({
                        "message": if last {
                            format!("Failed to send email to {to}, giving up: {error}")
                        } else {
                            format!("Failed to send email to {to}, will retry: {error}")
                        },
                        "task": "send_mail",
                        "subject": job.subject,
                        "to_email": [job.to_address],
                        "attempt": attempt,
                    }),
                )
                .await;
                Err(DeliveryError::Retry(error))
            }
        }
    }

    /// The settings to send with: the stage's current ones (or global), `None` if the stage is
    /// gone or is no longer a mail stage.
    async fn resolve_settings(&self, job: &MailJob) -> Result<Option<SmtpSettings>, DeliveryError> {
        let own = match job.stage_id {
            Some(stage_id) => {
                let row = stage::Entity::find_by_id(stage_id)
                    .one(&self.db)
                    .await
                    .map_err(|e| DeliveryError::Retry(format!("database: {e}")))?;
                let Some(row) = row else { return Ok(None) };
                match StageConfig::from_row(&row) {
                    Ok(StageConfig::Email(s)) => s.smtp,
                    Ok(StageConfig::AuthenticatorEmail(s)) => s.smtp,
                    _ => return Ok(None),
                }
            }
            None => {
                let mut smtp = job.smtp.clone();
                if !smtp.password.is_empty() {
                    match self.keys.open(&smtp.password, &password_aad(job.id)) {
                        Ok(plain) => smtp.password = String::from_utf8_lossy(&plain).into_owned(),
                        // Sealed under another install key: the password is lost for good.
                        Err(e) => {
                            tracing::error!(mail = %job.id, "mail discarded: SMTP password unreadable: {e}");
                            return Ok(None);
                        }
                    }
                }
                smtp
            }
        };
        Ok(Some(if own.use_global_settings {
            self.settings.global.clone()
        } else {
            own
        }))
    }

    async fn send(&self, job: &MailJob, smtp: &SmtpSettings) -> Result<(), String> {
        let from = message::parse_sender(&smtp.from_address).map_err(|e| e.to_string())?;
        let to =
            message::format_recipient(&job.to_name, &job.to_address).map_err(|e| e.to_string())?;
        let message_id = message::message_id(job.id.0, &from);
        let built = message::build(message::Parts {
            from,
            to,
            subject: &job.subject,
            message_id: &message_id,
            html: &job.html,
            text: job.text.as_deref(),
        })
        .map_err(|e| format!("cannot build the message: {e}"))?;
        transport::send(smtp, built)
            .await
            .map_err(|e| e.to_string())
    }

    async fn record(&self, action: &str, context: serde_json::Value) {
        let event = NewEvent {
            action,
            user: None,
            client_ip: "",
            context,
            now: Utc::now(),
        };
        if let Err(e) = events::record(&self.db, event).await {
            tracing::error!("cannot record the mail event: {e}");
        }
    }
}
