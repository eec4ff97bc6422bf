//! Password checks under load: at most `--password-hash-concurrency` argon2id hashes run at
//! once; a login that cannot get a slot within `--password-queue-timeout-ms` gets the same
//! challenge again with a "try again" error (HTTP 200, never a 500 or a hang), and that answer
//! does not count as a failed attempt.

use std::sync::Arc;

use crate::common::*;
use keyflow::engine::executor::TRY_AGAIN;
use serde_json::{json, Value};

both_databases!(logins_beyond_the_hash_slots_are_told_to_try_again);

const CLIENTS: usize = 8;

fn password(password: &str) -> Value {
    json!({"component": "ak-stage-password", "password": password})
}

async fn logins_beyond_the_hash_slots_are_told_to_try_again(db: Db) {
    let server = TestServer::start_with(
        db,
        &[
            "--password-hash-concurrency",
            "1",
            "--password-queue-timeout-ms",
            "1",
        ],
    )
    .await;
    // Every client waits on the password stage, then all answer at once.
    let ready = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (browser, ready) = (Browser::new(&server.base), ready.clone());
            tokio::spawn(async move {
                browser.get_flow(AUTH_FLOW, "").await;
                let second = browser
                    .post_flow(
                        AUTH_FLOW,
                        "",
                        json!({"component": "ak-stage-identification", "uid_field": ADMIN}),
                    )
                    .await;
                assert_eq!(second, password_challenge(ADMIN));
                ready.wait().await;
                let answer = browser
                    .post_flow(AUTH_FLOW, "", password(&format!("wrong-{i}")))
                    .await;
                (browser, answer)
            })
        })
        .collect();
    let invalid = with_errors(
        password_challenge(ADMIN),
        field_error("password", "Invalid password", "invalid"),
    );
    let try_again = with_errors(
        password_challenge(ADMIN),
        field_error("non_field_errors", TRY_AGAIN, "busy"),
    );
    let (mut refused, mut told_to_wait) = (0, Vec::new());
    for client in clients {
        let (browser, answer) = client.await.expect("client task");
        if answer == invalid {
            refused += 1;
        } else {
            assert_eq!(answer, try_again);
            told_to_wait.push(browser);
        }
    }
    assert!(refused >= 1, "no password was checked");
    assert!(!told_to_wait.is_empty(), "no login was told to try again");
    assert_eq!(
        server.state.services.passwords.peak_in_flight(),
        1,
        "more hashes ran at once than permitted"
    );
    // Only checked passwords count as failed attempts.
    let failed = server
        .event_actions()
        .await
        .into_iter()
        .filter(|a| a == "login_failed")
        .count();
    assert_eq!(failed, refused);
    // The flow of a client told to wait goes on: trying again (now alone) logs in.
    let browser = &told_to_wait[0];
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
}
