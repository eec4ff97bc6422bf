//! SMTP delivery with lettre over tokio and rustls: plain, STARTTLS (`use_tls`, required when
//! set) or implicit TLS (`use_ssl`). The password is only ever handed to lettre.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SmtpSettings;

/// Why a delivery failed; always worth a retry (the server may come back or be fixed).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("SMTP error: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Sends `message` with `settings` (host, port, TLS mode, credentials, timeout in seconds).
pub async fn send(settings: &SmtpSettings, message: Message) -> Result<(), SendError> {
    let tls = if settings.use_ssl {
        Tls::Wrapper(TlsParameters::new(settings.host.clone())?)
    } else if settings.use_tls {
        Tls::Required(TlsParameters::new(settings.host.clone())?)
    } else {
        Tls::None
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
            .port(settings.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(u64::from(
                settings.timeout.max(1),
            ))));
    if !settings.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            settings.username.clone(),
            settings.password.clone(),
        ));
    }
    builder.build().send(message).await?;
    Ok(())
}
