//! Persistence: sea-orm entities, migrations and the connection. SQLite is the embedded default
//! (a file, created on start-up); PostgreSQL is the scale-out path. Both run the same migrations.

pub mod entities;
pub mod migrations;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

pub use entities::*;

/// Splits a serde-tagged configuration (`{"kind": …, "config": …}`) into the `kind` and
/// `config` column values that stages and policies are stored as.
pub fn tagged_columns<T: serde::Serialize>(value: &T) -> (String, serde_json::Value) {
    let tagged = serde_json::to_value(value).unwrap_or_default();
    let kind = tagged
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned();
    let config = tagged
        .get("config")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    (kind, config)
}

/// Connects and brings the schema up to date.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time on SQLite; a small pool avoids "database is locked" storms.
        options.max_connections(4);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("PRAGMA foreign_keys = ON").await?;
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
        db.execute_unprepared("PRAGMA busy_timeout = 5000").await?;
    }
    migrations::Migrator::up(&db, None).await?;
    Ok(db)
}

/// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`), so it waits its turn (the busy timeout) instead of failing with
/// `SQLITE_BUSY` when another writer — the mail queue's worker, another request — commits
/// between this transaction's first read and its first write. PostgreSQL ignores the mode.
pub async fn begin_write<C>(db: &C) -> Result<C::Transaction, DbErr>
where
    C: sea_orm::TransactionTrait,
{
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
