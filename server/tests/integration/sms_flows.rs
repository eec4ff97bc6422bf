//! The SMS authenticator set-up (spec §4.8) against the fake gateways (`end2end/fakes/sms.py`),
//! started as a real process: Twilio (form POST, basic auth with the account SID) and the
//! generic webhook (JSON, bearer or basic auth). A number is texted a code and registered once
//! the code comes back; bad numbers, taken numbers, refusing and unreachable gateways each get
//! a clear error; resends are rate-limited; a verify-only stage keeps just the number's hash.

use crate::common::fakes::Fakes;
use crate::common::*;
use keyflow::store::{sms_device, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

both_databases!(
    twilio_texts_a_code_and_registers_the_number,
    bad_and_refused_numbers_are_explained,
    the_webhook_gets_authentiks_body_and_verify_only_keeps_a_hash,
    an_unreachable_gateway_is_a_clear_error,
    resending_is_rate_limited,
    signing_in_with_a_texted_code,
);

const FLOW: &str = "sms-setup";
const COMPONENT: &str = "ak-stage-authenticator-sms";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-1";
const FROM: &str = "+15550001111";
const NUMBER: &str = "+15552223333";
const LANDLINE: &str = "+15559990000";

/// A `sms-setup` flow whose SMS stage has `attrs` (YAML lines under `attrs:`, six spaces in).
async fn setup_flow(server: &TestServer, attrs: &[&str]) {
    let attrs: Vec<String> = attrs.iter().map(|line| format!("      {line}")).collect();
    let blueprint = format!(
        r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: {FLOW}
    attrs:
      name: SMS set-up
      title: Set up SMS
      designation: stage_configuration
      authentication: require_authenticated
  - model: authentik_stages_authenticator_sms.authenticatorsmsstage
    id: sms
    identifiers:
      name: sms-setup
    attrs:
{attrs}
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf sms
      order: 0
"#,
        attrs = attrs.join("\n")
    );
    apply_blueprint(server, &blueprint).await;
}

fn twilio_attrs() -> Vec<String> {
    vec![
        "provider: twilio".into(),
        format!("from_number: '{FROM}'"),
        format!("account_sid: {SID}"),
        format!("auth: {TOKEN}"),
    ]
}

/// keyflow with Twilio pointed at `fakes`, the fake account registered, the flow made.
async fn twilio_server(db: Db, fakes: &Fakes, extra: &[&str]) -> TestServer {
    fakes
        .post(
            "/_fake/sms/twilio/accounts",
            json!({"sid": SID, "token": TOKEN, "landlines": [LANDLINE]}),
        )
        .await;
    let server = TestServer::start_with(db, &["--twilio-api-url", &fakes.base]).await;
    let mut attrs = twilio_attrs();
    attrs.extend(extra.iter().map(|line| line.to_string()));
    let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
    setup_flow(&server, &attrs).await;
    server
}

async fn signed_in(server: &TestServer) -> Browser {
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    browser
}

/// A POST from a signed-in page (with the CSRF token).
async fn post(browser: &Browser, body: Value) -> Value {
    let token = browser.cookie(CSRF_COOKIE).expect("CSRF cookie");
    challenge_of(
        browser
            .post_flow_raw(FLOW, "", body, &[("X-CSRF-Token", &token)])
            .await,
    )
    .await
}

async fn send_number(browser: &Browser, number: &str) -> Value {
    post(
        browser,
        json!({"component": COMPONENT, "phone_number": number}),
    )
    .await
}

async fn send_code(browser: &Browser, code: &str) -> Value {
    post(browser, json!({"component": COMPONENT, "code": code})).await
}

fn errors(challenge: &Value, field: &str) -> Vec<String> {
    challenge["response_errors"][field]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| e["string"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The code in the last accepted text, and that text.
async fn last_code(fakes: &Fakes) -> (String, Value) {
    let messages = fakes.sms_messages().await;
    let last = messages.last().expect("a text was sent").clone();
    let body = last["body"].as_str().unwrap_or_default();
    let code = body
        .rsplit(": ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(code.len(), 6, "{last}");
    (code, last)
}

async fn devices_of(server: &TestServer, username: &str) -> Vec<sms_device::Model> {
    let owner = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(server.db())
        .await
        .expect("query")
        .expect("user");
    sms_device::Entity::find()
        .filter(sms_device::Column::UserId.eq(owner.id))
        .all(server.db())
        .await
        .expect("query")
}

async fn twilio_texts_a_code_and_registers_the_number(db: Db) {
    let fakes = Fakes::start().await;
    let server = twilio_server(db, &fakes, &[]).await;
    let browser = signed_in(&server).await;

    let first = browser.get_flow(FLOW, "").await;
    assert_eq!(first["component"], COMPONENT, "{first}");
    assert_eq!(first["phone_number_required"], true);
    assert!(!first.to_string().contains(TOKEN));

    // Typed with spaces and brackets: sent in E.164.
    let asked = send_number(&browser, "+1 (555) 222-3333").await;
    assert_eq!(asked["phone_number_required"], false, "{asked}");
    assert!(asked.get("response_errors").is_none(), "{asked}");
    let (code, text) = last_code(&fakes).await;
    assert_eq!(text["gateway"], "twilio");
    assert_eq!(text["status"], 201);
    assert_eq!(text["auth_ok"], true);
    assert_eq!(text["to"], NUMBER);
    assert_eq!(text["from"], FROM);
    assert_eq!(
        text["body"],
        format!("Use this code to authenticate in keyflow: {code}")
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = send_code(&browser, wrong).await;
    assert_eq!(
        errors(&refused, "non_field_errors"),
        ["Code does not match"]
    );
    // One failure throttles the device for a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let done = send_code(&browser, &code).await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let devices = devices_of(&server, ADMIN).await;
    assert_eq!(devices.len(), 1);
    assert!(devices[0].confirmed);
    assert_eq!(devices[0].phone_number, NUMBER);
    assert_eq!(devices[0].token_hash, None, "the code is used up");

    // The same number cannot be registered twice on this stage.
    let again = browser.get_flow(FLOW, "").await;
    assert_eq!(again["phone_number_required"], true, "{again}");
    let taken = send_number(&browser, NUMBER).await;
    assert_eq!(errors(&taken, "non_field_errors"), ["Invalid phone number"]);
}

async fn bad_and_refused_numbers_are_explained(db: Db) {
    let fakes = Fakes::start().await;
    let server = twilio_server(db, &fakes, &[]).await;
    let browser = signed_in(&server).await;
    browser.get_flow(FLOW, "").await;

    let none = post(&browser, json!({"component": COMPONENT})).await;
    assert_eq!(errors(&none, "non_field_errors"), ["phone_number required"]);
    let local = send_number(&browser, "555 222 3333").await;
    assert_eq!(
        errors(&local, "phone_number"),
        ["Enter the number in international format, with its country code (e.g. +15551234567)."]
    );
    assert!(fakes.sms_messages().await.is_empty(), "nothing was sent");

    // Twilio's own refusal, in its words; the person may try another number.
    let landline = send_number(&browser, LANDLINE).await;
    assert_eq!(landline["phone_number_required"], true, "{landline}");
    let said = errors(&landline, "phone_number");
    assert_eq!(said.len(), 1, "{landline}");
    assert!(said[0].contains("not a valid mobile number"), "{said:?}");
    let refused = fakes.sms_messages().await;
    assert_eq!(refused[0]["status"], 400);
    let events = server.event_actions().await;
    assert!(
        events.contains(&"configuration_error".to_owned()),
        "{events:?}"
    );

    let fine = send_number(&browser, NUMBER).await;
    assert_eq!(fine["phone_number_required"], false, "{fine}");

    // A wrong auth token: Twilio says "Authenticate".
    setup_flow(
        &server,
        &[
            "provider: twilio",
            "from_number: '+15550001111'",
            &format!("account_sid: {SID}"),
            "auth: not-the-token",
        ],
    )
    .await;
    let other = signed_in(&server).await;
    other.get_flow(FLOW, "").await;
    let unauthorised = send_number(&other, "+15552224444").await;
    let said = errors(&unauthorised, "phone_number");
    assert_eq!(said.len(), 1, "{unauthorised}");
    assert!(said[0].contains("Authenticate"), "{said:?}");
}

async fn the_webhook_gets_authentiks_body_and_verify_only_keeps_a_hash(db: Db) {
    let fakes = Fakes::start().await;
    fakes
        .post(
            "/_fake/sms/webhook",
            json!({"auth": "bearer", "token": "hook-token"}),
        )
        .await;
    let server = TestServer::start(db).await;
    let url = fakes.url("/sms/webhook");
    setup_flow(
        &server,
        &[
            "provider: generic",
            &format!("from_number: '{FROM}'"),
            &format!("account_sid: {url}"),
            "auth: hook-token",
            "auth_type: bearer",
            "verify_only: true",
        ],
    )
    .await;
    let browser = signed_in(&server).await;
    browser.get_flow(FLOW, "").await;
    let asked = send_number(&browser, NUMBER).await;
    assert_eq!(asked["phone_number_required"], false, "{asked}");
    let messages = fakes.sms_messages().await;
    let hook = &messages[0];
    assert_eq!(hook["gateway"], "webhook");
    assert_eq!(hook["auth_ok"], true);
    let body = &hook["json"];
    let code = body["Body"].as_str().expect("the code").to_owned();
    assert_eq!(
        body,
        &json!({
            "From": FROM,
            "To": NUMBER,
            "Body": code,
            "Message": format!("Use this code to authenticate in keyflow: {code}"),
        })
    );
    let done = send_code(&browser, &code).await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    let devices = devices_of(&server, ADMIN).await;
    assert_eq!(devices.len(), 1);
    assert!(devices[0].phone_number.starts_with("hash:"), "{devices:?}");
    assert!(!devices[0].phone_number.contains("5552223333"));

    // The hash still blocks the number on this stage.
    browser.get_flow(FLOW, "").await;
    let taken = send_number(&browser, NUMBER).await;
    assert_eq!(errors(&taken, "non_field_errors"), ["Invalid phone number"]);

    // A webhook that refuses: its answer is the message.
    fakes
        .post(
            "/_fake/sms/webhook",
            json!({"auth": "bearer", "token": "another-token"}),
        )
        .await;
    let refused = send_number(&browser, "+15552225555").await;
    assert_eq!(refused["phone_number_required"], true, "{refused}");
    assert_eq!(errors(&refused, "phone_number").len(), 1, "{refused}");
}

async fn an_unreachable_gateway_is_a_clear_error(db: Db) {
    let closed = format!("http://127.0.0.1:{}", smtp::free_port());
    let server = TestServer::start_with(db, &["--twilio-api-url", &closed]).await;
    let attrs = twilio_attrs();
    let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
    setup_flow(&server, &attrs).await;
    let browser = signed_in(&server).await;
    browser.get_flow(FLOW, "").await;
    let failed = send_number(&browser, NUMBER).await;
    assert_eq!(
        errors(&failed, "non_field_errors"),
        ["The code could not be sent. Please try again later."]
    );
    assert_eq!(failed["phone_number_required"], true);
    let events = server.events().await;
    let (_, _, context) = events
        .iter()
        .find(|(action, _, _)| action == "configuration_error")
        .expect("a configuration_error event");
    assert!(!context.to_string().contains(TOKEN), "{context}");
}

async fn resending_is_rate_limited(db: Db) {
    let fakes = Fakes::start().await;
    let server = twilio_server(db, &fakes, &[]).await;
    let browser = signed_in(&server).await;
    browser.get_flow(FLOW, "").await;
    send_number(&browser, NUMBER).await;
    let (first, _) = last_code(&fakes).await;
    // "Send again": neither number nor code.
    for _ in 0..4 {
        let again = post(&browser, json!({"component": COMPONENT})).await;
        assert!(again.get("response_errors").is_none(), "{again}");
    }
    assert_eq!(fakes.sms_messages().await.len(), 5);
    let limited = post(&browser, json!({"component": COMPONENT})).await;
    assert_eq!(
        errors(&limited, "non_field_errors"),
        ["Too many account verification attempts. Please try again after 5 minutes."]
    );
    assert_eq!(fakes.sms_messages().await.len(), 5, "nothing more was sent");
    // Only the latest code works.
    let (latest, _) = last_code(&fakes).await;
    if first != latest {
        let old = send_code(&browser, &first).await;
        assert_eq!(errors(&old, "non_field_errors"), ["Code does not match"]);
    }
    // A failed code throttles the device for a moment: wait it out.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let done = send_code(&browser, &latest).await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

/// Registers NUMBER for akadmin through the set-up flow.
async fn register(fakes: &Fakes, browser: &Browser) {
    browser.get_flow(FLOW, "").await;
    send_number(browser, NUMBER).await;
    let (code, _) = last_code(fakes).await;
    let done = send_code(browser, &code).await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
}

async fn signing_in_with_a_texted_code(db: Db) {
    let fakes = Fakes::start().await;
    let server = twilio_server(db, &fakes, &[]).await;
    register(&fakes, &signed_in(&server).await).await;
    let device = devices_of(&server, ADMIN).await.remove(0);

    let browser = server.browser();
    let validate = browser.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        validate["component"], "ak-stage-authenticator-validate",
        "{validate}"
    );
    assert_eq!(
        validate["device_challenges"],
        json!([{
            "device_class": "sms",
            "device_uid": device.id.to_string(),
            "challenge": {},
            "last_used": null,
        }])
    );
    // Nothing is texted before the device is picked.
    assert_eq!(fakes.sms_messages().await.len(), 1);
    let picked = browser
        .post_flow(
            AUTH_FLOW,
            "",
            json!({
                "component": "ak-stage-authenticator-validate",
                "selected_challenge": validate["device_challenges"][0],
            }),
        )
        .await;
    assert_eq!(
        picked["component"], "ak-stage-authenticator-validate",
        "{picked}"
    );
    assert_eq!(fakes.sms_messages().await.len(), 2);
    let (code, text) = last_code(&fakes).await;
    assert_eq!(text["to"], NUMBER);
    let code_body = json!({"component": "ak-stage-authenticator-validate", "code": code});
    let done = browser.post_flow(AUTH_FLOW, "", code_body.clone()).await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
    assert!(devices_of(&server, ADMIN).await[0].last_used.is_some());

    // Used once: the same code in another sign-in is refused.
    let replay = server.browser();
    replay.login(ADMIN, ADMIN_PASSWORD).await;
    let refused = replay.post_flow(AUTH_FLOW, "", code_body).await;
    assert_eq!(
        refused["component"], "ak-stage-authenticator-validate",
        "{refused}"
    );
    assert!(refused["response_errors"].is_object(), "{refused}");

    // A verify-only device is not offered: with only that, there is nothing to validate.
    setup_flow(
        &server,
        &[
            "provider: twilio",
            &format!("from_number: '{FROM}'"),
            &format!("account_sid: {SID}"),
            &format!("auth: {TOKEN}"),
            "verify_only: true",
        ],
    )
    .await;
    sms_device::Entity::delete_many()
        .exec(server.db())
        .await
        .expect("delete");
    let signed = signed_in(&server).await;
    register(&fakes, &signed).await;
    let hashed = devices_of(&server, ADMIN).await.remove(0);
    assert!(hashed.phone_number.starts_with("hash:"));
    let plain = server.browser();
    assert_eq!(plain.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
}
