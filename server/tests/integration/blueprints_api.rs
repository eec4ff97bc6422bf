//! `POST /api/v3/managed/blueprints/apply/` over real HTTP: only administrators may apply, a dry
//! run changes nothing, applying twice changes nothing the second time, an invalid blueprint is
//! a 400 that names the entry and leaves the database as it was, the flow it creates runs, and
//! `state: absent` removes objects whatever order the entries are listed in.

use crate::common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

both_databases!(
    only_administrators_may_apply,
    dry_run_previews_then_apply_creates_a_working_flow,
    an_invalid_blueprint_is_a_400_and_changes_nothing,
    a_session_administrator_needs_the_csrf_token,
    a_stage_kind_not_implemented_yet_shows_a_flow_error,
    absent_entries_remove_in_either_order_and_again_is_no_error,
);

const APPLY: &str = "/api/v3/managed/blueprints/apply/";

const CLOSED_FLOW: &str = r#"
version: 1
metadata:
  name: Closed door
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: closed-door
    attrs:
      name: Closed door
      title: Closed door
      designation: authentication
  - model: authentik_stages_deny.denystage
    id: deny
    identifiers:
      name: closed-door-deny
    attrs:
      deny_message: Closed by a blueprint
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf deny
      order: 10
"#;

/// POSTs with the bootstrap admin token; `content_type` and the body as given.
async fn post_as_admin(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, Value) {
    let response = server
        .bare_client()
        .post(format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("POST apply");
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn flow_exists(server: &TestServer, slug: &str) -> bool {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    keyflow::store::flow::Entity::find()
        .filter(keyflow::store::flow::Column::Slug.eq(slug))
        .one(server.db())
        .await
        .expect("flow query")
        .is_some()
}

async fn only_administrators_may_apply(db: Db) {
    let server = TestServer::start(db).await;
    let body = json!({"content": CLOSED_FLOW});
    let anonymous = server
        .bare_client()
        .post(format!("{}{APPLY}", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        json!({"detail": "Authentication credentials were not provided."})
    );
    let bad_token = server
        .bare_client()
        .post(format!("{}{APPLY}", server.base))
        .bearer_auth("not-a-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), StatusCode::FORBIDDEN);

    // A signed-in user who is not a superuser, with a valid CSRF token.
    let (status, alice) = post_as_admin(
        &server,
        "/api/v3/core/users/",
        "application/json",
        json!({"username": "alice", "name": "Alice"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    let (status, _) = post_as_admin(
        &server,
        &format!("/api/v3/core/users/{}/set_password/", alice["pk"]),
        "application/json",
        json!({"password": "Alice-Pass-1"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let browser = server.browser();
    assert_eq!(
        browser.login("alice", "Alice-Pass-1").await,
        redirect_to("/")
    );
    let response = browser.api(Method::POST, APPLY, Some(body)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "You do not have permission to perform this action."})
    );
    assert!(!flow_exists(&server, "closed-door").await);
}

async fn dry_run_previews_then_apply_creates_a_working_flow(db: Db) {
    let server = TestServer::start(db).await;
    let (status, preview) = post_as_admin(
        &server,
        APPLY,
        "application/json",
        json!({"content": CLOSED_FLOW, "dry_run": true}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["changes"], 3);
    let actions: Vec<&Value> = preview["blueprints"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["action"])
        .collect();
    assert_eq!(actions, ["created", "created", "created"]);
    assert!(
        !flow_exists(&server, "closed-door").await,
        "a dry run changes nothing"
    );

    // The YAML itself as the body.
    let (status, applied) =
        post_as_admin(&server, APPLY, "application/yaml", CLOSED_FLOW.into()).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["dry_run"], false);
    assert_eq!(applied["changes"], 3);
    assert!(flow_exists(&server, "closed-door").await);

    let (status, again) =
        post_as_admin(&server, APPLY, "application/yaml", CLOSED_FLOW.into()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["changes"], 0);
    assert!(again["blueprints"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"] == "unchanged"));

    let challenge = server.browser().get_flow("closed-door", "").await;
    assert_eq!(
        challenge["component"], "ak-stage-access-denied",
        "{challenge}"
    );
    assert_eq!(challenge["error_message"], "Closed by a blueprint");
}

async fn an_invalid_blueprint_is_a_400_and_changes_nothing(db: Db) {
    let server = TestServer::start(db).await;
    let broken = format!(
        "{CLOSED_FLOW}  - model: authentik_policies_expression.expressionpolicy\n    \
         identifiers:\n      name: broken\n    attrs:\n      expression: \"return (\"\n"
    );
    let (status, body) = post_as_admin(&server, APPLY, "application/yaml", broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["file"], "api");
    assert_eq!(body["error"]["entry"], "entries[3]");
    assert_eq!(
        body["error"]["model"],
        "authentik_policies_expression.expressionpolicy"
    );
    assert_eq!(body["error"]["field"], "expression");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .starts_with("api: entries[3]"));
    assert!(!flow_exists(&server, "closed-door").await);

    let (status, body) = post_as_admin(
        &server,
        APPLY,
        "application/json",
        json!({"dry_run": true}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"content": ["This field is required."]}));

    let (status, body) = post_as_admin(
        &server,
        APPLY,
        "application/yaml",
        "version: 1\nentries:\n- model: authentik_flows.flow\n  identifiers:\n    slug: !Env HOME\n"
            .into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("!Env"), "{body}");
}

async fn a_session_administrator_needs_the_csrf_token(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let without_csrf = browser
        .client
        .post(browser.url(APPLY))
        .json(&json!({"content": CLOSED_FLOW}))
        .send()
        .await
        .unwrap();
    assert_eq!(without_csrf.status(), StatusCode::FORBIDDEN);
    assert!(!flow_exists(&server, "closed-door").await);
    let with_csrf = browser
        .api(Method::POST, APPLY, Some(json!({"content": CLOSED_FLOW})))
        .await;
    assert_eq!(with_csrf.status(), StatusCode::OK);
    assert!(flow_exists(&server, "closed-door").await);
}

async fn a_stage_kind_not_implemented_yet_shows_a_flow_error(db: Db) {
    let server = TestServer::start(db).await;
    let duo = "version: 1\nentries:\n\
        - model: authentik_flows.flow\n  id: flow\n  identifiers:\n    slug: duo-setup\n  \
          attrs:\n    name: Duo\n    title: Duo\n    designation: stage_configuration\n\
        - model: authentik_stages_authenticator_duo.authenticatorduostage\n  id: duo\n  \
          identifiers:\n    name: duo-stage\n  attrs:\n    api_hostname: api.example.com\n    \
          client_id: id\n    client_secret: secret\n\
        - model: authentik_flows.flowstagebinding\n  identifiers:\n    target: !KeyOf flow\n    \
          stage: !KeyOf duo\n    order: 10\n";
    let (status, body) = post_as_admin(&server, APPLY, "application/yaml", duo.into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Never a silent pass: the stage's configuration is stored, its behaviour is not there yet.
    let challenge = server.browser().get_flow("duo-setup", "").await;
    assert_eq!(challenge["component"], "ak-stage-flow-error", "{challenge}");
}

/// A password stage (`id: pw`) and an identification stage asking for its password on the same
/// page (`password_stage: !KeyOf pw`), the referencing entry first when `referencing_first`,
/// both with `state`.
fn password_and_identification(state: &str, referencing_first: bool) -> String {
    let password = format!(
        "- model: authentik_stages_password.passwordstage\n  id: pw\n  state: {state}\n  \
         identifiers:\n    name: api-login-password\n  attrs:\n    \
         backends: [authentik.core.auth.InbuiltBackend]\n"
    );
    let identification = format!(
        "- model: authentik_stages_identification.identificationstage\n  state: {state}\n  \
         identifiers:\n    name: api-login-identification\n  attrs:\n    \
         user_fields: [username]\n    password_stage: !KeyOf pw\n"
    );
    let (first, second) = if referencing_first {
        (identification, password)
    } else {
        (password, identification)
    };
    format!("version: 1\nentries:\n{first}{second}")
}

async fn stage_names(server: &TestServer) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    keyflow::store::stage::Entity::find()
        .filter(keyflow::store::stage::Column::Name.starts_with("api-login-"))
        .all(server.db())
        .await
        .expect("stage query")
        .into_iter()
        .map(|s| s.name)
        .collect()
}

fn actions(report: &Value) -> Vec<Value> {
    report["blueprints"][0]["entries"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["action"].clone()).collect())
        .unwrap_or_default()
}

async fn absent_entries_remove_in_either_order_and_again_is_no_error(db: Db) {
    let server = TestServer::start(db).await;
    for referencing_first in [false, true] {
        let present = password_and_identification("present", false);
        let (status, body) = post_as_admin(&server, APPLY, "application/yaml", present).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(stage_names(&server).await.len(), 2);

        let absent = password_and_identification("absent", referencing_first);
        let (status, removed) =
            post_as_admin(&server, APPLY, "application/yaml", absent.clone()).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "referencing first: {referencing_first}: {removed}"
        );
        assert_eq!(actions(&removed), [json!("deleted"), json!("deleted")]);
        assert!(stage_names(&server).await.is_empty());

        let (status, again) = post_as_admin(&server, APPLY, "application/yaml", absent).await;
        assert_eq!(status, StatusCode::OK, "second run: {again}");
        assert_eq!(again["changes"], 0);
        assert_eq!(actions(&again), [json!("unchanged"), json!("unchanged")]);
        for entry in again["blueprints"][0]["entries"].as_array().unwrap() {
            assert_eq!(entry["notes"], json!(["already absent"]), "{entry}");
        }
    }
}
