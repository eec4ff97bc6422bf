//! Blueprints applied unchanged, then run to their real end over the executor API: authentik's
//! example flows (`/work/shared/spec/blueprints/`, byte for byte) and every keyflow example in
//! `server/blueprints/example/`. Each is applied through `POST /api/v3/managed/blueprints/apply/`
//! (nothing may be skipped) and walked like a browser would: accounts created and signed in,
//! recovery mail read from a real SMTP server, the consent step, new passwords that work and old
//! ones that do not, accounts deleted with every session ended.

use std::time::Duration;

use crate::common::smtp::{ReceivedMail, SmtpSink};
use crate::common::*;
use keyflow::store::{session, user};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

both_databases!(
    authentiks_two_stage_enrollment_runs_unchanged,
    authentiks_recovery_with_email_verification_runs_unchanged,
    authentiks_unenrollment_runs_unchanged,
    every_keyflow_example_applies_and_runs,
);

const MAIL_WAIT: Duration = Duration::from_secs(20);
const STRONG: &str = "Quartz-Meadow-Lantern-81";

/// keyflow with its global SMTP settings pointing at `sink`.
async fn server_with_mail(db: Db, sink: &SmtpSink) -> TestServer {
    let port = sink.port.to_string();
    TestServer::start_with(
        db,
        &[
            "--email-host",
            "127.0.0.1",
            "--email-port",
            &port,
            "--email-from",
            "keyflow@example.com",
        ],
    )
    .await
}

/// One of authentik's example blueprints, as shipped; `None` (test skipped) when the spec
/// directory is not there.
fn authentik_blueprint(file: &str) -> Option<String> {
    let path = format!(
        "{}/../../shared/spec/blueprints/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    match std::fs::read_to_string(&path) {
        Ok(content) => Some(content),
        Err(_) => {
            eprintln!("skipped: {path} is not available");
            None
        }
    }
}

fn keyflow_example(file: &str) -> String {
    let path = format!("{}/blueprints/example/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn find_user(server: &TestServer, username: &str) -> Option<user::Model> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(server.db())
        .await
        .expect("user query")
}

/// Creates an active account with a password through the admin API.
async fn create_account(server: &TestServer, username: &str, password: &str) -> i64 {
    let client = server.bare_client();
    let response = client
        .post(format!("{}/api/v3/core/users/", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "username": username,
            "name": username,
            "email": format!("{username}@example.com"),
        }))
        .send()
        .await
        .expect("create user");
    assert_eq!(response.status(), StatusCode::CREATED);
    let pk = response.json::<Value>().await.expect("user")["pk"]
        .as_i64()
        .expect("pk");
    let response = client
        .post(format!(
            "{}/api/v3/core/users/{pk}/set_password/",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "password": password }))
        .send()
        .await
        .expect("set password");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    pk
}

/// The first link in `mail` to `slug`'s flow page, as a page query (`flow_token=…`).
fn query_of_link_to(server: &TestServer, slug: &str, mail: &ReceivedMail) -> String {
    let text = mail.text.as_deref().expect("a text part");
    let prefix = format!("{}/if/flow/{slug}/?", server.base);
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link to {prefix} in {text}"));
    let query: String = text[start + prefix.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(query.starts_with("flow_token="), "{query}");
    query
}

/// Opens a mailed link and confirms its consent step; returns what comes next.
async fn follow_link(browser: &Browser, slug: &str, query: &str) -> Value {
    let consent = browser.get_flow(slug, query).await;
    assert_eq!(consent["component"], "ak-stage-consent", "{consent}");
    assert_eq!(
        consent["header_text"],
        "Continue to confirm this email address."
    );
    browser
        .post_flow(
            slug,
            query,
            json!({"component": "ak-stage-consent", "token": consent["token"]}),
        )
        .await
}

fn prompt(fields: Value) -> Value {
    let mut body = fields;
    body["component"] = json!("ak-stage-prompt");
    body
}

/// The field keys a prompt challenge asks for, in order.
fn field_keys(challenge: &Value) -> Vec<String> {
    assert_eq!(challenge["component"], "ak-stage-prompt", "{challenge}");
    challenge["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field_key"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A fresh browser's sign-in with `password` is refused at the password stage.
async fn password_is_refused(server: &TestServer, uid: &str, password: &str) {
    let answer = server.browser().login(uid, password).await;
    assert_eq!(answer["component"], "ak-stage-password", "{answer}");
    assert_eq!(
        answer["response_errors"]["password"][0]["string"], "Invalid password",
        "{answer}"
    );
}

async fn authentiks_two_stage_enrollment_runs_unchanged(db: Db) {
    const FLOW: &str = "default-enrollment-flow";
    let Some(content) = authentik_blueprint("flows-enrollment-2-stage.yaml") else {
        return;
    };
    let server = TestServer::start(db).await;
    apply_blueprint(&server, &content).await;

    let browser = server.browser();
    let first = browser.get_flow(FLOW, "").await;
    assert_eq!(first["flow_info"]["title"], "Welcome to authentik!");
    let mut keys = field_keys(&first);
    keys.sort();
    assert_eq!(keys, ["password", "password_repeat", "username"]);
    // The two passwords must match (authentik's prompt stage checks `password_repeat`).
    let mismatch = browser
        .post_flow(
            FLOW,
            "",
            prompt(json!({
                "username": "newcomer",
                "password": STRONG,
                "password_repeat": "something-else",
            })),
        )
        .await;
    assert_eq!(mismatch["component"], "ak-stage-prompt", "{mismatch}");
    assert!(mismatch["response_errors"].is_object(), "{mismatch}");
    let second = browser
        .post_flow(
            FLOW,
            "",
            prompt(json!({
                "username": "newcomer",
                "password": STRONG,
                "password_repeat": STRONG,
            })),
        )
        .await;
    let mut keys = field_keys(&second);
    keys.sort();
    assert_eq!(keys, ["email", "name"]);
    assert!(find_user(&server, "newcomer").await.is_none());
    let done = browser
        .post_flow(
            FLOW,
            "",
            prompt(json!({"name": "New Comer", "email": "newcomer@example.com"})),
        )
        .await;
    assert_eq!(done, redirect_to("/"));

    let (status, me) = browser.me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "newcomer");
    let newcomer = find_user(&server, "newcomer").await.expect("created");
    assert!(newcomer.is_active);
    assert_eq!(newcomer.name, "New Comer");
    assert_eq!(newcomer.email, "newcomer@example.com");
    assert_eq!(
        server.browser().login("newcomer", STRONG).await,
        redirect_to("/")
    );
    // require_unauthenticated: a signed-in browser may not enrol again.
    let again = browser.get_flow(FLOW, "").await;
    assert_eq!(again["component"], "ak-stage-access-denied", "{again}");
}

async fn authentiks_recovery_with_email_verification_runs_unchanged(db: Db) {
    const FLOW: &str = "default-recovery-flow";
    let Some(content) = authentik_blueprint("flows-recovery-email-verification.yaml") else {
        return;
    };
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    // It updates keyflow's own recovery flow in place (same slug, stage names and binding pk).
    apply_blueprint(&server, &content).await;

    let browser = server.browser();
    let first = browser.get_flow(FLOW, "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    assert_eq!(first["user_fields"], json!(["email", "username"]));
    let waiting = browser
        .post_flow(
            FLOW,
            "",
            json!({"component": "ak-stage-identification", "uid_field": ADMIN_EMAIL}),
        )
        .await;
    assert_eq!(waiting["component"], "ak-stage-email", "{waiting}");

    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, vec![ADMIN_EMAIL.to_owned()]);
    assert_eq!(mails[0].header("Subject"), Some("authentik"));
    let query = query_of_link_to(&server, FLOW, &mails[0]);

    // Opened on another device: the consent step, then the new password.
    let phone = server.browser();
    let opened = phone.get_flow(FLOW, &query).await;
    assert_eq!(opened["component"], "ak-stage-consent", "{opened}");
    let form = follow_link(&phone, FLOW, &query).await;
    assert_eq!(field_keys(&form), ["password", "password_repeat"]);
    let done = phone
        .post_flow(
            FLOW,
            &query,
            prompt(json!({"password": STRONG, "password_repeat": STRONG})),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(phone.me().await.1["user"]["username"], ADMIN);

    assert_eq!(
        server.browser().login(ADMIN, STRONG).await,
        redirect_to("/")
    );
    password_is_refused(&server, ADMIN, ADMIN_PASSWORD).await;
    // The link worked once.
    let reused = server.browser().get_flow(FLOW, &query).await;
    assert_eq!(reused["component"], "ak-stage-identification", "{reused}");
}

async fn authentiks_unenrollment_runs_unchanged(db: Db) {
    const FLOW: &str = "default-unenrollment-flow";
    let Some(content) = authentik_blueprint("flows-unenrollment.yaml") else {
        return;
    };
    let server = TestServer::start(db).await;
    apply_blueprint(&server, &content).await;
    create_account(&server, "leaving", "Leaving-Pass-123").await;

    // require_authenticated: nobody to delete without a sign-in.
    let anonymous = server.browser().get_flow(FLOW, "").await;
    assert_eq!(
        anonymous["component"], "ak-stage-access-denied",
        "{anonymous}"
    );
    let (here, elsewhere) = (server.browser(), server.browser());
    for browser in [&here, &elsewhere] {
        assert_eq!(
            browser.login("leaving", "Leaving-Pass-123").await,
            redirect_to("/")
        );
    }
    assert_eq!(here.get_flow(FLOW, "").await, redirect_to("/"));
    assert!(find_user(&server, "leaving").await.is_none());
    for browser in [&here, &elsewhere] {
        let (status, _) = browser.me().await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let signed_in = session::Entity::find()
        .filter(session::Column::UserId.is_not_null())
        .all(server.db())
        .await
        .expect("sessions");
    assert!(signed_in.is_empty(), "no signed-in session is left");
    // The administrator is untouched.
    assert_eq!(
        server.browser().login(ADMIN, ADMIN_PASSWORD).await,
        redirect_to("/")
    );
}

/// Runs the two sign-up pages of keyflow's enrollment examples.
async fn sign_up(browser: &Browser, slug: &str, query: &str, username: &str) -> Value {
    let first = browser.get_flow(slug, query).await;
    assert_eq!(
        field_keys(&first),
        ["username", "password", "password_repeat"]
    );
    // The example's password policy refuses a weak password.
    let weak = browser
        .post_flow(
            slug,
            query,
            prompt(json!({"username": username, "password": "abc", "password_repeat": "abc"})),
        )
        .await;
    assert_eq!(
        field_keys(&weak),
        ["username", "password", "password_repeat"]
    );
    assert!(weak["response_errors"].is_object(), "{weak}");
    let second = browser
        .post_flow(
            slug,
            query,
            prompt(json!({"username": username, "password": STRONG, "password_repeat": STRONG})),
        )
        .await;
    assert_eq!(field_keys(&second), ["name", "email"]);
    browser
        .post_flow(
            slug,
            query,
            prompt(json!({"name": username, "email": format!("{username}@example.com")})),
        )
        .await
}

async fn every_keyflow_example_applies_and_runs(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/blueprints/example"))
            .expect("examples")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".yaml"))
            .collect();
    files.sort();
    // Each example below is run; a new one must be added here too.
    assert_eq!(
        files,
        [
            "flows-enrollment-2-stage.yaml",
            "flows-enrollment-email-verification.yaml",
            "flows-enrollment-invitation.yaml",
            "flows-unenrollment.yaml",
        ]
    );
    for file in &files {
        apply_blueprint(&server, &keyflow_example(file)).await;
    }

    // Two-page sign-up.
    let browser = server.browser();
    let done = sign_up(&browser, "keyflow-enrollment", "", "two-pages").await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], "two-pages");

    // Sign-up with a verified address: inactive until the mailed link is opened.
    let browser = server.browser();
    let waiting = sign_up(&browser, "keyflow-enrollment-email", "", "verified").await;
    assert_eq!(waiting["component"], "ak-stage-email", "{waiting}");
    assert!(
        !find_user(&server, "verified")
            .await
            .expect("created")
            .is_active
    );
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails[0].rcpt_tos, vec!["verified@example.com".to_owned()]);
    assert_eq!(
        mails[0].header("Subject"),
        Some("Confirm your email address")
    );
    let query = query_of_link_to(&server, "keyflow-enrollment-email", &mails[0]);
    let done = follow_link(&browser, "keyflow-enrollment-email", &query).await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], "verified");
    assert!(
        find_user(&server, "verified")
            .await
            .expect("user")
            .is_active
    );

    // Sign-up by invitation only.
    let refused = server
        .browser()
        .get_flow("keyflow-enrollment-invitation", "")
        .await;
    assert_eq!(refused["component"], "ak-stage-access-denied", "{refused}");
    let response = server
        .bare_client()
        .post(format!(
            "{}/api/v3/stages/invitation/invitations/",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "example-invite", "single_use": true}))
        .send()
        .await
        .expect("invitation");
    assert_eq!(response.status(), StatusCode::CREATED);
    let invite = response.json::<Value>().await.expect("invitation")["pk"]
        .as_str()
        .expect("pk")
        .to_owned();
    let browser = server.browser();
    let query = format!("itoken={invite}");
    let done = sign_up(&browser, "keyflow-enrollment-invitation", &query, "invited").await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], "invited");
    let spent = server
        .browser()
        .get_flow("keyflow-enrollment-invitation", &query)
        .await;
    assert_eq!(spent["component"], "ak-stage-access-denied", "{spent}");

    // Account deletion, after a confirmation.
    let confirm = server.browser().get_flow("keyflow-unenrollment", "").await;
    assert_eq!(confirm["component"], "ak-stage-access-denied", "{confirm}");
    let browser = server.browser();
    assert_eq!(browser.login("two-pages", STRONG).await, redirect_to("/"));
    let consent = browser.get_flow("keyflow-unenrollment", "").await;
    assert_eq!(consent["component"], "ak-stage-consent", "{consent}");
    assert_eq!(consent["pending_user"], "two-pages");
    assert!(find_user(&server, "two-pages").await.is_some());
    let confirmation = json!({"component": "ak-stage-consent", "token": consent["token"]});
    // A signed-in browser's answers carry the CSRF token.
    let forged = browser
        .post_flow_raw("keyflow-unenrollment", "", confirmation.clone(), &[])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(find_user(&server, "two-pages").await.is_some());
    let csrf = browser.cookie(CSRF_COOKIE).expect("csrf cookie");
    let done = challenge_of(
        browser
            .post_flow_raw(
                "keyflow-unenrollment",
                "",
                confirmation,
                &[("X-authentik-CSRF", &csrf)],
            )
            .await,
    )
    .await;
    assert_eq!(done, redirect_to("/"));
    assert!(find_user(&server, "two-pages").await.is_none());
    assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
}
