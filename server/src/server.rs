//! Start-up: connect and migrate, bootstrap, build the router and serve.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use leptos::prelude::LeptosOptions;
use thiserror::Error;

use crate::auth::password::PasswordHasher;
use crate::config::Config;
use crate::engine::{EngineError, EngineServices, EngineSettings};
use crate::http::{router, AppState};

#[derive(Debug, Error)]
pub enum StartupError {
    #[error("cannot prepare the data directory: {0}")]
    DataDir(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::MailError),
    #[error("default blueprints: {0}")]
    Blueprints(#[from] crate::blueprints::ApplyError),
    #[error("Leptos configuration: {0}")]
    Leptos(String),
    #[error("invalid listen address {0:?}")]
    Address(String),
}

/// Leptos runtime options: `Leptos.toml` when present (with `LEPTOS_*` overrides), else the
/// environment alone.
pub fn leptos_options(config: &Config) -> Result<LeptosOptions, StartupError> {
    let path = std::path::Path::new(&config.leptos_config);
    let file = path.exists().then_some(config.leptos_config.as_str());
    let mut options = leptos_config::get_configuration(file)
        .map_err(|e| StartupError::Leptos(e.to_string()))?
        .leptos_options;
    if let Some(addr) = &config.site_addr {
        options.site_addr = addr
            .parse()
            .map_err(|_| StartupError::Address(addr.clone()))?;
    }
    Ok(options)
}

/// Everything `serve` builds before listening; tests use it to run a real server in-process.
pub async fn build_state(
    config: &Config,
    leptos_options: LeptosOptions,
) -> Result<AppState, StartupError> {
    config.prepare_sqlite_dir()?;
    let db = crate::store::connect_and_migrate(&config.database_url).await?;
    let secret = crate::bootstrap::secret_key(&db, config.secret_key.as_deref()).await?;
    crate::mail::Mailer::migrate(&db).await?;
    let passwords = PasswordHasher::with_limits(config.hash_limits())?;
    // The default flows are embedded blueprints, applied when new or changed.
    crate::blueprints::embedded::apply_defaults(&db, Utc::now()).await?;
    crate::bootstrap::bootstrap_admin(
        &db,
        &passwords,
        config.bootstrap_password.as_deref(),
        &config.bootstrap_email,
        config.bootstrap_token.as_deref(),
        Utc::now(),
    )
    .await?;
    let mfa_keys = crate::mfa::crypto::MfaKeys::derive(&secret);
    let mail = crate::mail::Mailer::new(db.clone(), config.mail(), mfa_keys.clone());
    let mut outbound = crate::outbound::Outbound::with_timeout(std::time::Duration::from_millis(
        config.outbound_timeout_ms,
    ))?;
    outbound.twilio_api_url = config.twilio_api_url.clone();
    let services = EngineServices {
        db,
        settings: Arc::new(EngineSettings {
            mfa_keys,
            ..EngineSettings::default()
        }),
        passwords,
        sandbox: crate::sandbox::Sandbox::new(config.sandbox()),
        mail,
        outbound,
        completion: crate::stages::completion_hooks(),
        stages: crate::stages::registry(),
        policies: crate::policies::evaluator(),
        dry_run: None,
    };
    Ok(AppState {
        services,
        leptos_options,
        secure_cookies: config.secure_cookies,
        max_body_bytes: config.max_body_bytes,
    })
}

pub async fn serve(config: Config) -> Result<(), StartupError> {
    let options = leptos_options(&config)?;
    let addr = options.site_addr;
    let state = build_state(&config, options).await?;
    // Delivers queued mail until keyflow stops.
    let _mail_worker = state.services.mail.start_worker();
    crate::housekeeping::spawn(
        state.services.db.clone(),
        std::time::Duration::from_secs(300),
    );
    // A few seconds after a burst of logins the hash buffers go back to the allocator.
    state.services.passwords.spawn_memory_release(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(3),
    );
    let app = router(state);
    tracing::info!("keyflow listening on http://{addr}");
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// cargo-leptos builds from Cargo.toml's metadata, the server reads Leptos.toml at run time:
    /// where the two describe the same thing they must agree, or the page loads a missing bundle.
    #[test]
    fn leptos_toml_agrees_with_the_build_settings() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
        let (cargo, runtime) = (read("Cargo.toml"), read("Leptos.toml"));
        let value = |text: &str, key: &str| {
            text.lines()
                .find_map(|line| {
                    let (k, v) = line.split_once('=')?;
                    (k.trim() == key).then(|| {
                        v.split('#')
                            .next()
                            .unwrap_or("")
                            .trim()
                            .trim_matches('"')
                            .to_owned()
                    })
                })
                .unwrap_or_default()
        };
        for (build_key, runtime_key) in [
            ("name", "output-name"),
            ("site-root", "site-root"),
            ("site-pkg-dir", "site-pkg-dir"),
            ("site-addr", "site-addr"),
            ("hash-files", "hash-files"),
        ] {
            let build = value(
                &cargo[cargo.find("[[workspace.metadata.leptos]]").unwrap_or(0)..],
                build_key,
            );
            assert!(
                !build.is_empty(),
                "{build_key} missing from Cargo.toml metadata"
            );
            assert_eq!(
                build,
                value(&runtime, runtime_key),
                "{build_key} vs Leptos.toml {runtime_key}"
            );
        }
    }

    #[test]
    fn leptos_toml_is_readable_by_leptos_config() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Leptos.toml");
        let conf = leptos_config::get_configuration(path.to_str()).map(|c| c.leptos_options);
        let options = conf.unwrap_or_else(|e| panic!("Leptos.toml: {e}"));
        assert_eq!(&*options.output_name, "keyflow");
        assert_eq!(&*options.site_pkg_dir, "pkg");
    }
}
