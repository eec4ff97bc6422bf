//! The admin object API over real HTTP: flows, stage bindings (and their atomic reorder),
//! stages of every kind, prompt fields, policies and policy bindings, in authentik's shapes
//! (bodies dumped for the strict authentik-client check), with DRF's errors and who may call.

use crate::common::*;
use keyflow::store::stage;
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

both_databases!(
    callers_need_a_superuser_and_sessions_the_csrf_token,
    flows_are_created_searched_edited_and_deleted,
    bindings_reorder_atomically_and_the_next_login_follows,
    every_stage_kind_round_trips_and_secrets_stay_write_only,
    a_used_stage_is_only_deleted_by_force,
    prompts_and_policies_are_compiled_on_save_and_bound,
    versions_record_changes_diff_and_roll_back,
);

const FLOWS: &str = "/api/v3/flows/instances/";
const BINDINGS: &str = "/api/v3/flows/bindings/";
const STAGES: &str = "/api/v3/stages/all/";
const PROMPTS: &str = "/api/v3/stages/prompt/prompts/";
const POLICY_BINDINGS: &str = "/api/v3/policies/bindings/";

/// POSTs `body` to `path`, expects 201 and dumps the answer as `model`.
async fn create(server: &TestServer, path: &str, model: &str, body: Value) -> Value {
    let (status, created) = as_admin(server, Method::POST, path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {created}");
    dump(&format!("api-{model}"), &created);
    created
}

async fn get_ok(server: &TestServer, path: &str, model: &str) -> Value {
    let (status, body) = as_admin(server, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    dump(&format!("api-{model}"), &body);
    body
}

fn names<'a>(page: &'a Value, key: &str) -> Vec<&'a str> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|o| o[key].as_str().expect("string"))
        .collect()
}

async fn new_flow(server: &TestServer, slug: &str) -> Value {
    create(
        server,
        FLOWS,
        "Flow",
        json!({"name": slug, "slug": slug, "title": format!("Title of {slug}"), "designation": "authentication"}),
    )
    .await
}

async fn new_stage(server: &TestServer, kind_path: &str, model: &str, body: Value) -> Value {
    create(server, &format!("/api/v3/stages/{kind_path}/"), model, body).await
}

async fn bind(server: &TestServer, flow: &Value, stage: &Value, order: i32) -> Value {
    create(
        server,
        BINDINGS,
        "FlowStageBinding",
        json!({"target": flow["pk"], "stage": stage["pk"], "order": order}),
    )
    .await
}

async fn callers_need_a_superuser_and_sessions_the_csrf_token(db: Db) {
    let server = TestServer::start(db).await;
    let client = server.bare_client();
    for path in [
        FLOWS,
        BINDINGS,
        STAGES,
        PROMPTS,
        "/api/v3/policies/all/",
        POLICY_BINDINGS,
    ] {
        let response = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"detail": "Authentication credentials were not provided."})
        );
    }

    // A normal user is refused, reading and writing.
    let (status, alice) = as_admin(
        &server,
        Method::POST,
        "/api/v3/core/users/",
        Some(json!({"username": "alice", "name": "Alice"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = as_admin(
        &server,
        Method::POST,
        &format!("/api/v3/core/users/{}/set_password/", alice["pk"]),
        Some(json!({"password": "Alice-Pass-1"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let browser = server.browser();
    assert_eq!(
        browser.login("alice", "Alice-Pass-1").await,
        redirect_to("/")
    );
    let denied = json!({"detail": "You do not have permission to perform this action."});
    let response = browser.api(Method::GET, FLOWS, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.json::<Value>().await.unwrap(), denied);
    let response = browser
        .api(
            Method::POST,
            "/api/v3/stages/deny/",
            Some(json!({"name": "sneaky"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = browser
        .api(Method::DELETE, &format!("{FLOWS}{AUTH_FLOW}/"), None)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A superuser's session must echo the CSRF token for writes.
    let admin = server.browser();
    assert_eq!(admin.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let body = json!({"name": "Via session", "slug": "via-session", "title": "T", "designation": "enrollment"});
    let without = admin
        .client
        .post(admin.url(FLOWS))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        without.json::<Value>().await.unwrap(),
        json!({"detail": "CSRF Failed: CSRF token missing or incorrect."})
    );
    let with = admin.api(Method::POST, FLOWS, Some(body)).await;
    assert_eq!(with.status(), StatusCode::CREATED);
    let listed = admin
        .api(Method::GET, &format!("{FLOWS}?search=via"), None)
        .await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(names(&listed, "slug"), vec!["via-session"]);
    assert_eq!(
        server
            .events()
            .await
            .iter()
            .filter(|(action, user, context)| action == "model_created"
                && user == ADMIN
                && context["model"]["model_name"] == "flow")
            .count(),
        1,
        "the creation is in the audit log"
    );
}

async fn flows_are_created_searched_edited_and_deleted(db: Db) {
    let server = TestServer::start(db).await;
    let created = create(
        &server,
        FLOWS,
        "Flow",
        json!({
            "name": "Partner login",
            "slug": "partner-login",
            "title": "Partners",
            "designation": "authentication",
            "authentication": "require_unauthenticated",
            "layout": "sidebar_left",
            "denied_action": "continue",
            "policy_engine_mode": "all",
            "compatibility_mode": true,
            // Read-only fields a client echoes back are ignored, as DRF does.
            "pk": "00000000-0000-0000-0000-000000000000",
            "cache_count": 99,
        }),
    )
    .await;
    assert_eq!(created["slug"], "partner-login");
    assert_eq!(created["layout"], "sidebar_left");
    assert_eq!(created["authentication"], "require_unauthenticated");
    assert_eq!(created["compatibility_mode"], true);
    assert_eq!(created["stages"], json!([]));
    assert_eq!(
        created["export_url"],
        "/api/v3/flows/instances/partner-login/export/"
    );
    assert_ne!(created["pk"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(created["pk"], created["policybindingmodel_ptr_id"]);

    let all = get_ok(&server, FLOWS, "PaginatedFlowList").await;
    assert!(all["pagination"]["count"].as_u64().unwrap() > 3, "{all}");
    let found = get_ok(
        &server,
        &format!("{FLOWS}?search=PARTNER"),
        "PaginatedFlowList",
    )
    .await;
    assert_eq!(names(&found, "slug"), vec!["partner-login"]);
    let by_designation = get_ok(
        &server,
        &format!("{FLOWS}?designation=invalidation"),
        "PaginatedFlowList",
    )
    .await;
    assert_eq!(names(&by_designation, "slug"), vec![LOGOUT_FLOW]);
    let descending = get_ok(
        &server,
        &format!("{FLOWS}?ordering=-slug"),
        "PaginatedFlowList",
    )
    .await;
    let slugs = names(&descending, "slug");
    let mut sorted = slugs.clone();
    sorted.sort_unstable();
    sorted.reverse();
    assert_eq!(slugs, sorted);
    let paged = get_ok(
        &server,
        &format!("{FLOWS}?page_size=1&page=2"),
        "PaginatedFlowList",
    )
    .await;
    assert_eq!(paged["results"].as_array().unwrap().len(), 1);
    assert_eq!(paged["pagination"]["current"], 2);

    let path = format!("{FLOWS}partner-login/");
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"title": "Partner portal", "designation": "enrollment"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    dump("api-Flow", &patched);
    assert_eq!(patched["title"], "Partner portal");
    assert_eq!(patched["designation"], "enrollment");
    assert_eq!(patched["layout"], "sidebar_left", "untouched fields stay");

    // Validation: DRF's field errors, nothing changed.
    for (method, path, body, field) in [
        (
            Method::POST,
            FLOWS.to_owned(),
            json!({"name": "x", "title": "x", "designation": "authentication"}),
            "slug",
        ),
        (
            Method::POST,
            FLOWS.to_owned(),
            json!({"name": "x", "slug": "bad slug!", "title": "x", "designation": "authentication"}),
            "slug",
        ),
        (
            Method::POST,
            FLOWS.to_owned(),
            json!({"name": "x", "slug": "partner-login", "title": "x", "designation": "authentication"}),
            "slug",
        ),
        (
            Method::POST,
            FLOWS.to_owned(),
            json!({"name": "x", "slug": "x", "title": "x", "designation": "teleport"}),
            "designation",
        ),
        (
            Method::PATCH,
            path.clone(),
            json!({"compatibility_mode": "maybe"}),
            "compatibility_mode",
        ),
        (
            Method::PATCH,
            path.clone(),
            json!({"slug": AUTH_FLOW}),
            "slug",
        ),
        (Method::PATCH, path.clone(), json!({"name": ""}), "name"),
        (
            Method::PUT,
            path.clone(),
            json!({"title": "only a title"}),
            "name",
        ),
    ] {
        let (status, errors) = as_admin(&server, method.clone(), &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {body}: {errors}");
        assert!(errors[field][0].is_string(), "{body}: {errors}");
    }
    let (_, designation_error) = as_admin(
        &server,
        Method::POST,
        FLOWS,
        Some(json!({"name": "x", "slug": "x", "title": "x", "designation": "teleport"})),
    )
    .await;
    assert_eq!(
        designation_error,
        json!({"designation": ["\"teleport\" is not a valid choice."]})
    );
    let unchanged = get_ok(&server, &path, "Flow").await;
    assert_eq!(unchanged, patched);

    let (status, put) = as_admin(
        &server,
        Method::PUT,
        &path,
        Some(json!({"name": "Renamed", "slug": "partners", "title": "P", "designation": "authentication"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["slug"], "partners");
    let (status, _) = as_admin(&server, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old slug is gone");

    let response = server
        .bare_client()
        .get(format!("{}{FLOWS}partners/export/", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("slug: partners"));

    let (status, _) = as_admin(&server, Method::DELETE, &format!("{FLOWS}partners/"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = as_admin(&server, Method::GET, &format!("{FLOWS}partners/"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = as_admin(&server, Method::DELETE, &format!("{FLOWS}partners/"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn bindings_reorder_atomically_and_the_next_login_follows(db: Db) {
    let server = TestServer::start(db).await;
    let flow = new_flow(&server, "ordered").await;
    let identify = new_stage(
        &server,
        "identification",
        "IdentificationStage",
        json!({"name": "ordered-identify", "user_fields": ["username"]}),
    )
    .await;
    let deny = new_stage(
        &server,
        "deny",
        "DenyStage",
        json!({"name": "ordered-deny", "deny_message": "Not today."}),
    )
    .await;
    let first = bind(&server, &flow, &identify, 10).await;
    let second = bind(&server, &flow, &deny, 20).await;
    assert_eq!(first["stage_obj"]["name"], "ordered-identify");
    assert_eq!(first["stage_obj"]["flow_set"][0]["slug"], "ordered");
    assert_eq!(first["invalid_response_action"], "retry");
    assert_eq!(first["re_evaluate_policies"], true);

    let listed = get_ok(
        &server,
        &format!(
            "{BINDINGS}?target={}&ordering=order",
            flow["pk"].as_str().unwrap()
        ),
        "PaginatedFlowStageBindingList",
    )
    .await;
    assert_eq!(
        names(&listed, "pk"),
        vec![
            first["pk"].as_str().unwrap(),
            second["pk"].as_str().unwrap()
        ]
    );
    let flow_now = get_ok(&server, &format!("{FLOWS}ordered/"), "Flow").await;
    assert_eq!(flow_now["stages"], json!([identify["pk"], deny["pk"]]));

    let browser = server.browser();
    assert_eq!(
        browser.get_flow("ordered", "").await["component"],
        "ak-stage-identification"
    );

    // Stale or wrong lists are refused and change nothing.
    let reorder = format!("{FLOWS}ordered/reorder_bindings/");
    for bindings in [
        json!([second["pk"]]),
        json!([second["pk"], first["pk"], first["pk"]]),
        json!([second["pk"], "0b6c5f6e-8a43-4bb0-9d8e-000000000001"]),
        json!([
            second["pk"],
            first["pk"],
            "0b6c5f6e-8a43-4bb0-9d8e-000000000001"
        ]),
    ] {
        let (status, errors) = as_admin(
            &server,
            Method::POST,
            &reorder,
            Some(json!({"bindings": bindings})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bindings}: {errors}");
        assert!(errors["bindings"][0].is_string(), "{errors}");
    }
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        &reorder,
        Some(json!({"bindings": ["nope"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(errors["bindings"].is_array(), "{errors}");
    let unchanged = get_ok(
        &server,
        &format!("{BINDINGS}{}/", first["pk"].as_str().unwrap()),
        "FlowStageBinding",
    )
    .await;
    assert_eq!(unchanged["order"], 10);

    let (status, reordered) = as_admin(
        &server,
        Method::POST,
        &reorder,
        Some(json!({"bindings": [second["pk"], first["pk"]]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reordered}");
    assert_eq!(reordered[0]["pk"], second["pk"]);
    assert_eq!(reordered[0]["order"], 10);
    assert_eq!(reordered[1]["pk"], first["pk"]);
    assert_eq!(reordered[1]["order"], 20);
    for binding in reordered.as_array().unwrap() {
        dump("api-FlowStageBinding", binding);
    }
    let flow_now = get_ok(&server, &format!("{FLOWS}ordered/"), "Flow").await;
    assert_eq!(flow_now["stages"], json!([deny["pk"], identify["pk"]]));

    // A new login walks the new order: the deny stage comes first now.
    let fresh = server.browser();
    let challenge = fresh.get_flow("ordered", "").await;
    assert_eq!(
        challenge["component"], "ak-stage-access-denied",
        "{challenge}"
    );
    assert_eq!(challenge["error_message"], "Not today.");

    // Editing and removing a binding.
    let path = format!("{BINDINGS}{}/", first["pk"].as_str().unwrap());
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"evaluate_on_plan": true, "invalid_response_action": "restart", "order": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["evaluate_on_plan"], true);
    assert_eq!(patched["invalid_response_action"], "restart");
    assert_eq!(patched["order"], 5);
    let (status, errors) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"invalid_response_action": "explode"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!({"invalid_response_action": ["\"explode\" is not a valid choice."]})
    );
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        BINDINGS,
        Some(json!({"target": flow["pk"], "stage": "0b6c5f6e-8a43-4bb0-9d8e-000000000001", "order": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(errors["stage"][0].is_string(), "{errors}");
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        BINDINGS,
        Some(json!({"target": flow["pk"], "stage": deny["pk"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(errors, json!({"order": ["This field is required."]}));
    let (status, _) = as_admin(&server, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let flow_now = get_ok(&server, &format!("{FLOWS}ordered/"), "Flow").await;
    assert_eq!(flow_now["stages"], json!([deny["pk"]]));
}

async fn every_stage_kind_round_trips_and_secrets_stay_write_only(db: Db) {
    let server = TestServer::start(db).await;
    let kinds = [
        (
            "identification",
            "IdentificationStage",
            json!({"user_fields": ["email", "username"], "case_insensitive_matching": false}),
        ),
        (
            "password",
            "PasswordStage",
            json!({"backends": ["authentik.core.auth.InbuiltBackend"], "failed_attempts_before_cancel": 3}),
        ),
        (
            "user_login",
            "UserLoginStage",
            json!({"session_duration": "hours=2"}),
        ),
        ("user_logout", "UserLogoutStage", json!({})),
        ("deny", "DenyStage", json!({"deny_message": "No."})),
        ("prompt/stages", "PromptStage", json!({"fields": []})),
        (
            "user_write",
            "UserWriteStage",
            json!({"user_creation_mode": "always_create"}),
        ),
        ("user_delete", "UserDeleteStage", json!({})),
        (
            "invitation/stages",
            "InvitationStage",
            json!({"continue_flow_without_invitation": true}),
        ),
        (
            "email",
            "EmailStage",
            json!({"use_global_settings": false, "host": "smtp.example.com", "username": "mailer", "password": "smtp-secret-1", "subject": "Hello"}),
        ),
        (
            "captcha",
            "CaptchaStage",
            json!({"public_key": "site-key", "private_key": "captcha-secret-1"}),
        ),
        ("consent", "ConsentStage", json!({"mode": "always_require"})),
        (
            "redirect",
            "RedirectStage",
            json!({"mode": "static", "target_static": "https://example.com/"}),
        ),
        (
            "authenticator/sms",
            "AuthenticatorSMSStage",
            json!({"provider": "twilio", "from_number": "+15550100", "account_sid": "AC1", "auth": "sms-token-secret-1"}),
        ),
        (
            "authenticator/duo",
            "AuthenticatorDuoStage",
            json!({"client_id": "DI1", "client_secret": "duo-secret-1", "api_hostname": "api-1.duosecurity.com"}),
        ),
        (
            "authenticator/email",
            "AuthenticatorEmailStage",
            json!({"use_global_settings": true}),
        ),
        (
            "authenticator/webauthn",
            "AuthenticatorWebAuthnStage",
            json!({"user_verification": "required"}),
        ),
        (
            "authenticator/totp",
            "AuthenticatorTOTPStage",
            json!({"digits": "8"}),
        ),
        (
            "authenticator/static",
            "AuthenticatorStaticStage",
            json!({"token_count": 4}),
        ),
        (
            "authenticator/validate",
            "AuthenticatorValidateStage",
            json!({"device_classes": ["totp", "static"]}),
        ),
    ];
    let secrets = [
        "smtp-secret-1",
        "captcha-secret-1",
        "sms-token-secret-1",
        "duo-secret-1",
    ];
    for (index, (path, model, config)) in kinds.iter().enumerate() {
        let mut body = config.clone();
        body["name"] = json!(format!("kind-{index}"));
        let made = new_stage(&server, path, model, body).await;
        assert_eq!(made["name"], format!("kind-{index}"), "{path}");
        let pk = made["pk"].as_str().unwrap();
        let again = get_ok(&server, &format!("/api/v3/stages/{path}/{pk}/"), model).await;
        assert_eq!(again, made, "{path}");
        let page = get_ok(
            &server,
            &format!("/api/v3/stages/{path}/?search=kind-{index}"),
            &format!("Paginated{model}List"),
        )
        .await;
        assert_eq!(page["pagination"]["count"], 1, "{path}");
        let text = made.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "{path} leaks a secret: {text}");
        }
        // A stage of another kind is not found under this kind's path.
        let other = if *path == "deny" {
            "user_logout"
        } else {
            "deny"
        };
        let (status, _) = as_admin(
            &server,
            Method::GET,
            &format!("/api/v3/stages/{other}/{pk}/"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} under {other}");
    }
    let all = get_ok(
        &server,
        &format!("{STAGES}?search=kind-"),
        "PaginatedStageList",
    )
    .await;
    assert_eq!(all["pagination"]["count"], kinds.len());
    let text = all.to_string();
    for secret in secrets {
        assert!(!text.contains(secret));
    }

    // TOTP digits go out as authentik's text enum.
    let totp = get_ok(
        &server,
        "/api/v3/stages/authenticator/totp/?search=kind-17",
        "PaginatedAuthenticatorTOTPStageList",
    )
    .await;
    assert_eq!(totp["results"][0]["digits"], "8");

    // A PATCH without the secret keeps it; with one, replaces it.
    let email = get_ok(
        &server,
        "/api/v3/stages/email/?search=kind-9",
        "PaginatedEmailStageList",
    )
    .await;
    let email_pk = email["results"][0]["pk"].as_str().unwrap().to_owned();
    let path = format!("/api/v3/stages/email/{email_pk}/");
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"subject": "Welcome"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["subject"], "Welcome");
    assert!(patched.get("password").is_none());
    let stored_password = |row: stage::Model| row.config["password"].clone();
    let row = stage::Entity::find_by_id(uuid::Uuid::parse_str(&email_pk).unwrap())
        .one(server.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_password(row), "smtp-secret-1");
    let (status, _) = as_admin(
        &server,
        Method::PUT,
        &path,
        Some(json!({"name": "kind-9", "password": "smtp-secret-2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let row = stage::Entity::find_by_id(uuid::Uuid::parse_str(&email_pk).unwrap())
        .one(server.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_password(row.clone()), "smtp-secret-2");
    assert_eq!(
        row.config["subject"], "Welcome",
        "PUT keeps attributes it does not name"
    );

    // Bad configuration: 400 on the field, nothing stored.
    for (path, body, field) in [
        (
            "identification",
            json!({"name": "bad-1", "user_fields": ["shoe_size"]}),
            "user_fields",
        ),
        (
            "authenticator/totp",
            json!({"name": "bad-2", "digits": 7}),
            "digits",
        ),
        ("captcha", json!({"name": "bad-3"}), "public_key"),
        ("deny", json!({"deny_message": "no name"}), "name"),
        ("deny", json!({"name": "kind-0"}), "name"),
        (
            "password",
            json!({"name": "bad-4", "failed_attempts_before_cancel": "many"}),
            "failed_attempts_before_cancel",
        ),
    ] {
        let (status, errors) = as_admin(
            &server,
            Method::POST,
            &format!("/api/v3/stages/{path}/"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {errors}");
        assert!(errors[field][0].is_string(), "{path} {body}: {errors}");
    }
    let all = get_ok(
        &server,
        &format!("{STAGES}?search=bad-"),
        "PaginatedStageList",
    )
    .await;
    assert_eq!(all["pagination"]["count"], 0);
}

async fn a_used_stage_is_only_deleted_by_force(db: Db) {
    let server = TestServer::start(db).await;
    let flow = new_flow(&server, "uses").await;
    let stage = new_stage(&server, "deny", "DenyStage", json!({"name": "in-use"})).await;
    let binding = bind(&server, &flow, &stage, 10).await;
    let pk = stage["pk"].as_str().unwrap();

    let (status, used_by) = as_admin(
        &server,
        Method::GET,
        &format!("{STAGES}{pk}/used_by/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(used_by.as_array().unwrap().len(), 1);
    assert_eq!(used_by[0]["pk"], binding["pk"]);
    assert_eq!(used_by[0]["model_name"], "flowstagebinding");
    dump("api-UsedBy", &used_by[0]);
    let retrieved = get_ok(&server, &format!("{STAGES}{pk}/"), "Stage").await;
    assert_eq!(retrieved["flow_set"][0]["slug"], "uses");

    for path in [
        format!("{STAGES}{pk}/"),
        format!("/api/v3/stages/deny/{pk}/"),
    ] {
        let (status, refused) = as_admin(&server, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(
            detail.contains("in-use") && detail.contains("uses"),
            "{detail}"
        );
        assert_eq!(refused["used_by"][0]["pk"], binding["pk"]);
    }
    get_ok(&server, &format!("{STAGES}{pk}/"), "Stage").await;

    let (status, _) = as_admin(
        &server,
        Method::DELETE,
        &format!("{STAGES}{pk}/?force=true"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = as_admin(&server, Method::GET, &format!("{STAGES}{pk}/"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = as_admin(
        &server,
        Method::GET,
        &format!("{BINDINGS}{}/", binding["pk"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "its binding went with it");

    // An unused stage is deleted at once.
    let unused = new_stage(&server, "deny", "DenyStage", json!({"name": "unused"})).await;
    let (status, _) = as_admin(
        &server,
        Method::DELETE,
        &format!("/api/v3/stages/deny/{}/", unused["pk"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn prompts_and_policies_are_compiled_on_save_and_bound(db: Db) {
    let server = TestServer::start(db).await;
    let prompt = create(
        &server,
        PROMPTS,
        "Prompt",
        json!({"name": "nickname", "field_key": "nickname", "label": "Nickname", "type": "text",
               "required": true, "placeholder": "return 'e.g. ' + 'Ace'", "placeholder_expression": true, "order": 3}),
    )
    .await;
    assert_eq!(prompt["type"], "text");
    assert_eq!(prompt["prompt_stages_obj"], json!([]));
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        PROMPTS,
        Some(
            json!({"name": "broken", "field_key": "b", "label": "B", "type": "text",
                    "initial_value": "return (1 +) * 2", "initial_value_expression": true}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = errors["initial_value"][0].as_str().unwrap();
    assert!(message.contains("line 1, column"), "{message}");
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        PROMPTS,
        Some(json!({"name": "typed", "field_key": "t", "label": "T", "type": "hologram"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(errors["type"][0].is_string(), "{errors}");
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        PROMPTS,
        Some(json!({"name": "partial"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["field_key", "label", "type"] {
        assert_eq!(
            errors[field],
            json!(["This field is required."]),
            "{errors}"
        );
    }

    let prompt_stage = new_stage(
        &server,
        "prompt/stages",
        "PromptStage",
        json!({"name": "ask-nickname", "fields": [prompt["pk"]]}),
    )
    .await;
    let prompt_path = format!("{PROMPTS}{}/", prompt["pk"].as_str().unwrap());
    let shown = get_ok(&server, &prompt_path, "Prompt").await;
    assert_eq!(shown["prompt_stages_obj"][0]["pk"], prompt_stage["pk"]);
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &prompt_path,
        Some(json!({"label": "Your nickname", "placeholder": "return 1 + ) 2", "placeholder_expression": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["label"], "Your nickname");
    let (status, errors) = as_admin(
        &server,
        Method::PATCH,
        &prompt_path,
        Some(json!({"placeholder_expression": true})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "turning the broken text into an expression"
    );
    assert!(
        errors["placeholder"][0]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{errors}"
    );
    get_ok(
        &server,
        &format!("{PROMPTS}?search=nick"),
        "PaginatedPromptList",
    )
    .await;

    // Policies: expressions compile on save, with line and column.
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        "/api/v3/policies/expression/",
        Some(json!({"name": "broken", "expression": "x = 1\nreturn x + * 2"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = errors["expression"][0].as_str().unwrap();
    assert!(message.starts_with("line 2, column"), "{message}");
    // The editor's check compiles without saving: where the error is, or that there is none.
    let check = "/api/v3/policies/expression/check/";
    let (status, verdict) = as_admin(
        &server,
        Method::POST,
        check,
        Some(json!({"expression": "x = 1\nreturn x + * 2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["line"], 2, "{verdict}");
    assert!(
        verdict["column"].as_u64().is_some_and(|c| c >= 1),
        "{verdict}"
    );
    let (_, verdict) = as_admin(
        &server,
        Method::POST,
        check,
        Some(json!({"expression": "return True"})),
    )
    .await;
    assert_eq!(verdict, json!({"valid": true}));
    let (status, errors) = as_admin(&server, Method::POST, check, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(errors["expression"][0], "This field is required.");
    let (status, _) = as_admin(
        &server,
        Method::POST,
        "/api/v3/policies/password/check/",
        Some(json!({})),
    )
    .await;
    // Only expressions have a check: for other kinds it is an object path, where POST is not allowed.
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (_, types) = as_admin(&server, Method::GET, "/api/v3/policies/all/types/", None).await;
    let components: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["component"].as_str())
        .collect();
    assert_eq!(
        components,
        [
            "ak-policy-expression-form",
            "ak-policy-password-form",
            "ak-policy-reputation-form",
            "ak-policy-dummy-form"
        ],
        "{types}"
    );
    let (_, stage_types) = as_admin(&server, Method::GET, "/api/v3/stages/all/types/", None).await;
    let stage_types = stage_types.as_array().unwrap().clone();
    assert!(stage_types.len() >= 17, "{stage_types:?}");
    assert!(stage_types
        .iter()
        .any(|t| t["model_name"]
            == "authentik_stages_authenticator_validate.authenticatorvalidatestage"));
    for entry in types.as_array().unwrap().iter().chain(&stage_types) {
        dump("api-TypeCreate", entry);
    }
    let expression = create(
        &server,
        "/api/v3/policies/expression/",
        "ExpressionPolicy",
        json!({"name": "only-alice", "expression": "return request.user.username == 'alice'", "execution_logging": true}),
    )
    .await;
    assert_eq!(expression["component"], "ak-policy-expression-form");
    assert_eq!(expression["bound_to"], 0);
    let password = create(
        &server,
        "/api/v3/policies/password/",
        "PasswordPolicy",
        json!({"name": "strong", "length_min": 12, "amount_digits": 1}),
    )
    .await;
    assert_eq!(password["length_min"], 12);
    let reputation = create(
        &server,
        "/api/v3/policies/reputation/",
        "ReputationPolicy",
        json!({"name": "reputation", "threshold": -3}),
    )
    .await;
    assert_eq!(reputation["threshold"], -3);
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        "/api/v3/policies/password/",
        Some(json!({"name": "strong"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(errors["name"][0].is_string(), "{errors}");
    let all = get_ok(&server, "/api/v3/policies/all/", "PaginatedPolicyList").await;
    let listed = names(&all, "name");
    for name in ["only-alice", "strong", "reputation"] {
        assert!(listed.contains(&name), "{all}");
    }
    let kinds: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["component"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"ak-policy-reputation-form"), "{all}");
    get_ok(
        &server,
        "/api/v3/policies/expression/",
        "PaginatedExpressionPolicyList",
    )
    .await;
    get_ok(
        &server,
        "/api/v3/policies/password/",
        "PaginatedPasswordPolicyList",
    )
    .await;
    get_ok(
        &server,
        "/api/v3/policies/reputation/",
        "PaginatedReputationPolicyList",
    )
    .await;
    let expression_path = format!(
        "/api/v3/policies/expression/{}/",
        expression["pk"].as_str().unwrap()
    );
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &expression_path,
        Some(json!({"expression": "return True"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["expression"], "return True");
    assert_eq!(patched["execution_logging"], true);

    // Bindings to a flow and to a stage binding.
    let flow = new_flow(&server, "guarded").await;
    let binding = bind(&server, &flow, &prompt_stage, 10).await;
    let on_flow = create(
        &server,
        POLICY_BINDINGS,
        "PolicyBinding",
        json!({"target": flow["pk"], "policy": expression["pk"], "order": 0}),
    )
    .await;
    assert_eq!(on_flow["policy_obj"]["name"], "only-alice");
    assert_eq!(on_flow["enabled"], true);
    assert_eq!(on_flow["timeout"], 30);
    let admin_pk = get_ok(
        &server,
        "/api/v3/core/users/?username=akadmin",
        "PaginatedUserList",
    )
    .await["results"][0]["pk"]
        .clone();
    let on_binding = create(
        &server,
        POLICY_BINDINGS,
        "PolicyBinding",
        json!({"target": binding["pk"], "user": admin_pk, "order": 1, "negate": true}),
    )
    .await;
    assert_eq!(on_binding["user_obj"]["username"], ADMIN);
    assert_eq!(on_binding["policy_obj"], Value::Null);
    let flow_now = get_ok(&server, &format!("{FLOWS}guarded/"), "Flow").await;
    assert_eq!(flow_now["policies"], json!([expression["pk"]]));
    let counted = get_ok(&server, &expression_path, "ExpressionPolicy").await;
    assert_eq!(counted["bound_to"], 1);
    let listed = get_ok(
        &server,
        &format!(
            "{POLICY_BINDINGS}?target={}",
            binding["pk"].as_str().unwrap()
        ),
        "PaginatedPolicyBindingList",
    )
    .await;
    assert_eq!(
        names(&listed, "pk"),
        vec![on_binding["pk"].as_str().unwrap()]
    );

    for (body, field) in [
        (
            json!({"target": flow["pk"], "policy": expression["pk"], "user": admin_pk, "order": 2}),
            "non_field_errors",
        ),
        (
            json!({"target": flow["pk"], "order": 2}),
            "non_field_errors",
        ),
        (
            json!({"target": "0b6c5f6e-8a43-4bb0-9d8e-000000000001", "policy": expression["pk"], "order": 2}),
            "target",
        ),
        (
            json!({"target": flow["pk"], "policy": expression["pk"]}),
            "order",
        ),
        (
            json!({"target": flow["pk"], "policy": expression["pk"], "order": 2, "timeout": -1}),
            "timeout",
        ),
    ] {
        let (status, errors) =
            as_admin(&server, Method::POST, POLICY_BINDINGS, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {errors}");
        assert!(errors[field][0].is_string(), "{body}: {errors}");
    }
    let binding_path = format!("{POLICY_BINDINGS}{}/", on_flow["pk"].as_str().unwrap());
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &binding_path,
        Some(json!({"enabled": false, "failure_result": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["failure_result"], true);
    assert_eq!(patched["policy"], expression["pk"]);
    let (status, _) = as_admin(&server, Method::DELETE, &binding_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Deleting a policy takes its bindings; deleting a prompt takes it out of its stages.
    let (status, _) = as_admin(
        &server,
        Method::DELETE,
        &format!(
            "/api/v3/policies/all/{}/",
            expression["pk"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = as_admin(&server, Method::DELETE, &prompt_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let stage_now = get_ok(
        &server,
        &format!(
            "/api/v3/stages/prompt/stages/{}/",
            prompt_stage["pk"].as_str().unwrap()
        ),
        "PromptStage",
    )
    .await;
    assert_eq!(stage_now["fields"], json!([]));
}

async fn versions_record_changes_diff_and_roll_back(db: Db) {
    let server = TestServer::start(db).await;
    let flow = new_flow(&server, "versioned").await;
    let identify = new_stage(
        &server,
        "identification",
        "IdentificationStage",
        json!({"name": "versioned-identify", "user_fields": ["username"]}),
    )
    .await;
    let deny = new_stage(
        &server,
        "deny",
        "DenyStage",
        json!({"name": "versioned-deny", "deny_message": "Closed."}),
    )
    .await;
    let first = bind(&server, &flow, &identify, 10).await;
    let second = bind(&server, &flow, &deny, 20).await;
    let versions_path = format!("{FLOWS}versioned/versions/");
    let (status, versions) = as_admin(&server, Method::GET, &versions_path, None).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2, 1], "newest first: {versions}");
    assert_eq!(versions[0]["author"], ADMIN);
    assert_eq!(versions[0]["summary"], "Stage bound");
    assert_eq!(versions[2]["summary"], "Flow created");
    assert!(versions[0].get("snapshot").is_none());

    let (status, diff) = as_admin(
        &server,
        Method::GET,
        &format!("{versions_path}diff/?from=2&to=3"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let text = diff["diff"].as_str().unwrap();
    let added: Vec<&str> = text.lines().filter(|l| l.starts_with("+ ")).collect();
    assert!(added.iter().any(|l| l.contains("versioned-deny")), "{text}");
    assert!(
        text.lines().all(|l| !l.starts_with("- ")),
        "nothing was removed: {text}"
    );
    let (status, errors) = as_admin(
        &server,
        Method::GET,
        &format!("{versions_path}diff/?from=x"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        errors["from"][0].is_string() && errors["to"][0].is_string(),
        "{errors}"
    );
    let (status, _) = as_admin(&server, Method::GET, &format!("{versions_path}99/"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Reorder (version 4): the deny stage comes first.
    let (status, _) = as_admin(
        &server,
        Method::POST,
        &format!("{FLOWS}versioned/reorder_bindings/"),
        Some(json!({"bindings": [second["pk"], first["pk"]]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.browser().get_flow("versioned", "").await["component"],
        "ak-stage-access-denied"
    );
    let (_, versions) = as_admin(&server, Method::GET, &versions_path, None).await;
    assert_eq!(versions[0]["number"], 4);
    assert_eq!(versions[0]["summary"], "Bindings reordered");
    // Saving without a change adds no version.
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &format!("{FLOWS}versioned/"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, versions) = as_admin(&server, Method::GET, &versions_path, None).await;
    assert_eq!(versions[0]["number"], 4);

    // A rollback needs a version number.
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        &format!("{versions_path}rollback/"),
        Some(json!({"number": "three"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(errors["number"][0], "A valid integer is required.");

    // Rolling back to version 3 restores the order, as a new version 5.
    let (status, rolled) = as_admin(
        &server,
        Method::POST,
        &format!("{versions_path}rollback/"),
        Some(json!({"number": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["number"], 5);
    assert_eq!(rolled["summary"], "Rolled back to version 3");
    assert_eq!(
        server.browser().get_flow("versioned", "").await["component"],
        "ak-stage-identification",
        "the next login follows the restored order"
    );
    let flow_now = get_ok(&server, &format!("{FLOWS}versioned/"), "Flow").await;
    assert_eq!(flow_now["stages"], json!([identify["pk"], deny["pk"]]));
    let (_, v3) = as_admin(&server, Method::GET, &format!("{versions_path}3/"), None).await;
    let (_, v5) = as_admin(&server, Method::GET, &format!("{versions_path}5/"), None).await;
    assert_eq!(
        v3["snapshot"], v5["snapshot"],
        "version 5 is version 3 again"
    );

    // A blueprint apply is a version too.
    let blueprint = "version: 1\nentries:\n  - model: authentik_flows.flow\n    identifiers:\n      slug: versioned\n    attrs:\n      title: Set by a blueprint\n";
    let (status, report) = as_admin(
        &server,
        Method::POST,
        "/api/v3/managed/blueprints/apply/",
        Some(json!({"content": blueprint})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let (_, versions) = as_admin(&server, Method::GET, &versions_path, None).await;
    assert_eq!(versions[0]["number"], 6, "{versions}");
    assert!(versions[0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Blueprint applied"));
    assert_eq!(versions[0]["author"], ADMIN);
    // The default flows got their first version when keyflow applied its blueprints.
    let (status, defaults) = as_admin(
        &server,
        Method::GET,
        &format!("{FLOWS}{AUTH_FLOW}/versions/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(defaults[0]["author"], "keyflow", "{defaults}");

    // A version saved under an older slug is not applied to (or as) another flow.
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &format!("{FLOWS}versioned/"),
        Some(json!({"slug": "renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, errors) = as_admin(
        &server,
        Method::POST,
        &format!("{FLOWS}renamed/versions/rollback/"),
        Some(json!({"number": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{errors}");
    assert!(errors["non_field_errors"][0]
        .as_str()
        .unwrap()
        .contains("another slug"));
    let (status, _) = as_admin(&server, Method::GET, &format!("{FLOWS}versioned/"), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no flow was created under the old slug"
    );
    let flow_now = get_ok(&server, &format!("{FLOWS}renamed/"), "Flow").await;
    assert_eq!(
        flow_now["stages"],
        json!([identify["pk"], deny["pk"]]),
        "bindings untouched"
    );
}
