//! The blueprints built into keyflow (`server/blueprints/default/*.yaml`, embedded at build time
//! in file-name order) and their start-up application.
//!
//! Re-applying on every start would revert an administrator's edits to the default flows, so
//! each blueprint's SHA-256 is kept in the `settings` table (`blueprint_sha256:<file>`): a
//! blueprint is applied when it is new or its embedded text changed, and left alone otherwise.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use sha2::{Digest, Sha256};

use super::apply::{ApplyOptions, Source};
use super::error::ApplyError;
use super::format;
use crate::store::setting;

/// `(file name, content)` of every embedded blueprint, sorted by file name.
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/default_blueprints.rs"));

const HASH_SETTING_PREFIX: &str = "blueprint_sha256:";

/// Every embedded blueprint, named `default/<file>`.
pub fn sources() -> Vec<Source> {
    EMBEDDED
        .iter()
        .map(|(file, content)| Source {
            name: format!("default/{file}"),
            content: (*content).to_owned(),
        })
        .collect()
}

fn digest(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Applies the embedded blueprints that are new or changed since they were last applied, in
/// one transaction, and records their hashes. Returns how many were applied.
pub async fn apply_defaults(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<usize, ApplyError> {
    let mut pending = Vec::new();
    for source in sources() {
        let blueprint = format::parse(&source.name, &source.content)?;
        if !blueprint.instantiates() {
            continue;
        }
        let key = format!("{HASH_SETTING_PREFIX}{}", source.name);
        let hash = digest(&source.content);
        let stored = setting::Entity::find_by_id(key.clone()).one(db).await?;
        if stored.as_ref().is_some_and(|row| row.value == hash) {
            continue;
        }
        pending.push((source, key, hash, stored.is_some()));
    }
    if pending.is_empty() {
        return Ok(0);
    }
    let sources: Vec<Source> = pending.iter().map(|(s, ..)| s.clone()).collect();
    let options = ApplyOptions {
        dry_run: false,
        allow_env: true,
        now,
    };
    let report = crate::admin::versions::apply_and_record(db, &sources, &options, None).await?;
    for blueprint in &report.blueprints {
        for entry in &blueprint.entries {
            if let super::report::Outcome::Skipped { reason } = &entry.outcome {
                tracing::warn!(blueprint = %blueprint.source, entry = %entry.entry, %reason, "blueprint entry skipped");
            }
        }
    }
    // Hashes are recorded after the apply committed: a crash in between only means the
    // (idempotent) blueprint is applied once more.
    for (source, key, hash, existed) in pending {
        let row = setting::ActiveModel {
            key: Set(key),
            value: Set(hash),
        };
        if existed {
            row.update(db).await?;
        } else {
            row.insert(db).await?;
        }
        tracing::info!(blueprint = %source.name, "applied embedded blueprint");
    }
    Ok(sources.len())
}
