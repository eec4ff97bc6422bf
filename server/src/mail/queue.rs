//! The persistent queue: apalis' SQLite or PostgreSQL storage on sea-orm's own sqlx pool (one
//! database, one pool, one sqlx), and the worker that drains it.
//!
//! Retries: a failed delivery is retried in the worker with exponential backoff
//! (`retry_min`·2ⁿ, capped at `retry_max`, with jitter) up to `retries` times; the attempt count
//! is stored with the job, so a restart continues the count. A job held by a worker that
//! stopped (keyflow restarted) is released after two missed heartbeats and taken by the next
//! worker: nothing is lost. Delivery is at-least-once: only a crash between the SMTP server
//! accepting a mail and the job being marked done can send it twice.

use std::time::Duration;

use apalis::layers::retry::backoff::ExponentialBackoffMaker;
use apalis::layers::retry::backoff::MakeBackoff;
use apalis::layers::retry::HasherRng;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sea_orm::{DatabaseBackend, DatabaseConnection};

use super::job::{Delivery, MailJob};
use super::{MailError, WorkerSettings};

/// The queue (apalis `job_type`) that mails are stored under.
pub const QUEUE: &str = "keyflow::mail";

fn queue_error(e: impl std::fmt::Display) -> MailError {
    MailError::Queue(e.to_string())
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), MailError> {
    // Only the migrations: apalis' `setup` would also switch SQLite to `synchronous = OFF`,
    // which gives up the durability the queue is here for.
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => SqliteStorage::<()>::migrations()
            .run(db.get_sqlite_connection_pool())
            .await
            .map_err(queue_error),
        DatabaseBackend::Postgres => PostgresStorage::<()>::migrations()
            .run(db.get_postgres_connection_pool())
            .await
            .map_err(queue_error),
        other => Err(MailError::Queue(format!("unsupported database {other:?}"))),
    }
}

/// Stores `job`; returns after the insert is committed.
pub async fn push(
    db: &DatabaseConnection,
    job: &MailJob,
    max_attempts: u32,
) -> Result<(), MailError> {
    let args = serde_json::to_vec(job).map_err(queue_error)?;
    let task = TaskBuilder::new(args)
        .max_attempts(max_attempts as usize)
        .build();
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let mut tx = db
                .get_sqlite_connection_pool()
                .begin()
                .await
                .map_err(queue_error)?;
            apalis_sqlite::queries::push_tasks(&mut *tx, QUEUE, &[task])
                .await
                .map_err(queue_error)?;
            tx.commit().await.map_err(queue_error)
        }
        DatabaseBackend::Postgres => {
            let mut tx = db
                .get_postgres_connection_pool()
                .begin()
                .await
                .map_err(queue_error)?;
            apalis_postgres::queries::push_tasks(&mut *tx, QUEUE, vec![task])
                .await
                .map_err(queue_error)?;
            tx.commit().await.map_err(queue_error)
        }
        other => Err(MailError::Queue(format!("unsupported database {other:?}"))),
    }
}

/// Runs one delivery attempt; an `Err` makes apalis retry (with backoff) or give up.
async fn deliver(
    job: MailJob,
    delivery: Data<Delivery>,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    delivery
        .deliver(&job, attempt.current())
        .await
        .map_err(|e| Box::new(e) as BoxDynError)
}

/// A worker name unique to this process start, so a restarted keyflow is a new worker and the
/// jobs of the old one count as orphaned.
fn worker_name() -> String {
    format!("keyflow-mail-{}", uuid::Uuid::new_v4().simple())
}

pub fn spawn_worker(
    db: &DatabaseConnection,
    delivery: Delivery,
    settings: &WorkerSettings,
) -> tokio::task::JoinHandle<()> {
    let backoff = ExponentialBackoffMaker::new(
        settings.retry_min,
        settings.retry_max.max(settings.retry_min),
        0.1,
        HasherRng::default(),
    );
    let policy = match backoff {
        Ok(mut maker) => {
            RetryPolicy::retries(settings.retries as usize).with_backoff(maker.make_backoff())
        }
        // Only when min > max or the jitter is out of range, which the arguments above rule out.
        Err(e) => {
            tracing::error!("mail retry backoff: {e}");
            return tokio::spawn(async {});
        }
    };
    let heartbeat = settings.heartbeat.max(Duration::from_secs(1));
    let poll = settings.poll_interval;
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let config = apalis_sqlite::Config::default()
                .queue(QUEUE)
                .heartbeat_interval(heartbeat);
            let backend = SqliteStorage::<MailJob>::new(db.get_sqlite_connection_pool())
                .with_config(config)
                .poll_with_interval(poll);
            let worker = WorkerBuilder::new(worker_name())
                .backend(backend)
                .data(delivery)
                .retry(policy)
                .build(deliver);
            tokio::spawn(async move {
                if let Err(e) = worker.run().await {
                    tracing::error!("mail worker stopped: {e}");
                }
            })
        }
        DatabaseBackend::Postgres => {
            let config = apalis_postgres::Config::default()
                .queue(QUEUE)
                .heartbeat_interval(heartbeat);
            let backend = PostgresStorage::<MailJob>::new(db.get_postgres_connection_pool())
                .with_config(config)
                .poll_with_interval(poll);
            let worker = WorkerBuilder::new(worker_name())
                .backend(backend)
                .data(delivery)
                .retry(policy)
                .build(deliver);
            tokio::spawn(async move {
                if let Err(e) = worker.run().await {
                    tracing::error!("mail worker stopped: {e}");
                }
            })
        }
        other => {
            tracing::error!("no mail worker: unsupported database {other:?}");
            tokio::spawn(async {})
        }
    }
}
