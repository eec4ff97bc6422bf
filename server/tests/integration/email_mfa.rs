//! The email authenticator over the executor API with a real SMTP server (`common::smtp`):
//! authentik's `flows-authenticator-email-setup.yaml` applied unchanged, the code read from the
//! delivered mail; wrong, expired and resent codes; a taken address; an address already
//! registered; then signing in with the `email` class of authenticator validation (code mailed
//! when the device is picked, single use, throttled) and the own-devices API.

use std::time::Duration;

use crate::common::smtp::{ReceivedMail, SmtpSink};
use crate::common::*;
use chrono::Utc;
use keyflow::store::{email_device, user};
use reqwest::{header, Method, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};

both_databases!(
    authentiks_setup_flow_registers_the_account_address,
    an_address_is_asked_for_when_the_account_has_none,
    an_expired_code_is_refused,
    resending_mails_a_new_code_and_is_rate_limited,
    signing_in_with_an_emailed_code,
    a_wrong_code_throttles_the_device,
    both_steps_work_without_javascript,
);

const SETUP_FLOW: &str = "default-authenticator-email-setup";
const COMPONENT: &str = "ak-stage-authenticator-email";
const MAIL_WAIT: Duration = Duration::from_secs(20);
const MASKED_ADMIN: &str = "a******@e******.com";
const INVALID_TOKEN: &str =
    "Invalid Token. Please ensure the time on your device is accurate and try again.";

/// keyflow with its global SMTP settings pointing at `sink`, and authentik's email set-up
/// blueprint applied.
async fn server_with_setup_flow(db: Db, sink: &SmtpSink) -> TestServer {
    use keyflow::blueprints::{apply, ApplyOptions, Source};
    let port = sink.port.to_string();
    let server = TestServer::start_with(
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
    .await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/blueprints/flows-authenticator-email-setup.yaml"
    );
    let content = std::fs::read_to_string(path).expect("authentik's blueprint is available");
    apply(
        server.db(),
        &[Source {
            name: "flows-authenticator-email-setup.yaml".into(),
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
    server
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

async fn signed_in(server: &TestServer) -> Browser {
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    browser
}

fn setup_flow_info() -> Value {
    json!({
        "title": "Setup Email Two-Factor Authentication",
        "background": "/static/flow_background.svg",
        "background_themed_urls": null,
        "cancel_url": "/flows/-/cancel/",
        "layout": "stacked",
    })
}

fn setup_challenge(email: Option<&str>) -> Value {
    json!({
        "flow_info": setup_flow_info(),
        "component": COMPONENT,
        "pending_user": ADMIN,
        "pending_user_avatar": AVATAR,
        "email": email,
        "email_required": email.is_none(),
    })
}

fn non_field(message: &str) -> Value {
    field_error("non_field_errors", message, "invalid")
}

/// The six-digit code in a delivered code mail (text and HTML parts agree).
fn code_of(mail: &ReceivedMail) -> String {
    let text = mail.text.as_deref().expect("a text part");
    let start = text
        .find("Your sign-in code is: ")
        .unwrap_or_else(|| panic!("no code in {text}"))
        + "Your sign-in code is: ".len();
    let code: String = text[start..].chars().take(6).collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
    assert!(mail.html.as_deref().expect("an HTML part").contains(&code));
    code
}

/// The expiry a code mail states ("The code expires at <RFC 3339>.").
fn expiry_of(mail: &ReceivedMail) -> chrono::DateTime<chrono::FixedOffset> {
    let text = mail.text.as_deref().expect("a text part");
    let start = text
        .find("The code expires at ")
        .unwrap_or_else(|| panic!("no expiry in {text}"))
        + "The code expires at ".len();
    let stamp: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    chrono::DateTime::parse_from_rfc3339(stamp.trim_end_matches('.')).expect("an RFC 3339 expiry")
}

/// A code that is not `code`.
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn email_devices(server: &TestServer) -> Vec<email_device::Model> {
    email_device::Entity::find()
        .all(server.db())
        .await
        .expect("email devices")
}

/// Runs the set-up flow for the signed-in admin with the account's address (the first mail).
async fn register_admin_address(sink: &SmtpSink, browser: &Browser) {
    let first = browser.get_flow(SETUP_FLOW, "").await;
    assert_eq!(first, setup_challenge(Some(MASKED_ADMIN)));
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    let done = post_signed_in(
        browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "code": code_of(mails.last().unwrap())}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
}

async fn authentiks_setup_flow_registers_the_account_address(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    let browser = signed_in(&server).await;

    // The account has an address: it is used at once, masked, and a code is mailed.
    let first = browser.get_flow(SETUP_FLOW, "").await;
    assert_eq!(first, setup_challenge(Some(MASKED_ADMIN)));
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, vec![ADMIN_EMAIL.to_owned()]);
    assert_eq!(mails[0].header("Subject"), Some("authentik Sign-in code"));
    let code = code_of(&mails[0]);
    // A reload mails nothing more and shows the same.
    assert_eq!(
        browser.get_flow(SETUP_FLOW, "").await,
        setup_challenge(Some(MASKED_ADMIN))
    );

    // Stored: unconfirmed, with a keyed hash of the code, never the code.
    let stored = email_devices(&server).await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].confirmed);
    assert_eq!(stored[0].email, ADMIN_EMAIL);
    let hash = stored[0].token_hash.clone().expect("a pending code");
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(&code));
    assert!(
        stored[0].token_expiry.expect("an expiry") > Utc::now() + chrono::Duration::minutes(29)
    );

    let wrong = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "code": other_than(&code)}),
    )
    .await;
    assert_eq!(
        wrong,
        with_errors(
            setup_challenge(Some(MASKED_ADMIN)),
            non_field("Code does not match")
        )
    );
    // The failure throttles the device for a second: even the right code waits.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let done = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "code": code}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
    let stored = email_devices(&server).await;
    assert!(stored[0].confirmed);
    assert_eq!(stored[0].token_hash, None, "the code is used up");
    assert!(server
        .event_actions()
        .await
        .contains(&"model_created".to_owned()));

    // Once registered, the set-up flow refuses a second address.
    let again = browser.get_flow(SETUP_FLOW, "").await;
    assert_eq!(again["component"], "ak-stage-access-denied", "{again}");
    assert_eq!(
        again["error_message"],
        "The user already has an email address registered for MFA."
    );

    // The own-devices API shows it (authentik's EmailDevice shape).
    let list = browser
        .api(Method::GET, "/api/v3/authenticators/email/", None)
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.expect("JSON");
    dump("api-PaginatedEmailDeviceList", &list);
    assert_eq!(list["pagination"]["count"], 1);
    let device = &list["results"][0];
    assert_eq!(device["email"], ADMIN_EMAIL);
    assert_eq!(device["name"], "Email Authenticator");
    assert_eq!(device["user"]["username"], ADMIN);
    let path = format!("/api/v3/authenticators/email/{}/", device["pk"]);
    let one: Value = browser
        .api(Method::GET, &path, None)
        .await
        .json()
        .await
        .expect("JSON");
    dump("api-EmailDevice", &one);
    assert_eq!(&one, device);
    let all: Value = browser
        .api(Method::GET, "/api/v3/authenticators/all/", None)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        all[0]["meta_model_name"],
        "authentik_stages_authenticator_email.emaildevice"
    );
    assert_eq!(
        browser.api(Method::DELETE, &path, None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(email_devices(&server).await.is_empty());
}

async fn an_address_is_asked_for_when_the_account_has_none(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    let admin_id = flows::user_id(&server, ADMIN).await;
    user::ActiveModel {
        id: Set(admin_id),
        email: Set(String::new()),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("clear the address");
    // Someone else already registered ann@example.com with this stage.
    let stage = keyflow::store::stage::Entity::find()
        .all(server.db())
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "default-authenticator-email-setup")
        .expect("the blueprint's stage");
    let other = server
        .bare_client()
        .post(format!("{}/api/v3/core/users/", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"username": "ann", "name": "Ann", "email": "ann@example.com"}))
        .send()
        .await
        .expect("create ann");
    assert_eq!(other.status(), StatusCode::CREATED);
    let ann = flows::user_id(&server, "ann").await;
    let taken =
        keyflow::mfa::email::create(server.db(), ann, stage.id, "ann@example.com", Utc::now())
            .await
            .unwrap();
    assert!(keyflow::mfa::email::confirm(server.db(), &taken)
        .await
        .unwrap());

    let browser = signed_in(&server).await;
    let first = browser.get_flow(SETUP_FLOW, "").await;
    assert_eq!(first, setup_challenge(None));
    let nothing = post_signed_in(&browser, SETUP_FLOW, json!({"component": COMPONENT})).await;
    assert_eq!(
        nothing,
        with_errors(setup_challenge(None), non_field("email required"))
    );
    let not_an_address = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "email": "not an address"}),
    )
    .await;
    assert_eq!(
        not_an_address,
        with_errors(
            setup_challenge(None),
            field_error("email", "Enter a valid email address.", "invalid")
        )
    );
    let duplicate = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "email": "Ann@Example.com"}),
    )
    .await;
    assert_eq!(
        duplicate,
        with_errors(setup_challenge(None), non_field("Invalid email"))
    );
    assert!(sink.messages().is_empty());

    let sent = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "email": "boss@corp.example.org"}),
    )
    .await;
    assert_eq!(sent, setup_challenge(Some("b***@c***.e******.org")));
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails[0].rcpt_tos, vec!["boss@corp.example.org".to_owned()]);
    let done = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "code": code_of(&mails[0])}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
    let mine: Vec<_> = email_devices(&server)
        .await
        .into_iter()
        .filter(|d| d.user_id == admin_id)
        .collect();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].confirmed);
    assert_eq!(mine[0].email, "boss@corp.example.org");
}

async fn an_expired_code_is_refused(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    let browser = signed_in(&server).await;
    browser.get_flow(SETUP_FLOW, "").await;
    let mails = sink.wait_for(1, MAIL_WAIT).await;
    let code = code_of(&mails[0]);
    let device = email_devices(&server).await.remove(0);
    email_device::ActiveModel {
        id: Set(device.id),
        token_expiry: Set(Some(Utc::now() - chrono::Duration::seconds(1))),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("let the code expire");
    let refused = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "code": code}),
    )
    .await;
    assert_eq!(
        refused,
        with_errors(
            setup_challenge(Some(MASKED_ADMIN)),
            non_field("Code does not match")
        )
    );
    assert!(!email_devices(&server).await[0].confirmed);
}

async fn resending_mails_a_new_code_and_is_rate_limited(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    let browser = signed_in(&server).await;
    browser.get_flow(SETUP_FLOW, "").await;
    // The first visit sent one; four more are allowed within five minutes.
    for _ in 0..4 {
        let resent = post_signed_in(&browser, SETUP_FLOW, json!({"component": COMPONENT})).await;
        assert_eq!(resent, setup_challenge(Some(MASKED_ADMIN)));
    }
    let limited = post_signed_in(&browser, SETUP_FLOW, json!({"component": COMPONENT})).await;
    assert_eq!(
        limited,
        with_errors(
            setup_challenge(Some(MASKED_ADMIN)),
            field_error(
                "non_field_errors",
                "Too many account verification attempts. Please try again after 5 minutes.",
                "throttled"
            )
        )
    );
    let mails = sink.wait_for(5, MAIL_WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 5, "the sixth mail was not sent");
    // Only the last code works: each mail replaced the code before it. The worker may deliver
    // them in any order; the expiry in each mail tells which was made last.
    let mut mails = mails;
    mails.sort_by_key(expiry_of);
    let codes: Vec<String> = mails.iter().map(code_of).collect();
    let last = codes.last().unwrap().clone();
    if let Some(old) = codes[..4].iter().find(|c| **c != last) {
        let refused = post_signed_in(
            &browser,
            SETUP_FLOW,
            json!({"component": COMPONENT, "code": old}),
        )
        .await;
        assert_eq!(
            refused["response_errors"],
            non_field("Code does not match"),
            "{refused}"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let done = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": COMPONENT, "code": last}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
}

/// Signs in up to authenticator validation in a fresh browser; returns it and the challenge.
async fn up_to_validation(server: &TestServer) -> (Browser, Value) {
    let browser = server.browser();
    let validate = browser.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        validate["component"], "ak-stage-authenticator-validate",
        "{validate}"
    );
    (browser, validate)
}

fn pick(challenge: &Value) -> Value {
    json!({
        "component": "ak-stage-authenticator-validate",
        "selected_challenge": challenge["device_challenges"][0],
    })
}

fn code_body(code: &str) -> Value {
    json!({"component": "ak-stage-authenticator-validate", "code": code})
}

async fn signing_in_with_an_emailed_code(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    register_admin_address(&sink, &signed_in(&server).await).await;
    let device = email_devices(&server).await.remove(0);

    let (browser, validate) = up_to_validation(&server).await;
    assert_eq!(
        validate["device_challenges"],
        json!([{
            "device_class": "email",
            "device_uid": device.id.to_string(),
            "challenge": {"email": MASKED_ADMIN},
            "last_used": null,
        }])
    );
    assert_eq!(validate["configuration_stages"], json!([]));
    // Nothing is mailed before the device is picked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1);
    let picked = browser.post_flow(AUTH_FLOW, "", pick(&validate)).await;
    assert_eq!(
        picked["response_errors"],
        non_field("Empty response"),
        "{picked}"
    );
    assert_eq!(picked["device_challenges"], validate["device_challenges"]);
    let mails = sink.wait_for(2, MAIL_WAIT).await;
    assert_eq!(mails[1].rcpt_tos, vec![ADMIN_EMAIL.to_owned()]);
    let code = code_of(&mails[1]);
    let done = browser.post_flow(AUTH_FLOW, "", code_body(&code)).await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
    let used = email_devices(&server).await.remove(0);
    assert!(used.last_used.is_some());
    assert_eq!(used.token_hash, None);

    // The same code a second time (another sign-in) is refused.
    let (replay, validate) = up_to_validation(&server).await;
    assert!(validate["device_challenges"][0]["last_used"].is_string());
    let refused = replay.post_flow(AUTH_FLOW, "", code_body(&code)).await;
    assert_eq!(
        refused["response_errors"],
        field_error("code", INVALID_TOKEN, "invalid"),
        "{refused}"
    );
    assert_ne!(replay.me().await.0, StatusCode::OK);
}

async fn a_wrong_code_throttles_the_device(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    register_admin_address(&sink, &signed_in(&server).await).await;
    let (browser, validate) = up_to_validation(&server).await;
    browser.post_flow(AUTH_FLOW, "", pick(&validate)).await;
    let mails = sink.wait_for(2, MAIL_WAIT).await;
    let code = code_of(&mails[1]);

    let wrong = browser
        .post_flow(AUTH_FLOW, "", code_body(&other_than(&code)))
        .await;
    assert_eq!(
        wrong["response_errors"],
        field_error("code", INVALID_TOKEN, "invalid")
    );
    // Right after a failure the device refuses even the right code (and does not use it up).
    let throttled = browser.post_flow(AUTH_FLOW, "", code_body(&code)).await;
    assert_eq!(
        throttled["response_errors"],
        field_error("code", INVALID_TOKEN, "invalid")
    );
    let device = email_devices(&server).await.remove(0);
    assert_eq!(device.throttling_failure_count, 1);
    assert!(device.token_hash.is_some());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let done = browser.post_flow(AUTH_FLOW, "", code_body(&code)).await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(
        email_devices(&server).await[0].throttling_failure_count,
        0,
        "a success resets the count"
    );
}

/// Posts a form to the flow page, as a browser without JavaScript does; returns the status,
/// the `Location` and the page.
async fn form_post(
    browser: &Browser,
    slug: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let response = browser
        .client
        .post(browser.url(&format!("/if/flow/{slug}/")))
        .form(form)
        .send()
        .await
        .expect("form post");
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, location, response.text().await.expect("page"))
}

async fn page(browser: &Browser, slug: &str) -> String {
    let response = browser
        .client
        .get(browser.url(&format!("/if/flow/{slug}/")))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("page")
}

async fn both_steps_work_without_javascript(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_setup_flow(db, &sink).await;
    let browser = signed_in(&server).await;
    let csrf = browser.cookie(CSRF_COOKIE).expect("CSRF cookie");

    // Set-up: the page shows the masked address, a code field and "send a new code".
    let html = page(&browser, SETUP_FLOW).await;
    assert!(
        html.contains(r#"data-component="ak-stage-authenticator-email""#),
        "{html}"
    );
    assert!(html.contains(MASKED_ADMIN), "{html}");
    assert!(html.contains(r#"name="code""#), "{html}");
    assert!(html.contains("Send a new code"), "{html}");
    sink.wait_for(1, MAIL_WAIT).await;
    let (status, _, html) = form_post(
        &browser,
        SETUP_FLOW,
        &[("component", COMPONENT), ("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(MASKED_ADMIN), "{html}");
    let mut mails = sink.wait_for(2, MAIL_WAIT).await;
    mails.sort_by_key(expiry_of);
    let code = code_of(&mails[1]);
    let (status, location, _) = form_post(
        &browser,
        SETUP_FLOW,
        &[
            ("component", COMPONENT),
            ("csrf_token", &csrf),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert!(email_devices(&server).await[0].confirmed);

    // Validation: the email device offers "Email me a code"; its form posts the pick.
    let (other, _) = up_to_validation(&server).await;
    let html = page(&other, AUTH_FLOW).await;
    assert!(html.contains("Email me a code"), "{html}");
    let device = email_devices(&server).await.remove(0);
    let picked = json!({
        "device_class": "email",
        "device_uid": device.id.to_string(),
        "challenge": {"email": MASKED_ADMIN},
        "last_used": null,
    })
    .to_string();
    let (status, _, html) = form_post(
        &other,
        AUTH_FLOW,
        &[
            ("component", "ak-stage-authenticator-validate"),
            ("selected_challenge", &picked),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("We sent a code to"), "{html}");
    // Shown as "sent", not as an error (the text is only in the page's embedded challenge).
    assert!(!html.contains("<p>Empty response</p>"), "{html}");
    assert!(
        !html.contains(r#"data-field-error="non_field_errors""#),
        "{html}"
    );
    let mails = sink.wait_for(3, MAIL_WAIT).await;
    let newest = mails.iter().max_by_key(|m| expiry_of(m)).expect("mails");
    let (status, location, _) = form_post(
        &other,
        AUTH_FLOW,
        &[
            ("component", "ak-stage-authenticator-validate"),
            ("code", &code_of(newest)),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(other.me().await.1["user"]["username"], ADMIN);
}
