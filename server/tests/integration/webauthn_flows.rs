//! WebAuthn over the executor API, with a software authenticator (P-256, "none" attestation)
//! standing in for the browser: registration in a set-up flow, second-factor login, passwordless
//! login, passkey login on the identification stage, and the refusals (same credential twice,
//! another origin, a replayed assertion, a registration for an old challenge).

use std::collections::BTreeMap;

use crate::common::flows;
use crate::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keyflow::flows::{AuthenticationRequirement, FlowDesignation};
use keyflow::stages::{
    authenticator_validate::{AuthenticatorValidateStage, NotConfiguredAction},
    authenticator_webauthn::AuthenticatorWebauthnStage,
    identification::IdentificationStage,
    password::PasswordStage,
    user_login::UserLoginStage,
    StageConfig,
};
use keyflow::store::webauthn_device;
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_cbor_2::Value as Cbor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

both_databases!(
    a_security_key_is_registered_then_used_as_second_factor,
    the_same_credential_cannot_be_registered_twice,
    passwordless_login_refuses_foreign_origins_and_replays,
    identification_accepts_a_passkey,
);

const SETUP_FLOW: &str = "webauthn-test-setup";
const LOGIN_FLOW: &str = "webauthn-test-login";
const PASSWORDLESS_FLOW: &str = "webauthn-test-passwordless";
const PASSKEY_FLOW: &str = "webauthn-test-passkey";
const SETUP: &str = "ak-stage-authenticator-webauthn";
const VALIDATE: &str = "ak-stage-authenticator-validate";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

/// A platform authenticator in software: one credential, a counter, P-256 signatures.
struct SoftAuthenticator {
    key: SigningKey,
    credential_id: Vec<u8>,
    counter: u32,
    rp_id: String,
    user_handle: Option<Vec<u8>>,
}

impl SoftAuthenticator {
    fn new(rp_id: &str, seed: u8) -> Self {
        Self {
            key: SigningKey::from_slice(&[seed; 32]).expect("key"),
            credential_id: vec![seed; 16],
            counter: 0,
            rp_id: rp_id.to_owned(),
            user_handle: None,
        }
    }

    fn rp_hash(&self) -> Vec<u8> {
        Sha256::digest(self.rp_id.as_bytes()).to_vec()
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_bytes();
        let mut map = BTreeMap::new();
        map.insert(Cbor::Integer(1), Cbor::Integer(2)); // kty: EC2
        map.insert(Cbor::Integer(3), Cbor::Integer(-7)); // alg: ES256
        map.insert(Cbor::Integer(-1), Cbor::Integer(1)); // crv: P-256
        map.insert(Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec()));
        map.insert(Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec()));
        serde_cbor_2::to_vec(&Cbor::Map(map)).expect("cose")
    }

    /// `navigator.credentials.create` for these options, as seen from `origin`.
    fn register(&mut self, options: &Value, origin: &str) -> Value {
        self.user_handle = Some(unb64(options["user"]["id"].as_str().expect("user.id")));
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": options["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = self.rp_hash();
        auth_data.push(0x45); // user present, user verified, attested credential data
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID: none
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut object = BTreeMap::new();
        object.insert(text("fmt"), text("none"));
        object.insert(text("attStmt"), Cbor::Map(BTreeMap::new()));
        object.insert(text("authData"), Cbor::Bytes(auth_data));
        let attestation = serde_cbor_2::to_vec(&Cbor::Map(object)).expect("attestation");
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(client_data.as_bytes()),
            },
        })
    }

    /// `navigator.credentials.get` for these options, as seen from `origin`.
    fn assert(&mut self, options: &Value, origin: &str) -> Value {
        self.counter += 1;
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": options["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = self.rp_hash();
        auth_data.push(0x05); // user present, user verified
        auth_data.extend(self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(client_data.as_bytes()));
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(client_data.as_bytes()),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": self.user_handle.as_deref().map(b64),
            },
        })
    }
}

/// The test server's origin and relying-party id (the host without port).
fn origin_and_rp(server: &TestServer) -> (String, String) {
    let origin = server.browser().base.clone();
    let host = url::Url::parse(&origin)
        .expect("base")
        .host_str()
        .expect("host")
        .to_owned();
    (origin, host)
}

async fn flow_with(
    server: &TestServer,
    slug: &str,
    designation: FlowDesignation,
    authentication: AuthenticationRequirement,
    stages: Vec<(&str, StageConfig)>,
) {
    let flow = flows::flow(server, slug, slug, designation, authentication).await;
    flows::bind_in_order(server, flow, stages).await;
}

fn webauthn_only() -> AuthenticatorValidateStage {
    AuthenticatorValidateStage {
        device_classes: vec![keyflow::mfa::devices::DeviceClass::Webauthn],
        not_configured_action: NotConfiguredAction::Deny,
        ..Default::default()
    }
}

/// The set-up flow (signed-in users) and the three login flows.
async fn webauthn_flows(server: &TestServer) {
    flow_with(
        server,
        SETUP_FLOW,
        FlowDesignation::StageConfiguration,
        AuthenticationRequirement::RequireAuthenticated,
        vec![(
            "webauthn-test-setup",
            StageConfig::AuthenticatorWebauthn(AuthenticatorWebauthnStage::default()),
        )],
    )
    .await;
    flow_with(
        server,
        LOGIN_FLOW,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
        vec![
            (
                "webauthn-test-identification",
                StageConfig::Identification(IdentificationStage::default()),
            ),
            (
                "webauthn-test-password",
                StageConfig::Password(PasswordStage::default()),
            ),
            (
                "webauthn-test-validate",
                StageConfig::AuthenticatorValidate(webauthn_only()),
            ),
            (
                "webauthn-test-login",
                StageConfig::UserLogin(UserLoginStage::default()),
            ),
        ],
    )
    .await;
    flow_with(
        server,
        PASSWORDLESS_FLOW,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
        vec![
            (
                "webauthn-test-validate",
                StageConfig::AuthenticatorValidate(webauthn_only()),
            ),
            (
                "webauthn-test-login",
                StageConfig::UserLogin(UserLoginStage::default()),
            ),
        ],
    )
    .await;
    let validate = flows::stage(
        server,
        "webauthn-test-validate",
        StageConfig::AuthenticatorValidate(webauthn_only()),
    )
    .await;
    flow_with(
        server,
        PASSKEY_FLOW,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
        vec![
            (
                "webauthn-test-passkey-identification",
                StageConfig::Identification(IdentificationStage {
                    webauthn_stage: Some(validate),
                    ..Default::default()
                }),
            ),
            (
                "webauthn-test-login",
                StageConfig::UserLogin(UserLoginStage::default()),
            ),
        ],
    )
    .await;
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

/// Signs akadmin in and registers `authenticator` in the set-up flow.
async fn register(server: &TestServer, authenticator: &mut SoftAuthenticator) {
    let (origin, rp_id) = origin_and_rp(server);
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let challenge = browser.get_flow(SETUP_FLOW, "").await;
    assert_eq!(challenge["component"], SETUP, "{challenge}");
    let options = &challenge["registration"];
    assert_eq!(options["rp"]["id"], rp_id.as_str());
    assert_eq!(options["user"]["name"], ADMIN);
    assert_eq!(options["excludeCredentials"], json!([]));
    let response = authenticator.register(options, &origin);
    let done = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": SETUP, "response": response}),
    )
    .await;
    assert_eq!(done, redirect_to("/"));
}

fn webauthn_challenge(challenge: &Value) -> Value {
    assert_eq!(challenge["component"], VALIDATE, "{challenge}");
    challenge["device_challenges"]
        .as_array()
        .expect("device_challenges")
        .iter()
        .find(|c| c["device_class"] == "webauthn")
        .cloned()
        .unwrap_or_else(|| panic!("no webauthn challenge in {challenge}"))
}

async fn a_security_key_is_registered_then_used_as_second_factor(db: Db) {
    let server = TestServer::start(db).await;
    webauthn_flows(&server).await;
    let (origin, rp_id) = origin_and_rp(&server);
    let mut key = SoftAuthenticator::new(&rp_id, 7);
    register(&server, &mut key).await;
    let devices = webauthn_device::Entity::find()
        .all(server.db())
        .await
        .expect("devices");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].credential_id, b64(&key.credential_id));
    assert_eq!(devices[0].rp_id, rp_id);

    let browser = server.browser();
    browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-identification", "uid_field": ADMIN}),
        )
        .await;
    let validate = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": "ak-stage-password", "password": ADMIN_PASSWORD}),
        )
        .await;
    let device = webauthn_challenge(&validate);
    assert_eq!(device["device_uid"], devices[0].id.to_string());
    let options = &device["challenge"];
    assert_eq!(options["rpId"], rp_id.as_str());
    assert_eq!(options["timeout"], 60000);
    assert_eq!(
        options["allowCredentials"],
        json!([{"type": "public-key", "id": b64(&key.credential_id)}])
    );
    let assertion = key.assert(options, &origin);
    let done = browser
        .post_flow(
            LOGIN_FLOW,
            "",
            json!({"component": VALIDATE, "webauthn": assertion}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(browser.me().await.0, StatusCode::OK);
    let device = webauthn_device::Entity::find_by_id(devices[0].id)
        .one(server.db())
        .await
        .expect("device")
        .expect("still there");
    assert_eq!(device.sign_count, 1, "the counter is written back");
    assert!(device.last_used.is_some());
}

async fn the_same_credential_cannot_be_registered_twice(db: Db) {
    let server = TestServer::start(db).await;
    webauthn_flows(&server).await;
    let (origin, rp_id) = origin_and_rp(&server);
    let mut key = SoftAuthenticator::new(&rp_id, 9);
    register(&server, &mut key).await;

    // akadmin now has a security key: the default login asks for it after the password.
    let browser = server.browser();
    let validate = browser.login(ADMIN, ADMIN_PASSWORD).await;
    let options = webauthn_challenge(&validate)["challenge"].clone();
    let signed_in = browser
        .post_flow(
            AUTH_FLOW,
            "",
            json!({"component": VALIDATE, "webauthn": key.assert(&options, &origin)}),
        )
        .await;
    assert_eq!(signed_in, redirect_to("/"));
    let challenge = browser.get_flow(SETUP_FLOW, "").await;
    let options = challenge["registration"].clone();
    assert_eq!(
        options["excludeCredentials"],
        json!([{"type": "public-key", "id": b64(&key.credential_id)}])
    );
    let again = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": SETUP, "response": key.register(&options, &origin)}),
    )
    .await;
    assert_eq!(again["component"], SETUP, "{again}");
    let message = again["response_errors"]["response"][0]["string"]
        .as_str()
        .expect("an error");
    assert!(message.starts_with("Registration failed"), "{message}");

    // An answer to a challenge that was already used is refused too.
    let mut other = SoftAuthenticator::new(&rp_id, 10);
    let stale = post_signed_in(
        &browser,
        SETUP_FLOW,
        json!({"component": SETUP, "response": other.register(&options, &origin)}),
    )
    .await;
    assert_eq!(stale["component"], SETUP, "{stale}");
    assert!(stale["response_errors"]["response"][0]["string"]
        .as_str()
        .expect("an error")
        .starts_with("Registration failed"));
    let count = webauthn_device::Entity::find()
        .all(server.db())
        .await
        .expect("devices")
        .len();
    assert_eq!(count, 1);
}

async fn passwordless_login_refuses_foreign_origins_and_replays(db: Db) {
    let server = TestServer::start(db).await;
    webauthn_flows(&server).await;
    let (origin, rp_id) = origin_and_rp(&server);
    let mut key = SoftAuthenticator::new(&rp_id, 11);
    register(&server, &mut key).await;

    let browser = server.browser();
    let first = webauthn_challenge(&browser.get_flow(PASSWORDLESS_FLOW, "").await);
    assert_eq!(first["device_uid"], "-1");
    assert_eq!(first["challenge"]["allowCredentials"], json!([]));

    let phished = key.assert(&first["challenge"], "http://evil.example");
    let refused = browser
        .post_flow(
            PASSWORDLESS_FLOW,
            "",
            json!({"component": VALIDATE, "webauthn": phished}),
        )
        .await;
    assert_eq!(
        refused["response_errors"]["webauthn"][0]["string"],
        "Assertion failed"
    );
    let second = webauthn_challenge(&refused);
    assert_ne!(
        second["challenge"]["challenge"],
        first["challenge"]["challenge"]
    );

    let good = key.assert(&second["challenge"], &origin);
    let done = browser
        .post_flow(
            PASSWORDLESS_FLOW,
            "",
            json!({"component": VALIDATE, "webauthn": good}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    let (status, me) = browser.me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], ADMIN);

    let replay = server.browser();
    replay.get_flow(PASSWORDLESS_FLOW, "").await;
    let replayed = replay
        .post_flow(
            PASSWORDLESS_FLOW,
            "",
            json!({"component": VALIDATE, "webauthn": good}),
        )
        .await;
    assert_eq!(
        replayed["response_errors"]["webauthn"][0]["string"],
        "Assertion failed"
    );
    assert_eq!(replay.me().await.0, StatusCode::FORBIDDEN);
}

async fn identification_accepts_a_passkey(db: Db) {
    let server = TestServer::start(db).await;
    webauthn_flows(&server).await;
    let (origin, rp_id) = origin_and_rp(&server);
    let mut key = SoftAuthenticator::new(&rp_id, 12);
    register(&server, &mut key).await;

    let browser = server.browser();
    let first = browser.get_flow(PASSKEY_FLOW, "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    let options = first["passkey_challenge"].clone();
    assert_eq!(options["allowCredentials"], json!([]));
    assert_eq!(options["rpId"], rp_id.as_str());

    let unknown = SoftAuthenticator::new(&rp_id, 13).assert(&options, &origin);
    let refused = browser
        .post_flow(
            PASSKEY_FLOW,
            "",
            json!({"component": "ak-stage-identification", "passkey": unknown}),
        )
        .await;
    assert_eq!(
        refused["response_errors"]["passkey"][0]["string"], "Invalid device",
        "{refused}"
    );

    let passkey = key.assert(&refused["passkey_challenge"], &origin);
    let done = browser
        .post_flow(
            PASSKEY_FLOW,
            "",
            json!({"component": "ak-stage-identification", "passkey": passkey}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    let (status, me) = browser.me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], ADMIN);
}
