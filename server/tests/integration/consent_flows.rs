//! The consent stage's modes over the executor API: `always_require` asks every time;
//! `permanent` asks once per person; `expiring` asks again once the consent expired; changed
//! permissions ask again, listing the new ones apart. Then housekeeping: expired flow tokens
//! and consents are purged, live ones kept.
//!
//! The flows are blueprints applied through the API; an expression policy on the consent
//! binding puts `consent_permissions` into the plan, as authentik's providers do.

use crate::common::*;
use chrono::{Duration, Utc};
use keyflow::engine::{context::FlowContext, plan::FlowPlan};
use keyflow::flow_tokens::{self, NewFlowToken};
use keyflow::store::{flow, flow_token, session, user_consent};
use reqwest::{header, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};
use uuid::Uuid;

both_databases!(
    always_require_asks_every_time,
    a_permanent_consent_is_asked_once_per_person,
    changed_permissions_ask_again_showing_the_new_ones,
    an_expired_consent_asks_again,
    housekeeping_purges_expired_flow_tokens_and_consents,
);

const APPLY: &str = "/api/v3/managed/blueprints/apply/";
const ALICE_PASSWORD: &str = "Alice-Pass-123";

/// A flow `consent-<mode>` with one consent stage whose binding sets `permissions` (ids) as
/// `consent_permissions`. Applying it again updates the permissions.
async fn consent_flow(server: &TestServer, mode: &str, permissions: &[&str]) {
    let list: Vec<String> = permissions
        .iter()
        .map(|id| format!("{{'id': '{id}', 'name': 'Access to {id}'}}"))
        .collect();
    let blueprint = format!(
        r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: consent-{mode}
    attrs:
      name: Consent ({mode})
      title: Consent
      designation: authorization
      authentication: require_authenticated
  - model: authentik_stages_consent.consentstage
    id: stage
    identifiers:
      name: consent-{mode}
    attrs:
      mode: {mode}
      consent_expire_in: hours=1
  - model: authentik_flows.flowstagebinding
    id: binding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf stage
      order: 10
    attrs:
      re_evaluate_policies: true
  - model: authentik_policies_expression.expressionpolicy
    id: permissions
    identifiers:
      name: consent-{mode}-permissions
    attrs:
      expression: |
        context['flow_plan'].context['consent_permissions'] = [{list}]
        return True
  - model: authentik_policies.policybinding
    identifiers:
      policy: !KeyOf permissions
      target: !KeyOf binding
      order: 0
"#,
        list = list.join(", ")
    );
    let response = server
        .bare_client()
        .post(format!("{}{APPLY}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, "application/yaml")
        .body(blueprint)
        .send()
        .await
        .expect("apply");
    let status = response.status();
    let report: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{report}");
}

fn permissions(ids: &[&str]) -> Value {
    json!(ids
        .iter()
        .map(|id| json!({"id": id, "name": format!("Access to {id}")}))
        .collect::<Vec<_>>())
}

/// Asserts `challenge` is the consent prompt with these permissions; returns its token.
fn assert_consent(challenge: &Value, user: &str, granted: &[&str], new: &[&str]) -> Value {
    assert_eq!(
        challenge,
        &json!({
            "flow_info": {
                "title": "Consent",
                "background": "/static/flow_background.svg",
                "background_themed_urls": null,
                "cancel_url": "/flows/-/cancel/",
                "layout": "stacked",
            },
            "component": "ak-stage-consent",
            "pending_user": user,
            "pending_user_avatar": AVATAR,
            "permissions": permissions(granted),
            "additional_permissions": permissions(new),
            "token": challenge["token"],
        })
    );
    challenge["token"].clone()
}

/// Confirms the consent prompt (a signed-in browser sends its CSRF token).
async fn confirm(browser: &Browser, slug: &str, token: &Value) -> Value {
    let csrf = browser.cookie(CSRF_COOKIE).expect("csrf cookie");
    challenge_of(
        browser
            .post_flow_raw(
                slug,
                "",
                json!({"component": "ak-stage-consent", "token": token}),
                &[("X-authentik-CSRF", &csrf)],
            )
            .await,
    )
    .await
}

async fn signed_in(server: &TestServer, username: &str, password: &str) -> Browser {
    let browser = server.browser();
    assert_eq!(browser.login(username, password).await, redirect_to("/"));
    browser
}

async fn consents(server: &TestServer) -> Vec<user_consent::Model> {
    user_consent::Entity::find()
        .all(server.db())
        .await
        .expect("consents")
}

async fn create_alice(server: &TestServer) {
    let client = server.bare_client();
    let response = client
        .post(format!("{}/api/v3/core/users/", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"username": "alice", "name": "Alice"}))
        .send()
        .await
        .expect("create alice");
    assert_eq!(response.status(), StatusCode::CREATED);
    let pk = response.json::<Value>().await.expect("alice")["pk"].clone();
    let response = client
        .post(format!(
            "{}/api/v3/core/users/{pk}/set_password/",
            server.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "password": ALICE_PASSWORD }))
        .send()
        .await
        .expect("set password");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn always_require_asks_every_time(db: Db) {
    let server = TestServer::start(db).await;
    consent_flow(&server, "always_require", &["openid"]).await;
    let browser = signed_in(&server, ADMIN, ADMIN_PASSWORD).await;
    for _ in 0..2 {
        let challenge = browser.get_flow("consent-always_require", "").await;
        let token = assert_consent(&challenge, ADMIN, &["openid"], &[]);
        assert_eq!(
            confirm(&browser, "consent-always_require", &token).await,
            redirect_to("/")
        );
    }
    assert!(consents(&server).await.is_empty(), "nothing is remembered");
}

async fn a_permanent_consent_is_asked_once_per_person(db: Db) {
    let server = TestServer::start(db).await;
    consent_flow(&server, "permanent", &["openid", "email"]).await;
    create_alice(&server).await;
    let admin = signed_in(&server, ADMIN, ADMIN_PASSWORD).await;
    let challenge = admin.get_flow("consent-permanent", "").await;
    let token = assert_consent(&challenge, ADMIN, &["openid", "email"], &[]);
    // A wrong token stores nothing.
    let wrong = confirm(&admin, "consent-permanent", &json!("not-the-token")).await;
    assert_eq!(wrong["component"], "ak-stage-consent", "{wrong}");
    assert!(consents(&server).await.is_empty());
    let token_now = wrong["token"].clone();
    assert_ne!(token_now, token, "a fresh token per rendering");
    assert_eq!(
        confirm(&admin, "consent-permanent", &token_now).await,
        redirect_to("/")
    );
    let stored = consents(&server).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].permissions, "openid email");
    assert_eq!(stored[0].expires, None, "permanent");
    assert_eq!(stored[0].user_id, flows::user_id(&server, ADMIN).await);

    // Given once: the flow passes straight through, in this browser and any other.
    assert_eq!(
        admin.get_flow("consent-permanent", "").await,
        redirect_to("/")
    );
    let elsewhere = signed_in(&server, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        elsewhere.get_flow("consent-permanent", "").await,
        redirect_to("/")
    );
    // Someone else has not consented.
    let alice = signed_in(&server, "alice", ALICE_PASSWORD).await;
    let challenge = alice.get_flow("consent-permanent", "").await;
    let token = assert_consent(&challenge, "alice", &["openid", "email"], &[]);
    assert_eq!(
        confirm(&alice, "consent-permanent", &token).await,
        redirect_to("/")
    );
    assert_eq!(consents(&server).await.len(), 2);
}

async fn changed_permissions_ask_again_showing_the_new_ones(db: Db) {
    let server = TestServer::start(db).await;
    consent_flow(&server, "permanent", &["openid"]).await;
    let browser = signed_in(&server, ADMIN, ADMIN_PASSWORD).await;
    let challenge = browser.get_flow("consent-permanent", "").await;
    let token = assert_consent(&challenge, ADMIN, &["openid"], &[]);
    assert_eq!(
        confirm(&browser, "consent-permanent", &token).await,
        redirect_to("/")
    );

    consent_flow(&server, "permanent", &["openid", "email", "groups"]).await;
    let challenge = browser.get_flow("consent-permanent", "").await;
    assert_consent(&challenge, ADMIN, &["openid"], &["email", "groups"]);
    // Reloading shows the same split (what is asked is both lists together).
    let challenge = browser.get_flow("consent-permanent", "").await;
    let token = assert_consent(&challenge, ADMIN, &["openid"], &["email", "groups"]);
    assert_eq!(
        confirm(&browser, "consent-permanent", &token).await,
        redirect_to("/")
    );
    let stored = consents(&server).await;
    assert_eq!(stored.len(), 1, "the consent was replaced, not added");
    assert_eq!(stored[0].permissions, "openid email groups");
    assert_eq!(
        browser.get_flow("consent-permanent", "").await,
        redirect_to("/")
    );

    // Fewer permissions than granted: asked again too (authentik compares the sets).
    consent_flow(&server, "permanent", &["openid"]).await;
    let challenge = browser.get_flow("consent-permanent", "").await;
    assert_consent(&challenge, ADMIN, &["openid"], &[]);
}

async fn an_expired_consent_asks_again(db: Db) {
    let server = TestServer::start(db).await;
    consent_flow(&server, "expiring", &["openid"]).await;
    let browser = signed_in(&server, ADMIN, ADMIN_PASSWORD).await;
    let challenge = browser.get_flow("consent-expiring", "").await;
    let token = assert_consent(&challenge, ADMIN, &["openid"], &[]);
    let before = Utc::now();
    assert_eq!(
        confirm(&browser, "consent-expiring", &token).await,
        redirect_to("/")
    );
    let after = Utc::now();
    let stored = consents(&server).await;
    assert_eq!(stored.len(), 1);
    let expires = stored[0].expires.expect("an expiring consent expires");
    // consent_expire_in: hours=1
    assert!(
        expires >= before + Duration::hours(1) && expires <= after + Duration::hours(1),
        "{expires}"
    );
    assert_eq!(
        browser.get_flow("consent-expiring", "").await,
        redirect_to("/")
    );

    // An hour later (the row's expiry moved into the past).
    user_consent::ActiveModel {
        id: Set(stored[0].id),
        expires: Set(Some(Utc::now() - Duration::seconds(1))),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("age the consent");
    let challenge = browser.get_flow("consent-expiring", "").await;
    let token = assert_consent(&challenge, ADMIN, &["openid"], &[]);
    assert_eq!(
        confirm(&browser, "consent-expiring", &token).await,
        redirect_to("/")
    );
    let renewed = consents(&server).await;
    assert_eq!(renewed.len(), 1);
    assert!(renewed[0]
        .expires
        .is_some_and(|e| e > Utc::now() + Duration::minutes(59)));
    assert_eq!(
        browser.get_flow("consent-expiring", "").await,
        redirect_to("/")
    );
}

async fn housekeeping_purges_expired_flow_tokens_and_consents(db: Db) {
    let server = TestServer::start(db).await;
    consent_flow(&server, "expiring", &["openid"]).await;
    let now = Utc::now();
    let flow = flow::Entity::find()
        .filter(flow::Column::Slug.eq("consent-expiring"))
        .one(server.db())
        .await
        .expect("query")
        .expect("flow");
    let stage_id = keyflow::store::stage::Entity::find()
        .filter(keyflow::store::stage::Column::Name.eq("consent-expiring"))
        .one(server.db())
        .await
        .expect("query")
        .expect("stage")
        .id;
    create_alice(&server).await;
    let admin = flows::user_id(&server, ADMIN).await;
    let alice = flows::user_id(&server, "alice").await;
    let plan = FlowPlan {
        flow_id: flow.id,
        stages: vec![],
        context: FlowContext::default(),
    };
    let mut tokens = Vec::new();
    for (name, expires) in [
        ("expired-link", now - Duration::minutes(1)),
        ("live-link", now + Duration::minutes(30)),
    ] {
        let (_, row) = flow_tokens::create(
            server.db(),
            NewFlowToken {
                identifier: name.into(),
                user_id: admin,
                plan: &plan,
                expires,
                revoke_on_execution: false,
            },
            now,
        )
        .await
        .expect("flow token");
        tokens.push(row.id);
    }
    let key = |user_id| keyflow::consents::ConsentKey {
        user_id,
        flow_id: flow.id,
        stage_id,
    };
    keyflow::consents::remember(
        server.db(),
        key(admin),
        &["openid".into()],
        Some(now - Duration::seconds(1)),
        now,
    )
    .await
    .expect("expired consent");
    keyflow::consents::remember(server.db(), key(alice), &["openid".into()], None, now)
        .await
        .expect("permanent consent");
    // An expired session goes too.
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let sessions_before = session::Entity::find()
        .all(server.db())
        .await
        .expect("sessions")
        .len();
    let signed_in = session::Entity::find()
        .filter(session::Column::UserId.is_not_null())
        .one(server.db())
        .await
        .expect("query")
        .expect("signed-in session");
    session::ActiveModel {
        id: Set(signed_in.id),
        expires_at: Set(now - Duration::seconds(1)),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("age the session");

    let purged = keyflow::housekeeping::purge_expired(server.db(), Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged.flow_tokens, 1);
    assert_eq!(purged.consents, 1);
    assert_eq!(purged.sessions, 1);
    let left: Vec<Uuid> = flow_token::Entity::find()
        .all(server.db())
        .await
        .expect("tokens")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, vec![tokens[1]], "the live link stays");
    let left = consents(&server).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].user_id, alice, "the permanent consent stays");
    assert_eq!(
        session::Entity::find()
            .all(server.db())
            .await
            .expect("sessions")
            .len(),
        sessions_before - 1
    );
    // Nothing more to do the second time.
    let again = keyflow::housekeeping::purge_expired(server.db(), Utc::now())
        .await
        .expect("purge");
    assert_eq!(again.total(), 0);
}
