//! The flow executor protocol over real HTTP, against the transcripts recorded from authentik
//! (`spec/samples/authentik-login-transcript.json`). keyflow answers a passed stage with the next
//! challenge in the same response where authentik sends a 302 back to itself; the JSON a client
//! ends up with is the same, and is asserted exactly.

use std::sync::{Arc, Mutex};

use crate::common::flows;
use crate::common::*;
use keyflow::duration::FlowDuration;
use keyflow::flows::{AuthenticationRequirement, FlowDesignation, InvalidResponseAction};
use keyflow::stages::{
    deny::DenyStage, identification::IdentificationStage, password::PasswordStage,
    user_login::UserLoginStage, StageConfig,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

both_databases!(
    full_login_of_akadmin_rotates_the_session,
    login_by_email_ignores_case,
    wrong_password_keeps_the_user_on_the_password_stage,
    unknown_user_gets_a_pretend_password_stage,
    fifth_wrong_password_denies_and_the_next_post_starts_over,
    wrong_component_and_bad_fields_are_field_errors_and_the_flow_goes_on,
    malformed_json_is_a_400_and_the_flow_survives,
    body_over_the_limit_is_413,
    unknown_flow_is_a_json_404,
    logout_ends_the_session_for_good,
    relative_next_is_followed_after_login,
    absolute_next_is_refused,
    signed_in_posts_need_the_csrf_token,
    health_probes_answer,
    require_authenticated_flow_denies_anonymous,
    deny_stage_denies_on_get_and_post,
    restart_replans_from_scratch,
    restart_with_context_keeps_the_pending_user,
    events_are_recorded_and_no_password_is_ever_logged,
    broken_stage_is_a_flow_error_with_details_only_for_superusers,
    remember_me_is_asked_and_makes_the_session_outlive_the_browser,
);

fn identify(uid: &str) -> Value {
    json!({"component": "ak-stage-identification", "uid_field": uid})
}

fn password(password: &str) -> Value {
    json!({"component": "ak-stage-password", "password": password})
}

fn invalid_password(user: &str) -> Value {
    with_errors(
        password_challenge(user),
        field_error("password", "Invalid password", "invalid"),
    )
}

fn access_denied(flow_info: Value, pending_user: &str, message: &str) -> Value {
    json!({
        "flow_info": flow_info,
        "component": "ak-stage-access-denied",
        "pending_user": pending_user,
        "pending_user_avatar": AVATAR,
        "error_message": message,
    })
}

fn flow_info(title: &str, cancel_url: &str) -> Value {
    json!({
        "title": title,
        "background": "/static/flow_background.svg",
        "background_themed_urls": null,
        "cancel_url": cancel_url,
        "layout": "stacked",
    })
}

async fn full_login_of_akadmin_rotates_the_session(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();

    assert_eq!(
        browser.get_flow(AUTH_FLOW, "").await,
        identification_challenge()
    );
    let anonymous_session = browser
        .cookie(SESSION_COOKIE)
        .expect("starting a flow sets a session cookie");
    let anonymous_csrf = browser.cookie(CSRF_COOKIE).expect("and a CSRF cookie");
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", identify(ADMIN)).await,
        password_challenge(ADMIN)
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );

    let session = browser.cookie(SESSION_COOKIE).expect("session cookie");
    assert_ne!(
        session, anonymous_session,
        "login must mint a new session token"
    );
    assert_ne!(browser.cookie(CSRF_COOKIE).unwrap(), anonymous_csrf);
    let (status, me) = browser.me().await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], ADMIN);
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["is_superuser"], true);
    assert_eq!(me["users"], json!([me["user"].clone()]));

    // The pre-login token is dead: a fixated session cannot ride the login.
    let stale = server
        .bare_client()
        .get(browser.url("/api/v3/core/users/me/"))
        .header("Cookie", format!("{SESSION_COOKIE}={anonymous_session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
}

async fn login_by_email_ignores_case(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", identify("AKAdmin@Example.COM"))
            .await,
        password_challenge(ADMIN),
        "the matched user is shown, not what was typed"
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
}

async fn wrong_password_keeps_the_user_on_the_password_stage(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    browser.post_flow(AUTH_FLOW, "", identify(ADMIN)).await;
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password("definitely-wrong"))
            .await,
        invalid_password(ADMIN)
    );
    assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
    // A GET re-renders the stage without the errors of the last attempt.
    assert_eq!(
        browser.get_flow(AUTH_FLOW, "").await,
        password_challenge(ADMIN)
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );
}

async fn unknown_user_gets_a_pretend_password_stage(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", identify("nosuchuser"))
            .await,
        password_challenge("nosuchuser"),
        "an unknown account looks exactly like a known one"
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password("whatever-pass"))
            .await,
        invalid_password("nosuchuser")
    );
    assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
}

async fn fifth_wrong_password_denies_and_the_next_post_starts_over(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    browser.post_flow(AUTH_FLOW, "", identify(ADMIN)).await;
    for attempt in 0..4 {
        assert_eq!(
            browser
                .post_flow(AUTH_FLOW, "", password(&format!("wrong-{attempt}")))
                .await,
            invalid_password(ADMIN),
            "attempt {attempt}"
        );
    }
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", password("wrong-4")).await,
        access_denied(auth_flow_info(), ADMIN, "Invalid password")
    );
    // The plan is gone: the next POST lands on a fresh identification stage.
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", password("wrong-5")).await,
        with_errors(
            identification_challenge(),
            field_error("uid_field", "This field is required.", "required")
        )
    );
    let failures = server
        .event_actions()
        .await
        .into_iter()
        .filter(|a| a == "login_failed")
        .count();
    assert_eq!(failures, 5);
}

async fn wrong_component_and_bad_fields_are_field_errors_and_the_flow_goes_on(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    // The body goes to the current stage whatever its `component` says (as in authentik).
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        with_errors(
            identification_challenge(),
            field_error("uid_field", "This field is required.", "required")
        )
    );
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", identify("")).await,
        with_errors(
            identification_challenge(),
            field_error(
                "non_field_errors",
                "No identification data provided.",
                "invalid"
            )
        )
    );
    assert_eq!(
        browser
            .post_flow(
                AUTH_FLOW,
                "",
                json!({"component": "ak-stage-identification", "uid_field": ["akadmin"]})
            )
            .await,
        with_errors(
            identification_challenge(),
            field_error("uid_field", "Not a valid string.", "invalid")
        )
    );
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", json!([1, 2])).await,
        with_errors(
            identification_challenge(),
            field_error(
                "non_field_errors",
                "Invalid data. Expected a dictionary, but got list.",
                "invalid"
            )
        )
    );
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", identify(ADMIN)).await,
        password_challenge(ADMIN)
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", json!({"component": "ak-stage-password"}))
            .await,
        with_errors(
            password_challenge(ADMIN),
            field_error("password", "This field is required.", "required")
        )
    );
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", password("")).await,
        with_errors(
            password_challenge(ADMIN),
            field_error("password", "This field may not be blank.", "blank")
        )
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );
}

async fn malformed_json_is_a_400_and_the_flow_survives(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    browser.post_flow(AUTH_FLOW, "", identify(ADMIN)).await;
    for (content_type, body, expected) in [
        ("application/json", "{", StatusCode::BAD_REQUEST),
        (
            "application/json; charset=utf-8",
            "{\"password\": ",
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            "password=x",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let response = browser
            .client
            .post(browser.executor(AUTH_FLOW, ""))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{content_type} {body:?}");
        let error: Value = response.json().await.expect("errors are JSON");
        assert!(error["detail"].is_string(), "{error}");
    }
    // Nothing above touched the plan: the person is still on the password stage.
    assert_eq!(
        browser.get_flow(AUTH_FLOW, "").await,
        password_challenge(ADMIN)
    );
    // Form posts are accepted like JSON (authentik's parsers take both).
    let form = browser
        .client
        .post(browser.executor(AUTH_FLOW, ""))
        .form(&[("component", "ak-stage-password"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(challenge_of(form).await, invalid_password(ADMIN));
}

async fn body_over_the_limit_is_413(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    let huge = "x".repeat(65 * 1024);
    let response = browser
        .post_flow_raw(AUTH_FLOW, "", identify(&huge), &[])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Under the limit but absurd for an identifier: a field error, not a failure.
    let long = "x".repeat(60 * 1024);
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", identify(&long)).await,
        with_errors(
            identification_challenge(),
            field_error(
                "uid_field",
                "Ensure this field has no more than 4096 characters.",
                "max_length"
            )
        )
    );
}

async fn unknown_flow_is_a_json_404(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    let get = browser
        .client
        .get(browser.executor("no-such-flow", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get.json::<Value>().await.unwrap(),
        json!({"detail": "Not found."})
    );
    let post = browser
        .post_flow_raw("no-such-flow", "", identify(ADMIN), &[])
        .await;
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        post.json::<Value>().await.unwrap(),
        json!({"detail": "Not found."})
    );
}

async fn logout_ends_the_session_for_good(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let signed_in = browser.cookie(SESSION_COOKIE).unwrap();
    assert_eq!(browser.me().await.0, StatusCode::OK);

    assert_eq!(browser.get_flow(LOGOUT_FLOW, "").await, redirect_to("/"));
    assert_eq!(
        browser.me().await,
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "Authentication credentials were not provided."})
        )
    );
    assert_ne!(browser.cookie(SESSION_COOKIE).unwrap(), signed_in);
    // Someone who kept a copy of the old cookie gets nothing from it.
    let replay = server
        .bare_client()
        .get(browser.url("/api/v3/core/users/me/"))
        .header("Cookie", format!("{SESSION_COOKIE}={signed_in}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.event_actions().await.last().unwrap(), "logout");
}

async fn relative_next_is_followed_after_login(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    let query = "next=/foo";
    let first = browser.get_flow(AUTH_FLOW, query).await;
    assert_eq!(
        first["flow_info"]["cancel_url"],
        "/flows/-/cancel/?next=%2Ffoo"
    );
    browser.post_flow(AUTH_FLOW, query, identify(ADMIN)).await;
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, query, password(ADMIN_PASSWORD))
            .await,
        redirect_to("/foo")
    );
}

async fn absolute_next_is_refused(db: Db) {
    let server = TestServer::start(db).await;
    // A flow with no stages is done at once, straight to `next`.
    flows::flow(
        &server,
        "empty",
        "Empty",
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
    )
    .await;
    let browser = server.browser();
    assert_eq!(
        browser.get_flow("empty", "next=/foo").await,
        redirect_to("/foo")
    );
    assert_eq!(browser.get_flow("empty", "").await, redirect_to("/"));
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
    ] {
        let query = serde_urlencoded::to_string([("next", evil)]).unwrap();
        let cancel = format!("/flows/-/cancel/?{query}");
        assert_eq!(
            browser.get_flow("empty", &query).await,
            access_denied(flow_info("Empty", &cancel), "", "Invalid next URL"),
            "{evil}"
        );
    }
}

async fn signed_in_posts_need_the_csrf_token(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.login(ADMIN, ADMIN_PASSWORD).await;
    let csrf = browser.cookie(CSRF_COOKIE).expect("csrf cookie");
    let csrf_failed = json!({"detail": "CSRF Failed: CSRF token missing or incorrect."});

    for headers in [vec![], vec![("X-authentik-CSRF", "not-the-token")]] {
        let response = browser
            .post_flow_raw(LOGOUT_FLOW, "", json!({}), &headers)
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.json::<Value>().await.unwrap(), csrf_failed);
    }
    assert_eq!(browser.me().await.0, StatusCode::OK, "still signed in");
    let response = browser
        .post_flow_raw(
            LOGOUT_FLOW,
            "",
            json!({}),
            &[("X-authentik-CSRF", csrf.as_str())],
        )
        .await;
    assert_eq!(challenge_of(response).await, redirect_to("/"));
    assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
}

async fn health_probes_answer(db: Db) {
    let server = TestServer::start(db).await;
    let client = server.bare_client();
    for probe in ["/-/health/live/", "/-/health/ready/"] {
        let response = client
            .get(format!("{}{probe}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }
}

async fn require_authenticated_flow_denies_anonymous(db: Db) {
    let server = TestServer::start(db).await;
    let flow = flows::flow(
        &server,
        "members-only",
        "Members only",
        FlowDesignation::StageConfiguration,
        AuthenticationRequirement::RequireAuthenticated,
    )
    .await;
    let deny = flows::stage(
        &server,
        "members-deny",
        StageConfig::Deny(DenyStage {
            deny_message: "never reached".into(),
        }),
    )
    .await;
    flows::bind(&server, flow, deny, 10, InvalidResponseAction::Retry).await;
    let browser = server.browser();
    assert_eq!(
        browser.get_flow("members-only", "").await,
        access_denied(
            flow_info("Members only", "/flows/-/cancel/"),
            "",
            "Flow does not apply to current user."
        )
    );
}

async fn deny_stage_denies_on_get_and_post(db: Db) {
    let server = TestServer::start(db).await;
    let flow = flows::flow(
        &server,
        "closed",
        "Closed",
        FlowDesignation::Enrollment,
        AuthenticationRequirement::None,
    )
    .await;
    let deny = flows::stage(
        &server,
        "closed-deny",
        StageConfig::Deny(DenyStage {
            deny_message: "Enrollment is closed.".into(),
        }),
    )
    .await;
    flows::bind(&server, flow, deny, 10, InvalidResponseAction::Retry).await;
    let browser = server.browser();
    let denied = access_denied(
        flow_info("Closed", "/flows/-/cancel/"),
        "",
        "Enrollment is closed.",
    );
    assert_eq!(browser.get_flow("closed", "").await, denied);
    assert_eq!(browser.post_flow("closed", "", json!({})).await, denied);
}

/// identification (restart on invalid input) → password (`password_action` on a wrong
/// password), with a deny stage up front that applies only once akadmin is the pending user.
async fn restart_flow(server: &TestServer, slug: &str, password_action: InvalidResponseAction) {
    let flow = flows::flow(
        server,
        slug,
        slug,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
    )
    .await;
    let deny = flows::stage(
        server,
        &format!("{slug}-deny"),
        StageConfig::Deny(DenyStage {
            deny_message: "Restarted with context.".into(),
        }),
    )
    .await;
    let identification = flows::stage(
        server,
        &format!("{slug}-identification"),
        StageConfig::Identification(IdentificationStage::default()),
    )
    .await;
    let password = flows::stage(
        server,
        &format!("{slug}-password"),
        StageConfig::Password(PasswordStage::default()),
    )
    .await;
    let deny_binding = flows::bind(server, flow, deny, 0, InvalidResponseAction::Retry).await;
    flows::only_for_user(server, deny_binding, ADMIN).await;
    flows::bind(
        server,
        flow,
        identification,
        10,
        InvalidResponseAction::Restart,
    )
    .await;
    flows::bind(server, flow, password, 20, password_action).await;
}

fn flow_identification(slug: &str) -> Value {
    let mut challenge = identification_challenge();
    challenge["flow_info"]["title"] = json!(slug);
    // Only the default flow links the recovery flow.
    if let Some(challenge) = challenge.as_object_mut() {
        challenge.remove("recovery_url");
    }
    challenge
}

async fn restart_replans_from_scratch(db: Db) {
    let server = TestServer::start(db).await;
    let slug = "restarting";
    restart_flow(&server, slug, InvalidResponseAction::Restart).await;
    let browser = server.browser();
    assert_eq!(
        browser.get_flow(slug, "").await,
        flow_identification(slug),
        "the deny stage does not apply to an anonymous visitor"
    );
    // An invalid response restarts: a fresh first stage, without errors.
    assert_eq!(
        browser
            .post_flow(slug, "", json!({"component": "ak-stage-identification"}))
            .await,
        flow_identification(slug)
    );
    let mut expected = password_challenge(ADMIN);
    expected["flow_info"]["title"] = json!(slug);
    assert_eq!(browser.post_flow(slug, "", identify(ADMIN)).await, expected);
    // A wrong password restarts without the context: akadmin is forgotten, so the deny stage
    // still does not apply.
    assert_eq!(
        browser.post_flow(slug, "", password("wrong")).await,
        flow_identification(slug)
    );
}

async fn restart_with_context_keeps_the_pending_user(db: Db) {
    let server = TestServer::start(db).await;
    let slug = "restarting-with-context";
    restart_flow(&server, slug, InvalidResponseAction::RestartWithContext).await;
    let browser = server.browser();
    assert_eq!(browser.get_flow(slug, "").await, flow_identification(slug));
    browser.post_flow(slug, "", identify(ADMIN)).await;
    // The replanned flow keeps akadmin as pending user, so the deny stage now applies.
    assert_eq!(
        browser.post_flow(slug, "", password("wrong")).await,
        access_denied(
            flow_info(slug, "/flows/-/cancel/"),
            ADMIN,
            "Restarted with context."
        )
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn events_are_recorded_and_no_password_is_ever_logged(db: Db) {
    // The server runs on this test's (single-threaded) runtime, so a thread-local subscriber
    // sees everything it logs, at every level.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // With exactly one registered dispatcher, tracing-core caches each callsite's interest
    // from whichever thread hits it first, here another test's thread with no subscriber, and
    // this one would miss those events. A second live dispatcher keeps the check per thread.
    let _second_dispatcher = tracing::Dispatch::new(tracing_subscriber::registry());

    let wrong = "Wrong-Guess-7f3a91";
    let new_password = "Fresh-Secret-c81d2e";
    let server = TestServer::start(db).await;
    let browser = server.browser();
    browser.get_flow(AUTH_FLOW, "").await;
    browser.post_flow(AUTH_FLOW, "", identify(ADMIN)).await;
    assert_eq!(
        browser.post_flow(AUTH_FLOW, "", password(wrong)).await,
        invalid_password(ADMIN)
    );
    assert_eq!(
        browser
            .post_flow(AUTH_FLOW, "", password(ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );
    assert_eq!(browser.get_flow(LOGOUT_FLOW, "").await, redirect_to("/"));
    let admin_id = flows::user_id(&server, ADMIN).await;
    let response = server
        .bare_client()
        .post(format!(
            "{}/api/v3/core/users/{admin_id}/set_password/",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let events = server.events().await;
    let actions: Vec<&str> = events.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["login_failed", "login", "logout", "password_set"],
        "{events:?}"
    );
    let (_, failed_user, failed) = &events[0];
    assert_eq!(failed["username"], ADMIN, "{failed}");
    assert_eq!(failed_user, "", "a failed login has no authenticated user");
    let (_, login_user, login) = &events[1];
    assert_eq!(login_user, ADMIN);
    assert_eq!(login["auth_method"], "password", "{login}");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("login_failed"), "the capture works: {logs}");
    let stored = serde_json::to_string(&events).unwrap();
    for secret in [wrong, ADMIN_PASSWORD, new_password] {
        assert!(
            !stored.contains(secret),
            "an event holds a password: {stored}"
        );
        assert!(!logs.contains(secret), "a log line holds a password");
    }
}

async fn broken_stage_is_a_flow_error_with_details_only_for_superusers(db: Db) {
    use sea_orm::{ActiveModelTrait, Set};
    let server = TestServer::start(db).await;
    let flow = flows::flow(
        &server,
        "broken",
        "Broken",
        FlowDesignation::StageConfiguration,
        AuthenticationRequirement::None,
    )
    .await;
    // A stage of a kind this keyflow does not know (say, written by a newer version).
    let stage = keyflow::store::stage::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        name: Set("from-the-future".into()),
        kind: Set("teleport".into()),
        config: Set(json!({})),
    }
    .insert(server.db())
    .await
    .unwrap();
    flows::bind(&server, flow, stage.id, 10, InvalidResponseAction::Retry).await;

    let browser = server.browser();
    let anonymous = browser.get_flow("broken", "").await;
    assert_eq!(anonymous["component"], "ak-stage-flow-error", "{anonymous}");
    assert!(anonymous["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert_eq!(
        anonymous.get("error"),
        None,
        "no internals for anonymous: {anonymous}"
    );
    assert_eq!(anonymous.get("flow_info"), None);

    browser.login(ADMIN, ADMIN_PASSWORD).await;
    let admin = browser.get_flow("broken", "").await;
    assert_eq!(admin["component"], "ak-stage-flow-error");
    assert!(
        admin["error"]
            .as_str()
            .is_some_and(|e| e.contains("teleport")),
        "superusers see the error: {admin}"
    );
}

async fn remember_me_is_asked_and_makes_the_session_outlive_the_browser(db: Db) {
    let server = TestServer::start(db).await;
    let slug = "remembering";
    let flow = flows::flow(
        &server,
        slug,
        slug,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
    )
    .await;
    let password = flows::stage(
        &server,
        "remembering-password",
        StageConfig::Password(PasswordStage::default()),
    )
    .await;
    let identification = flows::stage(
        &server,
        "remembering-identification",
        StageConfig::Identification(IdentificationStage {
            password_stage: Some(password),
            ..IdentificationStage::default()
        }),
    )
    .await;
    let login = flows::stage(
        &server,
        "remembering-login",
        StageConfig::UserLogin(UserLoginStage {
            session_duration: FlowDuration::parse("hours=1").unwrap(),
            remember_me_offset: FlowDuration::parse("days=30").unwrap(),
            terminate_other_sessions: false,
        }),
    )
    .await;
    flows::bind(
        &server,
        flow,
        identification,
        10,
        InvalidResponseAction::Retry,
    )
    .await;
    flows::bind(&server, flow, login, 20, InvalidResponseAction::Retry).await;

    let browser = server.browser();
    let mut form = flow_identification(slug);
    form["password_fields"] = json!(true);
    assert_eq!(browser.get_flow(slug, "").await, form);
    let both = |password: &str| json!({"component": "ak-stage-identification", "uid_field": ADMIN, "password": password});
    assert_eq!(
        browser.post_flow(slug, "", both("wrong")).await,
        with_errors(
            form,
            field_error("non_field_errors", "Failed to authenticate.", "invalid")
        )
    );
    let ask = json!({
        "flow_info": flow_info(slug, "/flows/-/cancel/"),
        "component": "ak-stage-user-login",
        "pending_user": ADMIN,
        "pending_user_avatar": AVATAR,
    });
    assert_eq!(browser.post_flow(slug, "", both(ADMIN_PASSWORD)).await, ask);
    assert_eq!(
        browser
            .post_flow(slug, "", json!({"component": "ak-stage-user-login"}))
            .await,
        with_errors(
            ask,
            field_error("remember_me", "This field is required.", "required")
        )
    );
    let response = browser
        .post_flow_raw(
            slug,
            "",
            json!({"component": "ak-stage-user-login", "remember_me": true}),
            &[],
        )
        .await;
    let session_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(SESSION_COOKIE))
        .expect("login sets the session cookie")
        .to_owned();
    assert_eq!(challenge_of(response).await, redirect_to("/"));
    let max_age: i64 = session_cookie
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Max-Age="))
        .unwrap_or_else(|| panic!("a remembered session is persistent: {session_cookie}"))
        .parse()
        .unwrap();
    let expected = 30 * 86_400 + 3_600;
    assert!((expected - 60..=expected).contains(&max_age), "{max_age}");
    assert_eq!(browser.me().await.0, StatusCode::OK);
}
