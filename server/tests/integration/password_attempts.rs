//! The password attempt limit (`failed_attempts_before_cancel`) over HTTP, on every path that
//! checks a password: the combined username + password page, the password stage, and a later
//! password stage in the same flow. Real and unknown accounts must get the same answers.

use crate::common::flows;
use crate::common::*;
use keyflow::flows::{AuthenticationRequirement, FlowDesignation};
use keyflow::stages::{
    identification::IdentificationStage, password::PasswordStage, user_login::UserLoginStage,
    StageConfig,
};
use serde_json::{json, Value};

both_databases!(
    combined_page_cancels_the_flow_at_the_limit,
    combined_page_answers_unknown_accounts_like_real_ones,
    password_stage_cancels_unknown_accounts_like_real_ones,
    later_password_stage_counts_with_its_own_limit,
);

const COMBINED: &str = "combined-login";
const NOBODY: &str = "nosuchuser";

fn password_stage(limit: u32) -> StageConfig {
    StageConfig::Password(PasswordStage {
        failed_attempts_before_cancel: limit,
        ..PasswordStage::default()
    })
}

/// A flow asking username and password on one page (the password stage's limit is 5), then
/// `later` (more stages), then user login.
async fn combined_flow(server: &TestServer, later: Vec<(&str, StageConfig)>) {
    let flow = flows::flow(
        server,
        COMBINED,
        COMBINED,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
    )
    .await;
    let password = flows::stage(server, "combined-password", password_stage(5)).await;
    let mut stages = vec![(
        "combined-identification",
        StageConfig::Identification(IdentificationStage {
            password_stage: Some(password),
            ..IdentificationStage::default()
        }),
    )];
    stages.extend(later);
    stages.push((
        "combined-user-login",
        StageConfig::UserLogin(UserLoginStage::default()),
    ));
    flows::bind_in_order(server, flow, stages).await;
}

fn both(uid: &str, password: &str) -> Value {
    json!({"component": "ak-stage-identification", "uid_field": uid, "password": password})
}

fn combined_form() -> Value {
    let mut form = identification_challenge();
    form["flow_info"]["title"] = json!(COMBINED);
    // Only the default flow links the recovery flow.
    if let Some(form) = form.as_object_mut() {
        form.remove("recovery_url");
    }
    form["password_fields"] = json!(true);
    form
}

fn failed_to_authenticate() -> Value {
    with_errors(
        combined_form(),
        field_error("non_field_errors", "Failed to authenticate.", "invalid"),
    )
}

/// authentik's lockout answer: the plan is dropped and access is denied.
fn cancelled(title: &str, pending_user: &str) -> Value {
    let mut flow_info = auth_flow_info();
    flow_info["title"] = json!(title);
    json!({
        "flow_info": flow_info,
        "component": "ak-stage-access-denied",
        "pending_user": pending_user,
        "pending_user_avatar": AVATAR,
        "error_message": "Invalid password",
    })
}

/// The answers to eight wrong username + password POSTs for `uid`.
async fn eight_wrong_tries(server: &TestServer, uid: &str) -> Vec<Value> {
    let browser = server.browser();
    assert_eq!(browser.get_flow(COMBINED, "").await, combined_form());
    let mut answers = Vec::new();
    for attempt in 0..8 {
        answers.push(
            browser
                .post_flow(COMBINED, "", both(uid, &format!("wrong-{attempt}")))
                .await,
        );
    }
    answers
}

async fn combined_page_cancels_the_flow_at_the_limit(db: Db) {
    let server = TestServer::start(db).await;
    combined_flow(&server, vec![]).await;
    let answers = eight_wrong_tries(&server, ADMIN).await;
    // Four field errors, the fifth cancels; the plan is gone, so the next POSTs start a new
    // flow whose count starts from 0 again.
    let mut expected = vec![failed_to_authenticate(); 4];
    expected.push(cancelled(COMBINED, ""));
    expected.extend(vec![failed_to_authenticate(); 3]);
    assert_eq!(answers, expected);

    let failures = server
        .event_actions()
        .await
        .into_iter()
        .filter(|a| a == "login_failed")
        .count();
    assert_eq!(failures, 8);
    // The right password still works in a new flow.
    let browser = server.browser();
    browser.get_flow(COMBINED, "").await;
    assert_eq!(
        browser
            .post_flow(COMBINED, "", both(ADMIN, ADMIN_PASSWORD))
            .await,
        redirect_to("/")
    );
}

async fn combined_page_answers_unknown_accounts_like_real_ones(db: Db) {
    let server = TestServer::start(db).await;
    combined_flow(&server, vec![]).await;
    let real = eight_wrong_tries(&server, ADMIN).await;
    let unknown = eight_wrong_tries(&server, NOBODY).await;
    assert_eq!(
        real[4]["component"], "ak-stage-access-denied",
        "{:?}",
        real[4]
    );
    assert_eq!(
        unknown, real,
        "an unknown account must look like a real one"
    );
}

async fn password_stage_cancels_unknown_accounts_like_real_ones(db: Db) {
    let server = TestServer::start(db).await;
    for uid in [ADMIN, NOBODY] {
        let browser = server.browser();
        browser.get_flow(AUTH_FLOW, "").await;
        assert_eq!(
            browser
                .post_flow(
                    AUTH_FLOW,
                    "",
                    json!({"component": "ak-stage-identification", "uid_field": uid}),
                )
                .await,
            password_challenge(uid)
        );
        let wrong = |attempt: usize| json!({"component": "ak-stage-password", "password": format!("wrong-{attempt}")});
        for attempt in 0..4 {
            assert_eq!(
                browser.post_flow(AUTH_FLOW, "", wrong(attempt)).await,
                with_errors(
                    password_challenge(uid),
                    field_error("password", "Invalid password", "invalid")
                ),
                "{uid}, attempt {attempt}"
            );
        }
        assert_eq!(
            browser.post_flow(AUTH_FLOW, "", wrong(4)).await,
            cancelled("Welcome to keyflow!", uid),
            "{uid}"
        );
        // The plan is gone: a new one starts at identification.
        let next = browser.post_flow(AUTH_FLOW, "", wrong(5)).await;
        assert_eq!(next["component"], "ak-stage-identification", "{next}");
    }
}

async fn later_password_stage_counts_with_its_own_limit(db: Db) {
    let server = TestServer::start(db).await;
    combined_flow(&server, vec![("combined-confirm", password_stage(3))]).await;
    let browser = server.browser();
    browser.get_flow(COMBINED, "").await;
    for attempt in 0..2 {
        assert_eq!(
            browser
                .post_flow(COMBINED, "", both(ADMIN, &format!("wrong-{attempt}")))
                .await,
            failed_to_authenticate()
        );
    }
    let mut confirm = password_challenge(ADMIN);
    confirm["flow_info"]["title"] = json!(COMBINED);
    // The right password resets the count: the later stage allows its own 3 tries.
    assert_eq!(
        browser
            .post_flow(COMBINED, "", both(ADMIN, ADMIN_PASSWORD))
            .await,
        confirm
    );
    let wrong = json!({"component": "ak-stage-password", "password": "wrong"});
    for attempt in 0..2 {
        assert_eq!(
            browser.post_flow(COMBINED, "", wrong.clone()).await,
            with_errors(
                confirm.clone(),
                field_error("password", "Invalid password", "invalid")
            ),
            "attempt {attempt}"
        );
    }
    assert_eq!(
        browser.post_flow(COMBINED, "", wrong).await,
        cancelled(COMBINED, ADMIN)
    );
}
