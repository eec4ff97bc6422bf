//! MFA over the executor API: setting up TOTP and static tokens as a signed-in user, then
//! signing in with a code; replay and single use; `not_configured_action` skip / deny /
//! configure (one stage injected, several offered in a picker); `last_auth_threshold`; and the
//! own-devices API. Codes are computed from the `otpauth://` URI the server hands out.

use crate::common::flows;
use crate::common::*;
use chrono::Utc;
use keyflow::duration::FlowDuration;
use keyflow::flows::{AuthenticationRequirement, FlowDesignation};
use keyflow::mfa::totp::{code_at, TotpAlgorithm, TotpParams};
use keyflow::stages::{
    authenticator_static::AuthenticatorStaticStage,
    authenticator_totp::AuthenticatorTotpStage,
    authenticator_validate::{AuthenticatorValidateStage, NotConfiguredAction},
    identification::IdentificationStage,
    password::PasswordStage,
    user_login::UserLoginStage,
    StageConfig,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

both_databases!(
    totp_set_up_while_signed_in_then_used_to_sign_in,
    a_totp_code_is_accepted_only_once,
    static_tokens_are_shown_once_and_each_works_once,
    validation_without_devices_skips_by_default,
    validation_without_devices_can_deny,
    configure_injects_the_only_setup_stage,
    configure_with_several_stages_lets_the_user_pick,
    recent_validation_within_the_threshold_skips_the_stage,
    own_devices_can_be_listed_renamed_and_deleted,
    the_default_flow_asks_for_the_second_factor,
);

const LOGIN_FLOW: &str = "mfa-login";
const TOTP_FLOW: &str = "default-authenticator-totp-setup";
const STATIC_FLOW: &str = "default-authenticator-static-setup";
const INVALID_TOKEN: &str =
    "Invalid Token. Please ensure the time on your device is accurate and try again.";

/// identification → password → authenticator validation → login, like authentik's default
/// authentication flow with MFA.
async fn login_flow(server: &TestServer, validate: AuthenticatorValidateStage) {
    let flow = flows::flow(
        server,
        LOGIN_FLOW,
        "MFA login",
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
    )
    .await;
    let stages = [
        (
            "mfa-login-identification",
            StageConfig::Identification(IdentificationStage::default()),
        ),
        (
            "mfa-login-password",
            StageConfig::Password(PasswordStage::default()),
        ),
        (
            "mfa-login-validate",
            StageConfig::AuthenticatorValidate(validate),
        ),
        (
            "mfa-login-login",
            StageConfig::UserLogin(UserLoginStage::default()),
        ),
    ];
    flows::bind_in_order(server, flow, stages.into()).await;
}

/// Runs identification and password of the MFA login flow; returns what comes next.
async fn start_login(browser: &Browser) -> Value {
    let first = browser.get_flow(LOGIN_FLOW, "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    let second = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-identification", "uid_field": ADMIN}),
        )
        .await;
    assert_eq!(second["component"], "ak-stage-password", "{second}");
    browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}),
        )
        .await
}

fn code_body(code: &str) -> Value {
    json!({"component": "ak-stage-authenticator-validate", "code": code})
}

/// A POST from a signed-in browser's page (which sends the CSRF token).
async fn post_signed_in(browser: &Browser, slug: &str, body: Value) -> Value {
    let token = browser.cookie(CSRF_COOKIE).expect("CSRF cookie");
    challenge_of(
        browser
            .post_flow_raw(slug, "", body, &[("X-CSRF-Token", &token)])
            .await,
    )
    .await
}

/// A signed-in browser.
async fn signed_in(server: &TestServer) -> Browser {
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    browser
}

fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.chars() {
        let value = alphabet.find(c).expect("base32 character") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// The key inside an `otpauth://` URI.
fn key_of(config_url: &str) -> Vec<u8> {
    let secret = config_url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("secret parameter");
    base32_decode(secret)
}

const SIX_DIGITS_SHA1: TotpParams = TotpParams {
    digits: 6,
    algorithm: TotpAlgorithm::Sha1,
    period: 30,
};

/// The code an authenticator app shows `offset` seconds from now.
fn code_in(key: &[u8], offset: i64) -> String {
    let at = (Utc::now().timestamp() + offset) as u64;
    code_at(key, SIX_DIGITS_SHA1, at).expect("code")
}

/// Sets up TOTP for the signed-in `browser` through the default set-up flow; returns the key.
async fn set_up_totp(browser: &Browser) -> Vec<u8> {
    let challenge = browser.get_flow(TOTP_FLOW, "").await;
    assert_eq!(
        challenge["component"], "ak-stage-authenticator-totp",
        "{challenge}"
    );
    let config_url = challenge["config_url"].as_str().expect("config_url");
    let key = key_of(config_url);
    let done = post_signed_in(
        browser,
        TOTP_FLOW,
        json!({"component": "ak-stage-authenticator-totp", "code": code_in(&key, 0)}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
    key
}

/// Waits out the throttle a failed code starts (one second after one failure).
async fn wait_for_throttle() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

async fn totp_set_up_while_signed_in_then_used_to_sign_in(db: Db) {
    let server = TestServer::start(db).await;
    login_flow(&server, AuthenticatorValidateStage::default()).await;
    let browser = signed_in(&server).await;

    let challenge = browser.get_flow(TOTP_FLOW, "").await;
    let config_url = challenge["config_url"].as_str().unwrap().to_owned();
    assert!(
        config_url.starts_with("otpauth://totp/keyflow%3Aakadmin?secret="),
        "{config_url}"
    );
    assert!(config_url.ends_with("&algorithm=SHA1&digits=6&period=30&issuer=keyflow"));
    assert_eq!(
        challenge,
        json!({
            "flow_info": {
                "title": "Set up an authenticator app",
                "background": "/static/flow_background.svg",
                "background_themed_urls": null,
                "cancel_url": "/flows/-/cancel/",
                "layout": "stacked",
            },
            "component": "ak-stage-authenticator-totp",
            "pending_user": ADMIN,
            "pending_user_avatar": AVATAR,
            "config_url": config_url,
        })
    );
    // A reload shows the same key, and the key is not stored in the clear.
    let again = browser.get_flow(TOTP_FLOW, "").await;
    assert_eq!(again["config_url"], config_url);
    let key = key_of(&config_url);
    let stored: Vec<keyflow::store::totp_device::Model> = {
        use sea_orm::EntityTrait;
        keyflow::store::totp_device::Entity::find()
            .all(server.db())
            .await
            .unwrap()
    };
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].confirmed);
    assert!(!stored[0].secret.contains(&hex::encode(&key)));

    // The page's QR image: drawn by the server for this session's set-up, never cached; no
    // other session gets it.
    let qr = browser
        .client
        .get(browser.url("/-/flows/totp-qr.svg"))
        .send()
        .await
        .expect("QR");
    assert_eq!(qr.status(), reqwest::StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert_eq!(qr.headers()["cache-control"], "no-store");
    assert!(qr.text().await.unwrap().starts_with("<svg"));
    let stranger = server.browser();
    let refused = stranger
        .client
        .get(stranger.url("/-/flows/totp-qr.svg"))
        .send()
        .await
        .expect("QR");
    assert_eq!(refused.status(), reqwest::StatusCode::NOT_FOUND);

    let wrong = post_signed_in(
        &browser,
        TOTP_FLOW,
        json!({"component": "ak-stage-authenticator-totp", "code": "abc"}),
    )
    .await;
    assert_eq!(
        wrong["response_errors"],
        field_error("code", "A valid integer is required.", "invalid")
    );
    let done = post_signed_in(
        &browser,
        TOTP_FLOW,
        json!({"component": "ak-stage-authenticator-totp", "code": code_in(&key, 0)}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));

    // Signing in now asks for the code.
    let other = server.browser();
    let validate = start_login(&other).await;
    let uid = stored[0].id.to_string();
    assert_eq!(
        validate,
        json!({
            "flow_info": {
                "title": "MFA login",
                "background": "/static/flow_background.svg",
                "background_themed_urls": null,
                "cancel_url": "/flows/-/cancel/",
                "layout": "stacked",
            },
            "component": "ak-stage-authenticator-validate",
            "pending_user": ADMIN,
            "pending_user_avatar": AVATAR,
            "device_challenges": [
                {"device_class": "totp", "device_uid": uid, "challenge": {}, "last_used": null}
            ],
            "configuration_stages": [],
        })
    );
    let wrong = other.post_flow(LOGIN_FLOW, "", code_body("00000a")).await;
    assert_eq!(
        wrong["response_errors"],
        field_error("code", INVALID_TOKEN, "invalid")
    );
    assert_eq!(wrong["device_challenges"], validate["device_challenges"]);
    wait_for_throttle().await;
    // The set-up used this step's code; the app's next code is the one to use.
    let done = other
        .post_flow(LOGIN_FLOW, "", code_body(&code_in(&key, 30)))
        .await;
    assert_eq!(done, redirect_to("/"));
    let (status, me) = other.me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], ADMIN);

    let events = server.events().await;
    let login = events
        .iter()
        .rev()
        .find(|(action, _, _)| action == "login")
        .expect("login event");
    assert_eq!(login.2["auth_method"], "password");
    assert_eq!(
        login.2["auth_method_args"]["mfa_devices"],
        json!([{
            "pk": stored[0].id,
            "app": "authentik_stages_authenticator_totp",
            "name": "TOTP Authenticator",
            "model_name": "totpdevice",
        }])
    );
    assert!(events.iter().any(|(action, _, _)| action == "login_failed"));
    assert!(!format!("{events:?}").contains(&code_in(&key, 30)));
}

async fn a_totp_code_is_accepted_only_once(db: Db) {
    let server = TestServer::start(db).await;
    login_flow(&server, AuthenticatorValidateStage::default()).await;
    let key = set_up_totp(&signed_in(&server).await).await;
    let code = code_in(&key, 30);

    let first = server.browser();
    start_login(&first).await;
    assert_eq!(
        first.post_flow(LOGIN_FLOW, "", code_body(&code)).await,
        redirect_to("/")
    );
    let second = server.browser();
    start_login(&second).await;
    let replay = second.post_flow(LOGIN_FLOW, "", code_body(&code)).await;
    assert_eq!(
        replay["response_errors"],
        field_error("code", INVALID_TOKEN, "invalid")
    );
}

async fn static_tokens_are_shown_once_and_each_works_once(db: Db) {
    let server = TestServer::start(db).await;
    login_flow(&server, AuthenticatorValidateStage::default()).await;
    let browser = signed_in(&server).await;
    let challenge = browser.get_flow(STATIC_FLOW, "").await;
    assert_eq!(challenge["component"], "ak-stage-authenticator-static");
    assert_eq!(challenge["flow_info"]["title"], "Set up recovery codes");
    assert_eq!(challenge["pending_user"], ADMIN);
    let codes: Vec<String> = serde_json::from_value(challenge["codes"].clone()).unwrap();
    assert_eq!(codes.len(), 6);
    assert!(codes
        .iter()
        .all(|c| c.len() == 12 && c.chars().all(|ch| ch.is_ascii_alphanumeric())));
    // A reload shows the same codes until they are confirmed.
    assert_eq!(
        browser.get_flow(STATIC_FLOW, "").await["codes"],
        challenge["codes"]
    );
    let done = post_signed_in(
        &browser,
        STATIC_FLOW,
        json!({"component": "ak-stage-authenticator-static"}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
    // "MFA added" in the audit log: authentik's model_created, naming the device.
    let added: Vec<Value> = server
        .events()
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "model_created")
        .map(|(_, _, context)| context["model"].clone())
        .collect();
    assert!(
        added.iter().any(|m| m["model_name"] == "staticdevice"),
        "{added:?}"
    );
    // Stored hashed only.
    {
        use sea_orm::EntityTrait;
        let tokens = keyflow::store::static_token::Entity::find()
            .all(server.db())
            .await
            .unwrap();
        assert_eq!(tokens.len(), 6);
        assert!(tokens.iter().all(|t| !codes.contains(&t.token_hash)));
    }

    let first = server.browser();
    let validate = start_login(&first).await;
    assert_eq!(validate["device_challenges"][0]["device_class"], "static");
    assert_eq!(
        first.post_flow(LOGIN_FLOW, "", code_body(&codes[0])).await,
        redirect_to("/")
    );
    let second = server.browser();
    start_login(&second).await;
    let reused = second.post_flow(LOGIN_FLOW, "", code_body(&codes[0])).await;
    assert_eq!(
        reused["response_errors"],
        field_error("code", INVALID_TOKEN, "invalid")
    );
    wait_for_throttle().await;
    assert_eq!(
        second.post_flow(LOGIN_FLOW, "", code_body(&codes[1])).await,
        redirect_to("/")
    );
}

async fn validation_without_devices_skips_by_default(db: Db) {
    let server = TestServer::start(db).await;
    login_flow(&server, AuthenticatorValidateStage::default()).await;
    let browser = server.browser();
    assert_eq!(start_login(&browser).await, redirect_to("/"));
}

async fn validation_without_devices_can_deny(db: Db) {
    let server = TestServer::start(db).await;
    login_flow(
        &server,
        AuthenticatorValidateStage {
            not_configured_action: NotConfiguredAction::Deny,
            ..Default::default()
        },
    )
    .await;
    let browser = server.browser();
    let denied = start_login(&browser).await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(
        denied["error_message"],
        "No (allowed) MFA authenticator configured."
    );
    assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
}

async fn setup_stage(server: &TestServer, config: StageConfig) -> Uuid {
    let name = match &config {
        StageConfig::AuthenticatorTotp(_) => "mfa-test-totp-setup",
        _ => "mfa-test-static-setup",
    };
    flows::stage(server, name, config).await
}

async fn configure_injects_the_only_setup_stage(db: Db) {
    let server = TestServer::start(db).await;
    let totp = setup_stage(
        &server,
        StageConfig::AuthenticatorTotp(AuthenticatorTotpStage::default()),
    )
    .await;
    login_flow(
        &server,
        AuthenticatorValidateStage {
            not_configured_action: NotConfiguredAction::Configure,
            configuration_stages: vec![totp],
            ..Default::default()
        },
    )
    .await;
    let browser = server.browser();
    let setup = start_login(&browser).await;
    assert_eq!(setup["component"], "ak-stage-authenticator-totp", "{setup}");
    assert_eq!(setup["flow_info"]["title"], "MFA login");
    let key = key_of(setup["config_url"].as_str().unwrap());
    let done = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-authenticator-totp", "code": code_in(&key, 0)}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.0, StatusCode::OK);
    // Next time the new device is asked for.
    let next = server.browser();
    let validate = start_login(&next).await;
    assert_eq!(validate["device_challenges"][0]["device_class"], "totp");
}

async fn configure_with_several_stages_lets_the_user_pick(db: Db) {
    let server = TestServer::start(db).await;
    let totp = setup_stage(
        &server,
        StageConfig::AuthenticatorTotp(AuthenticatorTotpStage {
            friendly_name: Some("Authenticator app".into()),
            ..Default::default()
        }),
    )
    .await;
    let statics = setup_stage(
        &server,
        StageConfig::AuthenticatorStatic(AuthenticatorStaticStage::default()),
    )
    .await;
    login_flow(
        &server,
        AuthenticatorValidateStage {
            not_configured_action: NotConfiguredAction::Configure,
            configuration_stages: vec![totp, statics],
            ..Default::default()
        },
    )
    .await;
    let browser = server.browser();
    let picker = start_login(&browser).await;
    assert_eq!(picker["component"], "ak-stage-authenticator-validate");
    assert_eq!(picker["device_challenges"], json!([]));
    assert_eq!(
        picker["configuration_stages"],
        json!([
            {
                "pk": totp.to_string(),
                "name": "Authenticator app",
                "verbose_name": "TOTP Authenticator",
                "meta_model_name": "authentik_stages_authenticator_totp.authenticatortotpstage",
            },
            {
                "pk": statics.to_string(),
                "name": "mfa-test-static-setup",
                "verbose_name": "Static Authenticator",
                "meta_model_name": "authentik_stages_authenticator_static.authenticatorstaticstage",
            },
        ])
    );
    let bad = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-authenticator-validate", "selected_stage": Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!(
        bad["response_errors"],
        field_error("selected_stage", "Selected stage is invalid", "invalid")
    );
    assert_eq!(bad["configuration_stages"], picker["configuration_stages"]);
    let chosen = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-authenticator-validate", "selected_stage": statics.to_string()}),
        )
        .await;
    assert_eq!(
        chosen["component"], "ak-stage-authenticator-static",
        "{chosen}"
    );
    let done = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-authenticator-static"}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
}

async fn recent_validation_within_the_threshold_skips_the_stage(db: Db) {
    let server = TestServer::start(db).await;
    login_flow(
        &server,
        AuthenticatorValidateStage {
            last_auth_threshold: FlowDuration::parse("minutes=5").unwrap(),
            ..Default::default()
        },
    )
    .await;
    let key = set_up_totp(&signed_in(&server).await).await;
    let first = server.browser();
    let validate = start_login(&first).await;
    assert_eq!(validate["component"], "ak-stage-authenticator-validate");
    assert_eq!(
        first
            .post_flow(LOGIN_FLOW, "", code_body(&code_in(&key, 30)))
            .await,
        redirect_to("/")
    );
    // Validated a moment ago: the next sign-in does not ask again.
    let second = server.browser();
    assert_eq!(start_login(&second).await, redirect_to("/"));
    // Once the threshold has passed, it asks again.
    {
        use sea_orm::{EntityTrait, Set};
        let device = keyflow::store::totp_device::Entity::find()
            .one(server.db())
            .await
            .unwrap()
            .unwrap();
        let mut active: keyflow::store::totp_device::ActiveModel = device.into();
        active.last_used = Set(Some(Utc::now() - chrono::Duration::minutes(6)));
        sea_orm::ActiveModelTrait::update(active, server.db())
            .await
            .unwrap();
    }
    let third = server.browser();
    let asked = start_login(&third).await;
    assert_eq!(asked["component"], "ak-stage-authenticator-validate");
    assert!(asked["device_challenges"][0]["last_used"].is_string());
}

async fn own_devices_can_be_listed_renamed_and_deleted(db: Db) {
    let server = TestServer::start(db).await;
    let browser = signed_in(&server).await;
    set_up_totp(&browser).await;

    let list = browser
        .api(Method::GET, "/api/v3/authenticators/all/", None)
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let device = &list[0];
    assert_eq!(
        device["type"],
        "authentik_stages_authenticator_totp.TOTPDevice"
    );
    assert_eq!(device["verbose_name"], "TOTP Device");
    assert_eq!(
        device["meta_model_name"],
        "authentik_stages_authenticator_totp.totpdevice"
    );
    assert_eq!(device["confirmed"], true);
    let pk = device["pk"].as_str().unwrap().to_owned();
    let path = format!("/api/v3/authenticators/totp/{pk}/");

    // Renaming without the CSRF token is refused.
    let no_csrf = browser
        .client
        .patch(browser.url(&path))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let blank = browser
        .api(Method::PATCH, &path, Some(json!({"name": "  "})))
        .await;
    assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
    let renamed = browser
        .api(Method::PATCH, &path, Some(json!({"name": "My phone"})))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["name"], "My phone");
    let fetched: Value = browser
        .api(Method::GET, &path, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "My phone");

    // Someone else cannot see or touch it.
    let anonymous = server.browser();
    assert_eq!(
        anonymous.api(Method::GET, &path, None).await.status(),
        StatusCode::FORBIDDEN
    );
    for missing in [
        "/api/v3/authenticators/totp/999999/",
        "/api/v3/authenticators/static/1/",
        "/api/v3/authenticators/duo/1/",
        "/api/v3/authenticators/totp/abc/",
    ] {
        assert_eq!(
            browser.api(Method::GET, missing, None).await.status(),
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }

    let deleted = browser.api(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let list: Value = browser
        .api(Method::GET, "/api/v3/authenticators/all/", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    assert!(server
        .event_actions()
        .await
        .contains(&"model_deleted".to_owned()));
}

/// The default authentication flow has authentik's MFA validation binding: with a TOTP device,
/// signing in asks for the code after the password.
async fn the_default_flow_asks_for_the_second_factor(db: Db) {
    let server = TestServer::start(db).await;
    let key = set_up_totp(&signed_in(&server).await).await;
    let browser = server.browser();
    let validate = browser.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        validate["component"], "ak-stage-authenticator-validate",
        "{validate}"
    );
    assert_eq!(validate["flow_info"], auth_flow_info());
    let done = browser
        .post_flow(AUTH_FLOW, "", code_body(&code_in(&key, 30)))
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.0, StatusCode::OK);
}
