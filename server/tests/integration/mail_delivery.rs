//! Mail delivery end to end: keyflow's queue and worker against a real SMTP server process
//! (`end2end/smtp_sink.py`), on SQLite and PostgreSQL. The worker runs at test speed (retries
//! from 200 ms, 1 s heartbeat; see `common::TEST_WORKER_FLAGS`).

use std::time::Duration;

use crate::common::smtp::{ReceivedMail, SmtpSink};
use crate::common::{Db, TestServer};
use keyflow::mail::{OutgoingMail, SmtpSettings};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn smtp_to(sink: &SmtpSink) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        from_address: "keyflow <no-reply@example.com>".into(),
        timeout: 5,
        ..SmtpSettings::default()
    }
}

fn reset_mail(to_address: &str, smtp: SmtpSettings) -> OutgoingMail {
    OutgoingMail {
        to_name: "Ann Admin".into(),
        to_address: to_address.into(),
        subject: "Reset your password".into(),
        template: "email/password_reset.html".into(),
        context: json!({
            "url": "http://keyflow.test/if/flow/recovery/?flow_token=tok-123&next=<x>",
            "user": {"name": "Ann Admin", "username": "ann", "email": to_address},
            "expires": "2026-12-01T05:00:00Z",
            "token": "tok-123",
        }),
        smtp,
        stage_id: None,
    }
}

async fn events_named(server: &TestServer, action: &str) -> Vec<Value> {
    server
        .events()
        .await
        .into_iter()
        .filter(|(a, _, _)| a == action)
        .map(|(_, _, context)| context)
        .collect()
}

/// Polls until `predicate` holds for the events named `action`; panics after [`WAIT`].
async fn wait_for_events(
    server: &TestServer,
    action: &str,
    predicate: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let events = events_named(server, action).await;
        if predicate(&events) {
            return events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{action} events never matched: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn message_ids(mails: &[ReceivedMail]) -> Vec<String> {
    mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap_or_default().to_owned())
        .collect()
}

async fn a_mail_is_delivered_with_headers_and_both_parts(db: Db) {
    let sink = SmtpSink::start().await;
    let server = TestServer::start(db).await;
    let id = server
        .state
        .services
        .mail
        .enqueue(reset_mail("ann@example.com", smtp_to(&sink)))
        .await
        .expect("queued");

    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.header("From"), Some("keyflow <no-reply@example.com>"));
    assert_eq!(mail.header("To"), Some("Ann Admin <ann@example.com>"));
    assert_eq!(mail.header("Subject"), Some("Reset your password"));
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{}@example.com>", id.0.simple()).as_str())
    );
    assert!(mail.header("Date").is_some());
    assert_eq!(mail.rcpt_tos, ["ann@example.com"]);
    assert_eq!(mail.mail_from, "no-reply@example.com");
    let text = mail.text.as_deref().expect("a text part");
    assert!(
        text.contains("http://keyflow.test/if/flow/recovery/?flow_token=tok-123&next=<x>"),
        "{text}"
    );
    let html = mail.html.as_deref().expect("an HTML part");
    assert!(
        html.contains("flow_token=tok-123&amp;next=&lt;x&gt;"),
        "{html}"
    );

    let sent = wait_for_events(&server, "email_sent", |e| !e.is_empty()).await;
    assert_eq!(
        sent[0]["message"],
        "Email to Ann Admin <ann@example.com> sent"
    );
    assert_eq!(sent[0]["subject"], "Reset your password");
    assert_eq!(sent[0]["from_email"], "keyflow <no-reply@example.com>");
    assert_eq!(sent[0]["to_email"], json!(["ann@example.com"]));
}

async fn global_settings_are_used_when_the_stage_asks(db: Db) {
    let sink = SmtpSink::start().await;
    let port = sink.port.to_string();
    let server = TestServer::start_with(
        db,
        &[
            "--email-host",
            "127.0.0.1",
            "--email-port",
            &port,
            "--email-from",
            "global-sender@example.org",
        ],
    )
    .await;
    // The stage's own fields point nowhere: only the global settings can deliver.
    let smtp = SmtpSettings {
        use_global_settings: true,
        host: "192.0.2.1".into(),
        port: 1,
        from_address: "stage-sender@example.com".into(),
        ..SmtpSettings::default()
    };
    server
        .state
        .services
        .mail
        .enqueue(reset_mail("bob@example.com", smtp))
        .await
        .expect("queued");
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].header("From"), Some("global-sender@example.org"));
    assert!(mails[0]
        .header("Message-ID")
        .is_some_and(|id| id.ends_with("@example.org>")));
}

async fn a_server_without_starttls_fails_clearly_and_is_retried(db: Db) {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(db, &["--worker-task-max-retries", "2"]).await;
    let smtp = SmtpSettings {
        use_tls: true,
        ..smtp_to(&sink)
    };
    server
        .state
        .services
        .mail
        .enqueue(reset_mail("ann@example.com", smtp))
        .await
        .expect("queued");

    // One attempt and two retries, then the mail is given up.
    let failures = wait_for_events(&server, "system_exception", |e| e.len() >= 3).await;
    for (n, failure) in failures.iter().enumerate() {
        let message = failure["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Failed to send email to Ann Admin <ann@example.com>"),
            "{message}"
        );
        assert!(message.to_lowercase().contains("tls"), "{message}");
        assert_eq!(failure["attempt"], n + 1);
    }
    assert!(failures[2]["message"]
        .as_str()
        .is_some_and(|m| m.contains("giving up")));
    // Nothing more happens afterwards, and nothing reached the server.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(events_named(&server, "system_exception").await.len(), 3);
    assert!(events_named(&server, "email_sent").await.is_empty());
    assert!(sink.messages().is_empty());
}

async fn mails_queued_while_smtp_is_down_arrive_once_after_a_restart(db: Db) {
    let mut sink = SmtpSink::stopped();
    let server = TestServer::start(db).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = server
            .state
            .services
            .mail
            .enqueue(reset_mail(&format!("user{n}@example.com"), smtp_to(&sink)))
            .await
            .expect("queued");
        ids.push(format!("<{}@example.com>", id.0.simple()));
    }
    // The worker tried and failed (connection refused) …
    wait_for_events(&server, "system_exception", |e| e.len() >= 3).await;
    // … keyflow stops and starts again on the same database, then the SMTP server comes back.
    let server = server.restart().await;
    sink.start_again().await;

    let mails = sink.wait_for(3, WAIT).await;
    // Longer than a retry and a heartbeat: a duplicate would show up now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = if sink.messages().len() > mails.len() {
        sink.messages()
    } else {
        mails
    };
    let mut received = message_ids(&mails);
    received.sort();
    ids.sort();
    assert_eq!(received, ids, "each mail exactly once");
    let sent = events_named(&server, "email_sent").await;
    assert_eq!(sent.len(), 3, "{sent:#?}");
}

async fn a_stage_is_read_at_delivery_and_its_deletion_discards_the_mail(db: Db) {
    use keyflow::stages::{email::EmailStage, StageConfig};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    let mut sink = SmtpSink::stopped();
    let server = TestServer::start(db).await;
    let insert_stage = |name: &str, smtp: SmtpSettings| {
        let (kind, config) = StageConfig::Email(EmailStage {
            smtp,
            ..EmailStage::default()
        })
        .to_columns();
        keyflow::store::stage::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            name: Set(name.to_owned()),
            kind: Set(kind),
            config: Set(config),
        }
    };
    let kept = insert_stage("mail-kept", smtp_to(&sink))
        .insert(server.db())
        .await
        .unwrap();
    let deleted = insert_stage("mail-deleted", smtp_to(&sink))
        .insert(server.db())
        .await
        .unwrap();
    for (stage, to) in [
        (&kept, "kept@example.com"),
        (&deleted, "deleted@example.com"),
    ] {
        // The mail's own settings are wrong on purpose: the stage's are used.
        let smtp = SmtpSettings {
            port: 1,
            ..smtp_to(&sink)
        };
        server
            .state
            .services
            .mail
            .enqueue(OutgoingMail {
                stage_id: Some(stage.id),
                ..reset_mail(to, smtp)
            })
            .await
            .expect("queued");
    }
    wait_for_events(&server, "system_exception", |e| e.len() >= 2).await;
    keyflow::store::stage::Entity::delete_by_id(deleted.id)
        .exec(server.db())
        .await
        .unwrap();
    sink.start_again().await;

    let mails = sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = if sink.messages().len() > mails.len() {
        sink.messages()
    } else {
        mails
    };
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].rcpt_tos, ["kept@example.com"]);
}

both_databases!(
    a_mail_is_delivered_with_headers_and_both_parts,
    global_settings_are_used_when_the_stage_asks,
    a_server_without_starttls_fails_clearly_and_is_retried,
    mails_queued_while_smtp_is_down_arrive_once_after_a_restart,
    a_stage_is_read_at_delivery_and_its_deletion_discards_the_mail,
);

/// Burst benchmark (run by hand, SQLite):
///
/// ```text
/// cargo test -p keyflow --test mail_delivery -- --ignored --nocapture burst
/// ```
///
/// Queues 200 verification mails against the sink with production-like polling (1 s) and
/// prints the time to drain the queue, the retries and the duplicates (must be 0).
#[tokio::test]
#[ignore]
async fn burst() {
    const MAILS: usize = 200;
    let sink = SmtpSink::start().await;
    let server = TestServer::start_with(Db::Sqlite, &["--worker-poll-interval-ms", "1000"]).await;
    let started = std::time::Instant::now();
    for n in 0..MAILS {
        server
            .state
            .services
            .mail
            .enqueue(OutgoingMail {
                template: "email/account_confirmation.html".into(),
                subject: "Confirm your account".into(),
                ..reset_mail(&format!("user{n}@example.com"), smtp_to(&sink))
            })
            .await
            .expect("queued");
    }
    let queued = started.elapsed();
    let mails = sink.wait_for(MAILS, Duration::from_secs(300)).await;
    let drained = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = sink.messages().len().max(mails.len());
    let mut ids = message_ids(&sink.messages());
    ids.sort();
    ids.dedup();
    let retries = events_named(&server, "system_exception").await.len();
    println!(
        "mail burst (SQLite): {MAILS} queued in {queued:?}, all delivered after {drained:?}; \
         received {mails}, distinct {}, duplicates {}, retries {retries}",
        ids.len(),
        mails - ids.len()
    );
    assert_eq!(mails, MAILS);
    assert_eq!(ids.len(), MAILS);
}
