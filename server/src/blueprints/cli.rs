//! `keyflow blueprint apply [--dry-run] FILE…` and `keyflow blueprint export --flow SLUG`.

use std::path::PathBuf;

use chrono::Utc;
use clap::Subcommand;
use thiserror::Error;

use super::{export_flow, ApplyError, ApplyOptions, ExportError, Source};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum BlueprintCommand {
    /// Apply blueprint files, all in one transaction (nothing changes if any entry fails).
    Apply {
        /// Show what would change, then roll back.
        #[arg(long)]
        dry_run: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print a flow as a blueprint (YAML) on standard output.
    Export {
        /// The flow's slug.
        #[arg(long, value_name = "SLUG")]
        flow: String,
    },
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot prepare the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Apply(#[from] ApplyError),
    #[error("{0}")]
    Export(#[from] ExportError),
}

pub async fn run(config: &Config, command: BlueprintCommand) -> Result<(), CliError> {
    config.prepare_sqlite_dir().map_err(CliError::DataDir)?;
    match command {
        BlueprintCommand::Apply { dry_run, files } => {
            let mut sources = Vec::new();
            for path in files {
                let content = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                sources.push(Source {
                    name: path.display().to_string(),
                    content,
                });
            }
            let db = crate::store::connect_and_migrate(&config.database_url).await?;
            let options = ApplyOptions {
                dry_run,
                allow_env: true,
                now: Utc::now(),
            };
            let report =
                crate::admin::versions::apply_and_record(&db, &sources, &options, None).await?;
            print!("{}", report.to_text());
        }
        BlueprintCommand::Export { flow } => {
            let db = crate::store::connect_and_migrate(&config.database_url).await?;
            print!("{}", export_flow(&db, &flow).await?);
        }
    }
    Ok(())
}
