//! Email links over the executor API, with a real SMTP server (`common::smtp`): the link in the
//! delivered mail restores the flow behind a consent step; opening it spends nothing, only the
//! consent POST does (once, whichever browser is first); expired links restore nothing; resend
//! and its rate limit; an unknown address in a recovery flow gets the same answers and no mail;
//! and a user with TOTP is asked for a code after the link, before being signed in.

use std::time::Duration;

use crate::common::smtp::{ReceivedMail, SmtpSink};
use crate::common::*;
use chrono::Utc;
use keyflow::flows::{AuthenticationRequirement, FlowDesignation};
use keyflow::stages::{
    authenticator_validate::AuthenticatorValidateStage, email::EmailStage,
    identification::IdentificationStage, user_login::UserLoginStage, StageConfig,
};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};

both_databases!(
    the_link_restores_the_flow_behind_a_consent_step,
    a_link_opened_elsewhere_first_is_refused_after_use,
    two_browsers_racing_for_one_link_let_exactly_one_through,
    an_expired_link_restores_nothing,
    resend_is_rate_limited_per_address,
    an_unknown_address_gets_the_same_answers_and_no_mail,
    a_user_with_totp_gives_a_code_after_the_link,
    the_default_recovery_flow_sets_a_new_password,
    authentiks_enrollment_with_email_verification_runs_unchanged,
);

const FLOW: &str = "verify-recovery";
const LINK_USED: &str = "Link was already used, please request a new link.";
const MAIL_WAIT: Duration = Duration::from_secs(20);

/// keyflow with its global SMTP settings pointing at `sink`.
pub(crate) async fn server_with_mail(db: Db, sink: &SmtpSink) -> TestServer {
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

/// A recovery flow: identification → email (global SMTP settings) → [validation] → login.
async fn recovery_flow(server: &TestServer, email: EmailStage, with_mfa: bool) {
    let flow = flows::flow(
        server,
        FLOW,
        "Verify",
        FlowDesignation::Recovery,
        AuthenticationRequirement::None,
    )
    .await;
    let mut stages = vec![
        (
            "verify-identification",
            StageConfig::Identification(IdentificationStage::default()),
        ),
        ("verify-email", StageConfig::Email(email)),
    ];
    if with_mfa {
        stages.push((
            "verify-mfa",
            StageConfig::AuthenticatorValidate(AuthenticatorValidateStage::default()),
        ));
    }
    stages.push((
        "verify-login",
        StageConfig::UserLogin(UserLoginStage::default()),
    ));
    flows::bind_in_order(server, flow, stages).await;
}

fn email_stage() -> EmailStage {
    let mut stage = EmailStage::default();
    stage.smtp.use_global_settings = true;
    stage.subject = "Your link".into();
    stage
}

fn verify_flow_info() -> Value {
    json!({
        "title": "Verify",
        "background": "/static/flow_background.svg",
        "background_themed_urls": null,
        "cancel_url": "/flows/-/cancel/",
        "layout": "stacked",
    })
}

fn email_challenge() -> Value {
    json!({"flow_info": verify_flow_info(), "component": "ak-stage-email"})
}

fn email_sent_again() -> Value {
    with_errors(
        email_challenge(),
        field_error("non_field_errors", "email-sent", "email-sent"),
    )
}

/// Identifies as `uid` in a new browser; returns the browser and the email challenge.
async fn ask_for_link(server: &TestServer, uid: &str) -> (Browser, Value) {
    let browser = server.browser();
    let first = browser.get_flow(FLOW, "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    let next = browser
        .post_flow(
            FLOW,
            "",
            json!({"component": "ak-stage-identification", "uid_field": uid}),
        )
        .await;
    (browser, next)
}

/// The page query of the link in `mail` (`flow_token=…`), checking the link's shape.
fn link_query(server: &TestServer, mail: &ReceivedMail) -> String {
    let text = mail.text.as_deref().expect("a text part");
    let prefix = format!("{}/if/flow/{FLOW}/?", server.base);
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link to {prefix} in {text}"));
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let query = url[prefix.len()..].to_owned();
    assert!(query.starts_with("flow_token="), "{url}");
    query
}

fn consent_challenge(user: &str, token: &Value) -> Value {
    json!({
        "flow_info": verify_flow_info(),
        "component": "ak-stage-consent",
        "pending_user": user,
        "pending_user_avatar": AVATAR,
        "header_text": "Continue to confirm this email address.",
        "permissions": [],
        "additional_permissions": [],
        "token": token,
    })
}

/// Opens the link in `browser`: the consent step, checked exactly.
async fn open_link(browser: &Browser, query: &str, user: &str) -> Value {
    let consent = browser.get_flow(FLOW, query).await;
    assert_eq!(
        consent,
        consent_challenge(user, &consent["token"]),
        "{consent}"
    );
    assert!(consent["token"].as_str().is_some_and(|t| t.len() >= 32));
    consent
}

async fn confirm(browser: &Browser, query: &str, consent: &Value) -> Value {
    browser
        .post_flow(
            FLOW,
            query,
            json!({"component": "ak-stage-consent", "token": consent["token"]}),
        )
        .await
}

fn link_used() -> Value {
    json!({
        "flow_info": verify_flow_info(),
        "component": "ak-stage-access-denied",
        "pending_user": ADMIN,
        "pending_user_avatar": AVATAR,
        "error_message": LINK_USED,
    })
}

async fn token_count(server: &TestServer) -> usize {
    keyflow::store::flow_token::Entity::find()
        .all(server.db())
        .await
        .expect("flow tokens")
        .len()
}

async fn the_link_restores_the_flow_behind_a_consent_step(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    recovery_flow(&server, email_stage(), false).await;
    let (waiting, challenge) = ask_for_link(&server, ADMIN).await;
    assert_eq!(challenge, email_challenge());
    // Reloading the waiting page sends nothing more.
    assert_eq!(waiting.get_flow(FLOW, "").await, email_challenge());

    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, vec![ADMIN_EMAIL.to_owned()]);
    assert_eq!(mails[0].header("Subject"), Some("Your link"));
    let query = link_query(&server, &mails[0]);

    // Another device opens the link; a mail scanner opening it too spends nothing.
    let scanner = server.browser();
    open_link(&scanner, &query, ADMIN).await;
    let phone = server.browser();
    let consent = open_link(&phone, &query, ADMIN).await;
    let again = open_link(&phone, &query, ADMIN).await;
    assert_ne!(
        again["token"], consent["token"],
        "a fresh token per rendering"
    );
    assert_eq!(token_count(&server).await, 1);

    // A stale consent token is refused and the consent shown again.
    let stale = confirm(&phone, &query, &consent).await;
    assert_eq!(
        stale,
        with_errors(
            consent_challenge(ADMIN, &stale["token"]),
            field_error(
                "non_field_errors",
                "Invalid consent token, re-showing prompt",
                "invalid"
            ),
        )
    );
    assert_eq!(token_count(&server).await, 1);

    let done = confirm(&phone, &query, &stale).await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(token_count(&server).await, 0, "consent spends the token");
    assert_eq!(phone.me().await.1["user"]["username"], ADMIN);
    assert_eq!(sink.messages().len(), 1);
}

async fn a_link_opened_elsewhere_first_is_refused_after_use(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    recovery_flow(&server, email_stage(), false).await;
    ask_for_link(&server, ADMIN).await;
    let query = link_query(&server, &sink.wait_for(1, MAIL_WAIT).await[0]);

    let (first, other) = (server.browser(), server.browser());
    let early = open_link(&first, &query, ADMIN).await;
    open_link(&other, &query, ADMIN).await;
    let second = server.browser();
    let consent = open_link(&second, &query, ADMIN).await;
    assert_eq!(confirm(&second, &query, &consent).await, redirect_to("/"));

    // Browsers that opened the link before it was used: refused, on POST and on GET.
    assert_eq!(confirm(&first, &query, &early).await, link_used());
    assert_eq!(other.get_flow(FLOW, &query).await, link_used());
    assert_ne!(first.me().await.0, reqwest::StatusCode::OK);
}

async fn two_browsers_racing_for_one_link_let_exactly_one_through(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    recovery_flow(&server, email_stage(), false).await;
    ask_for_link(&server, ADMIN).await;
    let query = link_query(&server, &sink.wait_for(1, MAIL_WAIT).await[0]);

    let (a, b) = (server.browser(), server.browser());
    let consent_a = open_link(&a, &query, ADMIN).await;
    let consent_b = open_link(&b, &query, ADMIN).await;
    let (answer_a, answer_b) = tokio::join!(
        confirm(&a, &query, &consent_a),
        confirm(&b, &query, &consent_b)
    );
    let answers = [answer_a, answer_b];
    let through = answers.iter().filter(|a| **a == redirect_to("/")).count();
    let refused = answers.iter().filter(|a| **a == link_used()).count();
    assert_eq!((through, refused), (1, 1), "{answers:?}");
    assert_eq!(token_count(&server).await, 0);
}

async fn an_expired_link_restores_nothing(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    recovery_flow(&server, email_stage(), false).await;
    ask_for_link(&server, ADMIN).await;
    let query = link_query(&server, &sink.wait_for(1, MAIL_WAIT).await[0]);
    let early = server.browser();
    open_link(&early, &query, ADMIN).await;

    let token = keyflow::store::flow_token::Entity::find()
        .one(server.db())
        .await
        .expect("query")
        .expect("the link's token");
    // 30 minutes of token_expiry plus one of grace.
    let lifetime = token.expires - token.created_at;
    assert_eq!(lifetime, chrono::Duration::minutes(31));
    keyflow::store::flow_token::ActiveModel {
        id: Set(token.id),
        expires: Set(Utc::now() - chrono::Duration::seconds(1)),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("expire the token");

    // A new browser starts the flow from the beginning; the early one is refused.
    let late = server.browser();
    let fresh = late.get_flow(FLOW, &query).await;
    assert_eq!(fresh["component"], "ak-stage-identification", "{fresh}");
    assert_eq!(early.get_flow(FLOW, &query).await, link_used());
}

async fn resend_is_rate_limited_per_address(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    let mut stage = email_stage();
    stage.recovery_max_attempts = 3;
    recovery_flow(&server, stage, false).await;
    let (browser, first) = ask_for_link(&server, ADMIN).await;
    assert_eq!(first, email_challenge());
    sink.wait_for(1, MAIL_WAIT).await;

    let resend = || async {
        let response = browser
            .post_flow_raw(FLOW, "", json!({"component": "ak-stage-email"}), &[])
            .await;
        let messages: Vec<String> = response
            .headers()
            .get_all("x-keyflow-message")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        (challenge_of(response).await, messages.join("\n"))
    };
    for sent in 2..=3 {
        let (challenge, messages) = resend().await;
        assert_eq!(challenge, email_sent_again());
        assert!(messages.contains("Email+Successfully+sent."), "{messages}");
        assert_eq!(sink.wait_for(sent, MAIL_WAIT).await.len(), sent);
    }
    // The fourth mail within five minutes is not sent; the answer has the same shape.
    let (challenge, messages) = resend().await;
    assert_eq!(challenge, email_sent_again());
    assert!(
        messages.contains("Too+many+account+verification+attempts"),
        "{messages}"
    );
    // The same address typed differently in another run: still limited (per address).
    let (_, again) = ask_for_link(&server, &ADMIN_EMAIL.to_uppercase()).await;
    assert_eq!(again, email_challenge());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 3);
}

async fn an_unknown_address_gets_the_same_answers_and_no_mail(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    recovery_flow(&server, email_stage(), false).await;
    let (unknown, challenge) = ask_for_link(&server, "nobody@example.com").await;
    assert_eq!(challenge, email_challenge());
    let resent = unknown
        .post_flow(FLOW, "", json!({"component": "ak-stage-email"}))
        .await;
    assert_eq!(resent, email_sent_again());
    assert_eq!(token_count(&server).await, 0);

    // A known address afterwards: its mail is the only one delivered.
    let (_, known) = ask_for_link(&server, ADMIN).await;
    assert_eq!(known, email_challenge());
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails_now = sink.messages();
    assert_eq!(mails_now.len(), 1, "{mails_now:?}");
    assert_eq!(mails[0].rcpt_tos, vec![ADMIN_EMAIL.to_owned()]);
}

async fn a_user_with_totp_gives_a_code_after_the_link(db: Db) {
    use keyflow::mfa::{devices, totp};
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    recovery_flow(&server, email_stage(), true).await;
    let keys = &server.state.services.settings.mfa_keys;
    let user_id = flows::user_id(&server, ADMIN).await;
    let device = devices::create_totp(
        server.db(),
        keys,
        user_id,
        "phone",
        totp::TotpParams {
            digits: 6,
            algorithm: totp::TotpAlgorithm::Sha1,
            period: totp::DEFAULT_PERIOD,
        },
        Utc::now(),
    )
    .await
    .expect("device row")
    .expect("sealed");
    devices::confirm_totp(server.db(), device.id)
        .await
        .expect("confirm");
    let key = devices::totp_key(keys, &device).expect("key");
    let params = devices::totp_params(&device);

    ask_for_link(&server, ADMIN).await;
    let query = link_query(&server, &sink.wait_for(1, MAIL_WAIT).await[0]);
    let browser = server.browser();
    let consent = open_link(&browser, &query, ADMIN).await;
    let validate = confirm(&browser, &query, &consent).await;
    assert_eq!(
        validate["component"], "ak-stage-authenticator-validate",
        "{validate}"
    );
    assert_ne!(browser.me().await.0, reqwest::StatusCode::OK);
    let now = u64::try_from(Utc::now().timestamp()).expect("after 1970");
    let code = totp::code_at(&key, params, now).expect("code");
    let done = browser
        .post_flow(
            FLOW,
            &query,
            json!({"component": "ak-stage-authenticator-validate", "code": code}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
}

/// The first link in `mail` to `slug`'s flow page, as a page query.
pub(crate) fn query_of_link_to(server: &TestServer, slug: &str, mail: &ReceivedMail) -> String {
    let text = mail.text.as_deref().expect("a text part");
    let prefix = format!("{}/if/flow/{slug}/?", server.base);
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link to {prefix} in {text}"));
    text[start + prefix.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// Opens a link and confirms its consent step; returns what comes next.
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

async fn the_default_recovery_flow_sets_a_new_password(db: Db) {
    const RECOVERY: &str = "default-recovery-flow";
    const NEW_PASSWORD: &str = "Quartz-Meadow-Lantern-81";
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    // Linked from the sign-in page.
    let sign_in = server.browser().get_flow(AUTH_FLOW, "").await;
    assert_eq!(sign_in["recovery_url"], "/if/flow/default-recovery-flow/");

    let browser = server.browser();
    let first = browser.get_flow(RECOVERY, "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    let waiting = browser
        .post_flow(
            RECOVERY,
            "",
            json!({"component": "ak-stage-identification", "uid_field": ADMIN_EMAIL}),
        )
        .await;
    assert_eq!(waiting["component"], "ak-stage-email", "{waiting}");
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    let query = query_of_link_to(&server, RECOVERY, &mails[0]);

    let phone = server.browser();
    let prompt = follow_link(&phone, RECOVERY, &query).await;
    assert_eq!(prompt["component"], "ak-stage-prompt", "{prompt}");
    let done = phone
        .post_flow(
            RECOVERY,
            &query,
            json!({
                "component": "ak-stage-prompt",
                "password": NEW_PASSWORD,
                "password_repeat": NEW_PASSWORD,
            }),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(phone.me().await.1["user"]["username"], ADMIN);
    let fresh = server.browser();
    assert_eq!(fresh.login(ADMIN, NEW_PASSWORD).await, redirect_to("/"));
}

async fn authentiks_enrollment_with_email_verification_runs_unchanged(db: Db) {
    use keyflow::blueprints::{apply, ApplyOptions, Source};
    const ENROLL: &str = "default-enrollment-flow";
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/blueprints/flows-enrollment-email-verification.yaml"
    );
    let Ok(content) = std::fs::read_to_string(path) else {
        eprintln!("skipped: {path} is not available");
        return;
    };
    apply(
        server.db(),
        &[Source {
            name: "flows-enrollment-email-verification.yaml".into(),
            content,
        }],
        &ApplyOptions {
            dry_run: false,
            allow_env: false,
            now: Utc::now(),
        },
    )
    .await
    .expect("authentik's blueprint applies");

    let browser = server.browser();
    let first = browser.get_flow(ENROLL, "").await;
    assert_eq!(first["component"], "ak-stage-prompt", "{first}");
    let second = browser
        .post_flow(
            ENROLL,
            "",
            json!({
                "component": "ak-stage-prompt",
                "username": "newcomer",
                "password": "Quartz-Meadow-Lantern-81",
                "password_repeat": "Quartz-Meadow-Lantern-81",
            }),
        )
        .await;
    assert_eq!(second["component"], "ak-stage-prompt", "{second}");
    let waiting = browser
        .post_flow(
            ENROLL,
            "",
            json!({
                "component": "ak-stage-prompt",
                "name": "New Comer",
                "email": "newcomer@example.com",
            }),
        )
        .await;
    assert_eq!(waiting["component"], "ak-stage-email", "{waiting}");
    let newcomer =
        keyflow::store::user::Entity::find_by_id(flows::user_id(&server, "newcomer").await)
            .one(server.db())
            .await
            .expect("query")
            .expect("user");
    assert!(
        !newcomer.is_active,
        "created inactive until the link is opened"
    );

    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails[0].rcpt_tos, vec!["newcomer@example.com".to_owned()]);
    let query = query_of_link_to(&server, ENROLL, &mails[0]);
    // Opened in the same browser, as most people do.
    let done = follow_link(&browser, ENROLL, &query).await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], "newcomer");
    let newcomer = keyflow::store::user::Entity::find_by_id(newcomer.id)
        .one(server.db())
        .await
        .expect("query")
        .expect("user");
    assert!(newcomer.is_active, "activated by the link");
}
