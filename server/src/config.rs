//! Configuration from the environment. Names mirror authentik's (`KEYFLOW_` for `AUTHENTIK_`);
//! every setting has a default so that a bare start works on SQLite.

use clap::Args;

/// Environment and flags read by `keyflow serve`.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Database URL: `sqlite://path?mode=rwc` (default, file created if missing) or
    /// `postgres://user@host:5432/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/keyflow.db?mode=rwc"
    )]
    pub database_url: String,

    /// Address to listen on (Leptos' own variable).
    #[arg(long, env = "LEPTOS_SITE_ADDR")]
    pub site_addr: Option<String>,

    /// Leptos runtime settings file (site root, package dir, …).
    #[arg(long, env = "KEYFLOW_LEPTOS_CONFIG", default_value = "Leptos.toml")]
    pub leptos_config: String,

    /// Secret key for signing; generated and stored in the database on first start if unset.
    #[arg(long, env = "KEYFLOW_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Password of the `akadmin` superuser created on first start (no akadmin without it).
    #[arg(long, env = "KEYFLOW_BOOTSTRAP_PASSWORD", hide_env_values = true)]
    pub bootstrap_password: Option<String>,

    /// Email of the bootstrap superuser.
    #[arg(
        long,
        env = "KEYFLOW_BOOTSTRAP_EMAIL",
        default_value = "akadmin@localhost"
    )]
    pub bootstrap_email: String,

    /// An API token (Authorization: Bearer) for akadmin, created on first start.
    #[arg(long, env = "KEYFLOW_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,

    /// Log filter, e.g. `info`, `debug`, `keyflow=debug,tower_http=info`.
    #[arg(long, env = "KEYFLOW_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "KEYFLOW_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Mark cookies `Secure` (set when keyflow is served over HTTPS).
    #[arg(long, env = "KEYFLOW_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Password hashes (argon2id, 19 MiB each) run at once; default: one per CPU core.
    #[arg(long, env = "KEYFLOW_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,

    /// Longest wait, in milliseconds, for a free hashing slot before a login is told to try
    /// again.
    #[arg(
        long,
        env = "KEYFLOW_PASSWORD_QUEUE_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub password_queue_timeout_ms: u64,

    /// The expression sandbox's worker executable (default: this program).
    #[arg(long, env = "KEYFLOW_SANDBOX_WORKER")]
    pub sandbox_worker: Option<std::path::PathBuf>,

    /// Expression sandbox workers running at once (0: one per core).
    #[arg(long, env = "KEYFLOW_SANDBOX_WORKERS", default_value_t = 0)]
    pub sandbox_workers: usize,

    /// Memory one expression may use, in MiB.
    #[arg(long, env = "KEYFLOW_SANDBOX_MAX_MEMORY_MB", default_value_t = 64)]
    pub sandbox_max_memory_mb: usize,

    /// Global SMTP server (`email.host`), used by stages with `use_global_settings`.
    #[arg(long, env = "KEYFLOW_EMAIL__HOST", default_value = "localhost")]
    pub email_host: String,

    #[arg(long, env = "KEYFLOW_EMAIL__PORT", default_value_t = 25)]
    pub email_port: u16,

    #[arg(long, env = "KEYFLOW_EMAIL__USERNAME", default_value = "")]
    pub email_username: String,

    #[arg(
        long,
        env = "KEYFLOW_EMAIL__PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub email_password: String,

    /// STARTTLS (required when set).
    #[arg(long, env = "KEYFLOW_EMAIL__USE_TLS", default_value_t = false)]
    pub email_use_tls: bool,

    /// Implicit TLS (SMTPS).
    #[arg(long, env = "KEYFLOW_EMAIL__USE_SSL", default_value_t = false)]
    pub email_use_ssl: bool,

    /// SMTP connection timeout, in seconds.
    #[arg(long, env = "KEYFLOW_EMAIL__TIMEOUT", default_value_t = 10)]
    pub email_timeout: u32,

    /// Sender of mails sent with the global settings.
    #[arg(
        long,
        env = "KEYFLOW_EMAIL__FROM",
        default_value = "authentik@localhost"
    )]
    pub email_from: String,

    /// Directory of custom mail templates (selectable by their path relative to it).
    #[arg(long, env = "KEYFLOW_EMAIL__TEMPLATE_DIR")]
    pub email_template_dir: Option<std::path::PathBuf>,

    /// Mail retries: first delay in milliseconds (doubles per attempt).
    #[arg(long, env = "KEYFLOW_WORKER__RETRY_MIN_MS", default_value_t = 15_000)]
    pub worker_retry_min_ms: u64,

    /// Mail retries: longest delay in milliseconds.
    #[arg(
        long,
        env = "KEYFLOW_WORKER__RETRY_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub worker_retry_max_ms: u64,

    /// Mail retries after the first attempt (`worker.task_max_retries`).
    #[arg(long, env = "KEYFLOW_WORKER__TASK_MAX_RETRIES", default_value_t = 5)]
    pub worker_task_max_retries: u32,

    /// How often the mail queue is polled, in milliseconds.
    #[arg(long, env = "KEYFLOW_WORKER__POLL_INTERVAL_MS", default_value_t = 1000)]
    pub worker_poll_interval_ms: u64,

    /// Mail worker heartbeat in seconds; mails held by a worker silent for two heartbeats (a
    /// stopped keyflow) are taken over by a running one.
    #[arg(long, env = "KEYFLOW_WORKER__HEARTBEAT_SECS", default_value_t = 30)]
    pub worker_heartbeat_secs: u64,

    /// How long one call to an outside service (captcha verifier, SMS gateway, Duo) may take
    /// in all, in milliseconds; a slower answer is a stage error, never a pass.
    #[arg(long, env = "KEYFLOW_OUTBOUND_TIMEOUT_MS", default_value_t = 10_000)]
    pub outbound_timeout_ms: u64,

    /// Base URL of Twilio's REST API, for SMS stages with the Twilio provider (a proxy, or a
    /// local stand-in in tests).
    #[arg(long, env = "KEYFLOW_TWILIO_API_URL", default_value = crate::outbound::sms::TWILIO_API_URL)]
    pub twilio_api_url: String,
}

impl Config {
    /// The password hasher's bounds from these settings.
    pub fn hash_limits(&self) -> crate::auth::password::HashLimits {
        let defaults = crate::auth::password::HashLimits::default();
        crate::auth::password::HashLimits {
            concurrency: self
                .password_hash_concurrency
                .filter(|&n| n > 0)
                .unwrap_or(defaults.concurrency),
            queue_timeout: std::time::Duration::from_millis(self.password_queue_timeout_ms),
        }
    }

    /// The expression sandbox's settings.
    pub fn sandbox(&self) -> crate::sandbox::SandboxConfig {
        crate::sandbox::SandboxConfig {
            worker_exe: self.sandbox_worker.clone(),
            workers: self.sandbox_workers,
            max_memory_bytes: self.sandbox_max_memory_mb.saturating_mul(1024 * 1024),
            ..crate::sandbox::SandboxConfig::default()
        }
    }

    /// Mail settings: the global SMTP server, templates and the delivery worker.
    pub fn mail(&self) -> crate::mail::MailSettings {
        use std::time::Duration;
        crate::mail::MailSettings {
            global: crate::mail::SmtpSettings {
                use_global_settings: true,
                host: self.email_host.clone(),
                port: self.email_port,
                username: self.email_username.clone(),
                password: self.email_password.clone(),
                use_tls: self.email_use_tls,
                use_ssl: self.email_use_ssl,
                timeout: self.email_timeout,
                from_address: self.email_from.clone(),
            },
            template_dir: self.email_template_dir.clone(),
            worker: crate::mail::WorkerSettings {
                retry_min: Duration::from_millis(self.worker_retry_min_ms),
                retry_max: Duration::from_millis(self.worker_retry_max_ms),
                retries: self.worker_task_max_retries,
                poll_interval: Duration::from_millis(self.worker_poll_interval_ms.max(10)),
                heartbeat: Duration::from_secs(self.worker_heartbeat_secs.max(1)),
            },
        }
    }

    /// Ensures the directory of a SQLite file exists, so the default works on a fresh checkout.
    pub fn prepare_sqlite_dir(&self) -> std::io::Result<()> {
        if let Some(rest) = self.database_url.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or_default();
            if let Some(parent) = std::path::Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent)?;
            }
        }
        Ok(())
    }
}
