//! The captcha stage (spec §4.10) against the local fake providers (`end2end/fakes/`), started
//! as a real process: a solved widget's token passes; a reused, foreign or missing token, a
//! wrong secret and a v3 score outside the thresholds are refused with authentik's messages;
//! a verifier that is slow, broken or gone is "Failed to validate token", never a pass. The
//! captcha embedded in identification guards every identifier, and authentik's
//! `flows-login-conditional-captcha.yaml` applies and asks for a captcha once the IP's
//! reputation has dropped.

use crate::common::fakes::Fakes;
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

both_databases!(
    a_solved_captcha_passes_and_the_verifier_sees_token_and_ip,
    refused_tokens_say_whether_retrying_helps,
    v3_scores_are_judged_by_the_thresholds,
    a_failing_verifier_is_never_a_pass,
    identification_with_captcha_checks_every_identifier,
    authentiks_conditional_captcha_example_applies_and_runs,
);

const FLOW: &str = "captcha-check";
const SITE: &str = "site-key-1";
const SECRET: &str = "site-secret-1";
const RETRY: &str = "Invalid captcha response. Retrying may solve this issue.";
const INVALID: &str = "Invalid captcha response";
const FAILED: &str = "Failed to validate token";

/// A flow `captcha-check`: a captcha stage (`attrs`: YAML lines under `attrs:`, indented by
/// six spaces) and then a deny stage, so a passed captcha shows "access denied". Applying it
/// again updates the stage.
async fn captcha_flow(server: &TestServer, attrs: &str) {
    let blueprint = format!(
        r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: {FLOW}
    attrs:
      name: Captcha check
      title: Captcha check
      designation: authentication
      authentication: none
  - model: authentik_stages_captcha.captchastage
    id: captcha
    identifiers:
      name: captcha-check
    attrs:
{attrs}
  - model: authentik_stages_deny.denystage
    id: deny
    identifiers:
      name: captcha-check-passed
    attrs:
      deny_message: Captcha passed
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf captcha
      order: 10
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf deny
      order: 20
"#
    );
    apply_blueprint(server, &blueprint).await;
}

/// The stage's attributes for the fake reCAPTCHA at `fakes`, with `extra` lines.
fn recaptcha_attrs(fakes: &Fakes, secret: &str, extra: &[&str]) -> String {
    let mut lines = vec![
        format!("public_key: {SITE}"),
        format!("private_key: {secret}"),
        format!("js_url: {}", fakes.url("/recaptcha/api.js")),
        format!("api_url: {}", fakes.url("/recaptcha/api/siteverify")),
    ];
    lines.extend(extra.iter().map(|line| line.to_string()));
    lines
        .iter()
        .map(|line| format!("      {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn answer(browser: &Browser, token: Option<&str>) -> Value {
    let mut body = json!({"component": "ak-stage-captcha"});
    if let Some(token) = token {
        body["token"] = json!(token);
    }
    browser.post_flow(FLOW, "", body).await
}

fn token_error(challenge: &Value) -> Value {
    challenge["response_errors"]["token"][0]["string"].clone()
}

fn passed(challenge: &Value) -> bool {
    challenge["component"] == "ak-stage-access-denied"
        && challenge["error_message"] == "Captcha passed"
}

async fn a_solved_captcha_passes_and_the_verifier_sees_token_and_ip(db: Db) {
    let fakes = Fakes::start().await;
    fakes
        .captcha_site(json!({"site_key": SITE, "secret": SECRET}))
        .await;
    let server = TestServer::start(db).await;
    captcha_flow(&server, &recaptcha_attrs(&fakes, SECRET, &[])).await;
    let browser = server.browser();

    let challenge = browser.get_flow(FLOW, "").await;
    assert_eq!(challenge["component"], "ak-stage-captcha", "{challenge}");
    assert_eq!(challenge["site_key"], SITE);
    assert_eq!(challenge["js_url"], fakes.url("/recaptcha/api.js"));
    assert_eq!(challenge["interactive"], false);
    assert!(
        !challenge.to_string().contains(SECRET),
        "the secret reached the browser: {challenge}"
    );

    let missing = answer(&browser, None).await;
    assert_eq!(
        token_error(&missing),
        "This field is required.",
        "{missing}"
    );
    assert!(fakes.captcha_verifications().await.is_empty());

    let token = fakes.captcha_token(SITE).await;
    let done = answer(&browser, Some(&token)).await;
    assert!(passed(&done), "{done}");
    let calls = fakes.captcha_verifications().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["secret_ok"], true);
    assert_eq!(calls[0]["response"], token.as_str());
    assert_eq!(calls[0]["remoteip"], "127.0.0.1");
    assert_eq!(calls[0]["answer"]["success"], true);
}

async fn refused_tokens_say_whether_retrying_helps(db: Db) {
    let fakes = Fakes::start().await;
    fakes
        .captcha_site(json!({"site_key": SITE, "secret": SECRET}))
        .await;
    fakes
        .captcha_site(json!({"site_key": "other-site", "secret": "other-secret"}))
        .await;
    let server = TestServer::start(db).await;
    captcha_flow(&server, &recaptcha_attrs(&fakes, SECRET, &[])).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;

    // Made up, or solved for another site: a fresh widget may help.
    let forged = answer(&browser, Some("made-up-token")).await;
    assert_eq!(token_error(&forged), RETRY, "{forged}");
    assert_eq!(forged["component"], "ak-stage-captcha");
    let foreign = fakes.captcha_token("other-site").await;
    assert_eq!(token_error(&answer(&browser, Some(&foreign)).await), RETRY);

    // A token passes once; a second flow cannot reuse it.
    let token = fakes.captcha_token(SITE).await;
    assert!(passed(&answer(&browser, Some(&token)).await));
    let second = server.browser();
    second.get_flow(FLOW, "").await;
    let reused = second
        .post_flow(
            FLOW,
            "",
            json!({"component": "ak-stage-captcha", "token": token}),
        )
        .await;
    assert_eq!(token_error(&reused), RETRY, "{reused}");

    // A wrong secret is the operator's mistake: retrying cannot help.
    captcha_flow(&server, &recaptcha_attrs(&fakes, "wrong-secret", &[])).await;
    let third = server.browser();
    third.get_flow(FLOW, "").await;
    let token = fakes.captcha_token(SITE).await;
    let refused = third
        .post_flow(
            FLOW,
            "",
            json!({"component": "ak-stage-captcha", "token": token}),
        )
        .await;
    assert_eq!(token_error(&refused), INVALID, "{refused}");
    let calls = fakes.captcha_verifications().await;
    assert_eq!(calls.last().expect("a call")["secret_ok"], false);
}

async fn v3_scores_are_judged_by_the_thresholds(db: Db) {
    let fakes = Fakes::start().await;
    let site =
        |score: f64| json!({"site_key": SITE, "secret": SECRET, "version": 3, "score": score});
    let server = TestServer::start(db).await;
    let browser = server.browser();
    captcha_flow(&server, &recaptcha_attrs(&fakes, SECRET, &[])).await;
    browser.get_flow(FLOW, "").await;

    // Default thresholds 0.5 ..= 1.0.
    fakes.captcha_site(site(0.3)).await;
    let low = answer(&browser, Some(&fakes.captcha_token(SITE).await)).await;
    assert_eq!(token_error(&low), INVALID, "{low}");
    fakes.captcha_site(site(0.5)).await;
    assert!(passed(
        &answer(&browser, Some(&fakes.captcha_token(SITE).await)).await
    ));

    // A lower bound of -1 is off; an upper bound catches a too-good-to-be-true score.
    let bounds = ["score_min_threshold: -1", "score_max_threshold: 0.8"];
    captcha_flow(&server, &recaptcha_attrs(&fakes, SECRET, &bounds)).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;
    fakes.captcha_site(site(0.9)).await;
    let high = answer(&browser, Some(&fakes.captcha_token(SITE).await)).await;
    assert_eq!(token_error(&high), INVALID, "{high}");
    fakes.captcha_site(site(0.0)).await;
    assert!(passed(
        &answer(&browser, Some(&fakes.captcha_token(SITE).await)).await
    ));

    // Without error_on_invalid_score any verdict passes (the score is left to policies).
    let lenient = ["error_on_invalid_score: false"];
    captcha_flow(&server, &recaptcha_attrs(&fakes, SECRET, &lenient)).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;
    fakes.captcha_site(site(0.1)).await;
    assert!(passed(
        &answer(&browser, Some(&fakes.captcha_token(SITE).await)).await
    ));
}

async fn a_failing_verifier_is_never_a_pass(db: Db) {
    let fakes = Fakes::start().await;
    let server = TestServer::start_with(db, &["--outbound-timeout-ms", "700"]).await;
    captcha_flow(&server, &recaptcha_attrs(&fakes, SECRET, &[])).await;
    let attempt = || async {
        let browser = server.browser();
        browser.get_flow(FLOW, "").await;
        let token = fakes.captcha_token(SITE).await;
        answer(&browser, Some(&token)).await
    };

    // An HTML error page instead of a verdict.
    fakes
        .captcha_site(json!({"site_key": SITE, "secret": SECRET, "broken": true}))
        .await;
    let broken = attempt().await;
    assert_eq!(token_error(&broken), FAILED, "{broken}");

    // Slower than the outbound timeout.
    fakes
        .captcha_site(json!({"site_key": SITE, "secret": SECRET, "delay_ms": 2000}))
        .await;
    let started = std::time::Instant::now();
    let slow = attempt().await;
    assert_eq!(token_error(&slow), FAILED, "{slow}");
    assert!(started.elapsed() < std::time::Duration::from_millis(1900));

    // Nobody listening.
    let closed = format!("http://127.0.0.1:{}/siteverify", smtp::free_port());
    let attrs = recaptcha_attrs(&fakes, SECRET, &[])
        .replace(&fakes.url("/recaptcha/api/siteverify"), &closed);
    captcha_flow(&server, &attrs).await;
    fakes
        .captcha_site(json!({"site_key": SITE, "secret": SECRET}))
        .await;
    let gone = attempt().await;
    assert_eq!(token_error(&gone), FAILED, "{gone}");
}

/// Makes keyflow's default login ask for a captcha on its identification form.
async fn identification_with_captcha(server: &TestServer, fakes: &Fakes) {
    let blueprint = format!(
        r#"
version: 1
entries:
  - model: authentik_stages_captcha.captchastage
    id: captcha
    identifiers:
      name: login-captcha
    attrs:
{attrs}
      interactive: true
  - model: authentik_stages_identification.identificationstage
    identifiers:
      name: default-authentication-identification
    attrs:
      user_fields: [email, username]
      captcha_stage: !KeyOf captcha
"#,
        attrs = recaptcha_attrs(fakes, SECRET, &[])
    );
    apply_blueprint(server, &blueprint).await;
}

async fn identification_with_captcha_checks_every_identifier(db: Db) {
    let fakes = Fakes::start().await;
    fakes
        .captcha_site(json!({"site_key": SITE, "secret": SECRET}))
        .await;
    let server = TestServer::start(db).await;
    identification_with_captcha(&server, &fakes).await;
    let browser = server.browser();
    let first = browser.get_flow(AUTH_FLOW, "").await;
    let embedded = &first["captcha_stage"];
    assert_eq!(embedded["component"], "ak-stage-captcha", "{first}");
    assert_eq!(embedded["site_key"], SITE);
    assert_eq!(embedded["js_url"], fakes.url("/recaptcha/api.js"));
    assert_eq!(embedded["interactive"], true);

    let identify = |uid: &'static str, token: Option<String>| {
        let mut body = json!({"component": "ak-stage-identification", "uid_field": uid});
        if let Some(token) = token {
            body["captcha_token"] = json!(token);
        }
        body
    };
    let failed = json!([{"string": "Failed to authenticate.", "code": "invalid"}]);
    // No token, or a bad one: the same answer for a real account and an unknown one.
    for uid in [ADMIN, "nobody-here"] {
        let refused = browser.post_flow(AUTH_FLOW, "", identify(uid, None)).await;
        assert_eq!(
            refused["response_errors"]["non_field_errors"], failed,
            "{refused}"
        );
        let forged = identify(uid, Some("made-up".into()));
        let refused = browser.post_flow(AUTH_FLOW, "", forged).await;
        assert_eq!(
            refused["response_errors"]["non_field_errors"], failed,
            "{refused}"
        );
        assert!(refused["captcha_stage"].is_object());
    }
    let token = fakes.captcha_token(SITE).await;
    let next = browser
        .post_flow(AUTH_FLOW, "", identify(ADMIN, Some(token)))
        .await;
    assert_eq!(next["component"], "ak-stage-password", "{next}");
    let done = browser
        .post_flow(
            AUTH_FLOW,
            "",
            json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
}

/// authentik's example, byte for byte, with its captcha stage then pointed at the fake
/// (authentik's published test keys, which the fake accepts like Google does).
async fn authentiks_conditional_captcha_example_applies_and_runs(db: Db) {
    const PUBLIC: &str = "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI";
    const PRIVATE: &str = "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe";
    let path = format!(
        "{}/../../shared/spec/blueprints/flows-login-conditional-captcha.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let example = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fakes = Fakes::start().await;
    fakes
        .captcha_site(json!({"site_key": PUBLIC, "secret": PRIVATE}))
        .await;
    let server = TestServer::start(db).await;
    apply_blueprint(&server, &example).await;
    let (status, stages) = as_admin(
        &server,
        Method::GET,
        "/api/v3/stages/captcha/?search=default-authentication-flow-captcha",
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{stages}");
    let stage = &stages["results"][0];
    assert_eq!(stage["public_key"], PUBLIC, "{stages}");
    assert!(stage.get("private_key").is_none(), "write-only: {stage}");
    let pk = stage["pk"].as_str().expect("pk");
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &format!("/api/v3/stages/captcha/{pk}/"),
        Some(json!({
            "js_url": fakes.url("/recaptcha/api.js"),
            "api_url": fakes.url("/recaptcha/api/siteverify"),
        })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{patched}");

    // A good reputation: no captcha.
    let browser = server.browser();
    let done = browser.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");

    // Guessing akadmin's password from this IP: the pair's score (+1 from the login above,
    // -1 per wrong password, floored at -5) reaches the policy's threshold after six.
    for _ in 0..6 {
        let attacker = server.browser();
        let wrong = attacker.login(ADMIN, "wrong").await;
        assert_ne!(wrong["component"], "xak-flow-redirect", "{wrong}");
    }
    let browser = server.browser();
    let after_password = browser.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        after_password["component"], "ak-stage-captcha",
        "{after_password}"
    );
    assert_eq!(after_password["site_key"], PUBLIC);
    let token = fakes.captcha_token(PUBLIC).await;
    let done = browser
        .post_flow(
            AUTH_FLOW,
            "",
            json!({"component": "ak-stage-captcha", "token": token}),
        )
        .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
}
