//! The admin REST API for users (search, filters, PUT/PATCH, deactivation) and groups
//! (`/api/v3/core/groups/…`: members, parent, superuser flag, attributes) over real HTTP, in
//! authentik's shapes; bodies are dumped for the strict authentik-client check. Also the audit
//! log (`/api/v3/events/events/`).

use crate::common::*;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

both_databases!(
    users_are_searched_filtered_and_updated,
    deactivating_a_user_ends_their_sessions,
    groups_keep_members_a_parent_and_attributes,
    group_rules_are_reported_like_drf,
    only_superusers_may_administer_groups,
    the_audit_log_is_filtered_by_action_user_ip_and_time,
);

const USERS: &str = "/api/v3/core/users/";
const GROUPS: &str = "/api/v3/core/groups/";

async fn create_user(server: &TestServer, body: Value) -> Value {
    let (status, user) = as_admin(server, Method::POST, USERS, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    dump("api-User", &user);
    user
}

async fn set_password(server: &TestServer, pk: &Value, password: &str) {
    let (status, body) = as_admin(
        server,
        Method::POST,
        &format!("{USERS}{pk}/set_password/"),
        Some(json!({ "password": password })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn create_group(server: &TestServer, body: Value) -> Value {
    let (status, group) = as_admin(server, Method::POST, GROUPS, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    dump("api-Group", &group);
    group
}

async fn get_group(server: &TestServer, pk: &Value) -> Value {
    let (status, group) = as_admin(server, Method::GET, &group_path(pk), None).await;
    assert_eq!(status, StatusCode::OK, "{group}");
    dump("api-Group", &group);
    group
}

fn group_path(pk: &Value) -> String {
    format!("{GROUPS}{}/", pk.as_str().expect("group pk"))
}

fn user_path(pk: &Value) -> String {
    format!("{USERS}{pk}/")
}

fn names<'a>(page: &'a Value, key: &str) -> Vec<&'a str> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|item| item[key].as_str().expect("name"))
        .collect()
}

async fn user_list(server: &TestServer, query: &str) -> Value {
    let (status, page) = as_admin(server, Method::GET, &format!("{USERS}?{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    dump("api-PaginatedUserList", &page);
    page
}

async fn group_list(server: &TestServer, query: &str) -> Value {
    let (status, page) = as_admin(server, Method::GET, &format!("{GROUPS}?{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    dump("api-PaginatedGroupList", &page);
    page
}

/// Walks the default sign-in as far as it goes; the last challenge.
async fn sign_in(browser: &Browser, uid: &str, password: &str) -> Value {
    browser.get_flow(AUTH_FLOW, "").await;
    let next = browser
        .post_flow(
            AUTH_FLOW,
            "",
            json!({"component": "ak-stage-identification", "uid_field": uid}),
        )
        .await;
    if next["component"] != "ak-stage-password" {
        return next;
    }
    browser
        .post_flow(
            AUTH_FLOW,
            "",
            json!({"component": "ak-stage-password", "password": password}),
        )
        .await
}

async fn users_are_searched_filtered_and_updated(db: Db) {
    let server = TestServer::start(db).await;
    let alice = create_user(
        &server,
        json!({"username": "alice", "name": "Alice Liddell", "email": "alice@wonder.example"}),
    )
    .await;
    create_user(
        &server,
        json!({"username": "bob", "name": "Bob", "email": "bob@example.com", "is_active": false}),
    )
    .await;
    create_user(&server, json!({"username": "carol_1", "name": "Carol"})).await;

    assert_eq!(
        names(&user_list(&server, "search=LIDD").await, "username"),
        ["alice"]
    );
    assert_eq!(
        names(&user_list(&server, "search=example.com").await, "username"),
        ["akadmin", "bob"]
    );
    // `_` is a literal character, not a LIKE wildcard.
    assert_eq!(
        names(&user_list(&server, "search=l_1").await, "username"),
        ["carol_1"]
    );
    assert!(names(&user_list(&server, "search=c_rol").await, "username").is_empty());
    assert_eq!(
        names(&user_list(&server, "is_active=false").await, "username"),
        ["bob"]
    );
    assert_eq!(
        user_list(&server, "is_active=true&page_size=2").await["pagination"]["count"],
        3
    );

    // PATCH changes the given fields only.
    let group = create_group(&server, json!({"name": "readers"})).await;
    let path = user_path(&alice["pk"]);
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"name": "Alice L.", "groups": [group["pk"]], "attributes": {"team": "a"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    dump("api-User", &patched);
    assert_eq!(patched["name"], "Alice L.");
    assert_eq!(patched["username"], "alice");
    assert_eq!(patched["email"], "alice@wonder.example");
    assert_eq!(patched["groups"], json!([group["pk"]]));
    assert_eq!(patched["groups_obj"][0]["name"], "readers");
    assert_eq!(patched["attributes"], json!({"team": "a"}));
    let (_, fetched) = as_admin(&server, Method::GET, &path, None).await;
    assert_eq!(fetched, patched);

    // PUT needs the required fields; type and rule errors come together.
    let (status, errors) = as_admin(&server, Method::PUT, &path, Some(json!({"email": "x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!({
            "username": ["This field is required."],
            "name": ["This field is required."],
            "email": ["Enter a valid email address."],
        })
    );
    let (status, errors) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"username": "bob", "is_active": "maybe"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!({
            "username": ["This field must be unique."],
            "is_active": ["Must be a valid boolean."],
        })
    );
    let (status, replaced) = as_admin(
        &server,
        Method::PUT,
        &path,
        Some(json!({"username": "alice2", "name": "Alice", "groups": []})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["username"], "alice2");
    assert_eq!(replaced["groups"], json!([]));
    // Keeping one's own username is no clash.
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &path,
        Some(json!({"username": "alice2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &format!("{USERS}9999/"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(server
        .event_actions()
        .await
        .iter()
        .any(|a| a == "model_updated"));
}

async fn deactivating_a_user_ends_their_sessions(db: Db) {
    let server = TestServer::start(db).await;
    let alice = create_user(&server, json!({"username": "alice", "name": "Alice"})).await;
    set_password(&server, &alice["pk"], "Alice-Pass-123").await;
    let (here, elsewhere) = (server.browser(), server.browser());
    for browser in [&here, &elsewhere] {
        assert_eq!(
            browser.login("alice", "Alice-Pass-123").await,
            redirect_to("/")
        );
        assert_eq!(browser.me().await.0, StatusCode::OK);
    }
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &user_path(&alice["pk"]),
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["is_active"], false);
    for browser in [&here, &elsewhere] {
        assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
    }
    let pk = alice["pk"].as_i64().expect("pk") as i32;
    let sessions = keyflow::store::session::Entity::find()
        .filter(keyflow::store::session::Column::UserId.eq(pk))
        .all(server.db())
        .await
        .expect("sessions");
    assert!(sessions.is_empty(), "every session of alice ended");
    let refused = sign_in(&server.browser(), "alice", "Alice-Pass-123").await;
    assert_ne!(
        refused,
        redirect_to("/"),
        "an inactive account cannot sign in"
    );
    let deactivation = server
        .events()
        .await
        .into_iter()
        .find(|(action, _, context)| action == "model_updated" && context["deactivated"] == true)
        .expect("a model_updated event for the deactivation");
    assert_eq!(deactivation.2["sessions_ended"], 2);

    // Active again: signing in works.
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &user_path(&alice["pk"]),
        Some(json!({"is_active": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server.browser().login("alice", "Alice-Pass-123").await,
        redirect_to("/")
    );
}

async fn groups_keep_members_a_parent_and_attributes(db: Db) {
    let server = TestServer::start(db).await;
    let alice = create_user(&server, json!({"username": "alice", "name": "Alice"})).await;
    let bob = create_user(&server, json!({"username": "bob", "name": "Bob"})).await;
    let staff = create_group(&server, json!({"name": "staff"})).await;
    assert_eq!(staff["parents"], json!([]));
    assert_eq!(staff["users"], json!([]));
    assert_eq!(staff["is_superuser"], false);
    assert_eq!(staff["attributes"], json!({}));
    let admins = create_group(
        &server,
        json!({
            "name": "admins",
            "parents": [staff["pk"]],
            "users": [bob["pk"], alice["pk"]],
            "is_superuser": true,
            "attributes": {"notes": "keys to everything"},
        }),
    )
    .await;
    assert_eq!(admins["parents"], json!([staff["pk"]]));
    assert_eq!(admins["parents_obj"][0]["name"], "staff");
    assert_eq!(admins["parents_obj"][0]["group_uuid"], staff["pk"]);
    assert_eq!(
        admins["users"],
        json!([alice["pk"], bob["pk"]]),
        "by username"
    );
    assert_eq!(admins["users_obj"][0]["username"], "alice");
    assert_eq!(admins["is_superuser"], true);
    assert_eq!(admins["attributes"], json!({"notes": "keys to everything"}));
    assert_eq!(get_group(&server, &admins["pk"]).await, admins);

    let staff = get_group(&server, &staff["pk"]).await;
    assert_eq!(staff["children"], json!([admins["pk"]]));
    assert_eq!(staff["children_obj"][0]["name"], "admins");
    // The members see the group too.
    let (_, alice_now) = as_admin(&server, Method::GET, &user_path(&alice["pk"]), None).await;
    assert_eq!(alice_now["groups"], json!([admins["pk"]]));

    assert_eq!(
        names(&group_list(&server, "").await, "name"),
        ["admins", "staff"]
    );
    assert_eq!(
        names(&group_list(&server, "search=ADM").await, "name"),
        ["admins"]
    );
    assert_eq!(
        names(&group_list(&server, "name=staff").await, "name"),
        ["staff"]
    );
    assert_eq!(
        names(&group_list(&server, "is_superuser=true").await, "name"),
        ["admins"]
    );
    assert_eq!(
        names(
            &group_list(&server, &format!("members_by_pk={}", bob["pk"])).await,
            "name"
        ),
        ["admins"]
    );

    // PATCH replaces members; PUT replaces the editable fields.
    let (status, patched) = as_admin(
        &server,
        Method::PATCH,
        &group_path(&admins["pk"]),
        Some(json!({"users": [bob["pk"]]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    dump("api-Group", &patched);
    assert_eq!(patched["users"], json!([bob["pk"]]));
    assert_eq!(patched["name"], "admins");
    assert_eq!(patched["parents"], json!([staff["pk"]]));
    let (status, replaced) = as_admin(
        &server,
        Method::PUT,
        &group_path(&admins["pk"]),
        Some(json!({"name": "operators", "parents": [], "attributes": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["name"], "operators");
    assert_eq!(replaced["parents"], json!([]));
    assert_eq!(replaced["users"], json!([bob["pk"]]), "not given: kept");

    // Deleting a parent leaves its children without one.
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &group_path(&admins["pk"]),
        Some(json!({"parents": [staff["pk"]]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = as_admin(&server, Method::DELETE, &group_path(&staff["pk"]), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = as_admin(&server, Method::GET, &group_path(&staff["pk"]), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let orphan = get_group(&server, &admins["pk"]).await;
    assert_eq!(orphan["parents"], json!([]));
    assert_eq!(orphan["users"], json!([bob["pk"]]));
    let actions = server.event_actions().await;
    assert!(actions.iter().any(|a| a == "model_deleted"));
}

async fn group_rules_are_reported_like_drf(db: Db) {
    let server = TestServer::start(db).await;
    let staff = create_group(&server, json!({"name": "staff"})).await;
    let team = create_group(&server, json!({"name": "team", "parents": [staff["pk"]]})).await;
    let cases = [
        (json!({}), json!({"name": ["This field is required."]})),
        (
            json!({"name": "  "}),
            json!({"name": ["This field may not be blank."]}),
        ),
        (
            json!({"name": "g".repeat(81)}),
            json!({"name": ["Ensure this field has no more than 80 characters."]}),
        ),
        (
            json!({"name": "staff"}),
            json!({"name": ["group with this name already exists."]}),
        ),
        (
            json!({"name": "x", "users": [9999], "parents": ["00000000-0000-0000-0000-000000000001"]}),
            json!({
                "users": ["Invalid pk \"9999\" - object does not exist."],
                "parents": ["Invalid pk \"00000000-0000-0000-0000-000000000001\" - object does not exist."],
            }),
        ),
        (
            json!({"name": "x", "parents": [staff["pk"], team["pk"]]}),
            json!({"parents": ["keyflow groups have at most one parent."]}),
        ),
        (
            json!({"name": "x", "users": ["alice"], "attributes": "text", "is_superuser": "?"}),
            json!({
                "users": ["Incorrect type. Expected pk value, received str."],
                "attributes": ["Value must be a dictionary, and not have any duplicate keys."],
                "is_superuser": ["Must be a valid boolean."],
            }),
        ),
        (
            json!(["not", "an", "object"]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, expected) in cases {
        let (status, errors) = as_admin(&server, Method::POST, GROUPS, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(errors, expected, "{body}");
    }
    // No loops: not its own parent, not the parent of its parent.
    let loop_error =
        json!({"parents": ["A group cannot be its own parent or the parent of an ancestor."]});
    for (group, parent) in [(&staff, &staff), (&staff, &team)] {
        let (status, errors) = as_admin(
            &server,
            Method::PATCH,
            &group_path(&group["pk"]),
            Some(json!({"parents": [parent["pk"]]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(errors, loop_error);
    }
    let (status, errors) = as_admin(
        &server,
        Method::PATCH,
        &group_path(&team["pk"]),
        Some(json!({"name": "staff"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!({"name": ["group with this name already exists."]})
    );
    for path in [
        format!("{GROUPS}not-a-uuid/"),
        format!("{GROUPS}{}/", uuid::Uuid::new_v4()),
    ] {
        let (status, _) = as_admin(&server, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let (status, _) = as_admin(&server, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(group_list(&server, "").await["pagination"]["count"], 2);
    let (status, page) = as_admin(&server, Method::GET, &format!("{GROUPS}?page=3"), None).await;
    assert_eq!(
        (status, page),
        (StatusCode::NOT_FOUND, json!({"detail": "Invalid page."}))
    );
}

async fn only_superusers_may_administer_groups(db: Db) {
    let server = TestServer::start(db).await;
    let client = server.bare_client();
    let no_credentials = json!({"detail": "Authentication credentials were not provided."});
    for (method, path) in [
        (Method::GET, GROUPS.to_owned()),
        (Method::POST, GROUPS.to_owned()),
        (Method::GET, format!("{GROUPS}{}/", uuid::Uuid::new_v4())),
        (Method::PATCH, format!("{USERS}1/")),
        (Method::PUT, format!("{USERS}1/")),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", server.base))
            .json(&json!({"name": "intruders"}))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            response.json::<Value>().await.expect("json"),
            no_credentials
        );
    }

    // A signed-in user who is not a superuser, with the CSRF token.
    let alice = create_user(&server, json!({"username": "alice", "name": "Alice"})).await;
    set_password(&server, &alice["pk"], "Alice-Pass-123").await;
    let browser = server.browser();
    assert_eq!(
        browser.login("alice", "Alice-Pass-123").await,
        redirect_to("/")
    );
    let no_permission = json!({"detail": "You do not have permission to perform this action."});
    for (method, path) in [
        (Method::GET, GROUPS.to_owned()),
        (Method::POST, GROUPS.to_owned()),
        (Method::PATCH, user_path(&alice["pk"])),
    ] {
        let response = browser
            .api(
                method.clone(),
                &path,
                Some(json!({"name": "mine", "is_superuser": true})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(response.json::<Value>().await.expect("json"), no_permission);
    }
    assert_eq!(group_list(&server, "").await["pagination"]["count"], 0);

    // Membership of a group under a superuser group makes a superuser; leaving it undoes that.
    let root = create_group(&server, json!({"name": "root", "is_superuser": true})).await;
    let ops = create_group(
        &server,
        json!({"name": "ops", "parents": [root["pk"]], "users": [alice["pk"]]}),
    )
    .await;
    let listed = browser.api(Method::GET, GROUPS, None).await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(browser.me().await.1["user"]["is_superuser"], true);
    let (_, shown) = as_admin(&server, Method::GET, &user_path(&alice["pk"]), None).await;
    assert_eq!(shown["is_superuser"], true, "granted by the group");
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &group_path(&ops["pk"]),
        Some(json!({"users": []})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refused = browser.api(Method::GET, GROUPS, None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.me().await.1["user"]["is_superuser"], false);
    for group in [&ops, &root] {
        let (status, _) = as_admin(&server, Method::DELETE, &group_path(&group["pk"]), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    // A superuser's session needs the CSRF token for changes.
    let admin = server.browser();
    assert_eq!(admin.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let forged = admin
        .client
        .post(admin.url(GROUPS))
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .expect("call");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forged.json::<Value>().await.expect("json"),
        json!({"detail": "CSRF Failed: CSRF token missing or incorrect."})
    );
    let listed = admin.api(Method::GET, GROUPS, None).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let created = admin
        .api(Method::POST, GROUPS, Some(json!({"name": "by-session"})))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        names(&group_list(&server, "").await, "name"),
        ["by-session"]
    );
}

async fn the_audit_log_is_filtered_by_action_user_ip_and_time(db: Db) {
    let server = TestServer::start(db).await;
    let alice = create_user(&server, json!({"username": "alice", "name": "Alice"})).await;
    set_password(&server, &alice["pk"], "Alice-Pass-123").await;
    let browser = server.browser();
    let refused = sign_in(&browser, "alice", "wrong").await;
    assert_eq!(refused["component"], "ak-stage-password", "{refused}");
    const EVENTS: &str = "/api/v3/events/events/";
    let (status, page) = as_admin(
        &server,
        Method::GET,
        &format!("{EVENTS}?action=login_failed&username=ALI"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let results = page["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 1, "{page}");
    let failed = &results[0];
    assert_eq!(failed["action"], "login_failed");
    assert_eq!(
        failed["user"]["username"], "alice",
        "the name that was tried"
    );
    assert_eq!(failed["client_ip"], "127.0.0.1");
    dump("api-Event", failed);
    // Newest first; the creation by the admin is in the log too.
    let (_, all) = as_admin(&server, Method::GET, EVENTS, None).await;
    let actions = names(&all, "action");
    assert_eq!(actions.first(), Some(&"login_failed"), "{actions:?}");
    assert!(actions.contains(&"model_created"), "{actions:?}");
    for (query, expected) in [
        ("client_ip=127.0.0.1&action=login_failed", 1),
        ("client_ip=10.0.0.1", 0),
        ("created__gte=2999-01-01T00:00:00Z", 0),
        ("created__lte=2000-01-01T00:00:00Z", 0),
    ] {
        let (status, page) =
            as_admin(&server, Method::GET, &format!("{EVENTS}?{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(
            page["results"].as_array().map(Vec::len),
            Some(expected),
            "{query}: {page}"
        );
    }
    let (status, body) = as_admin(
        &server,
        Method::GET,
        &format!("{EVENTS}?created__gte=yesterday"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["created__gte"].is_array(), "{body}");
    // The log is append-only.
    let pk = failed["pk"].as_str().unwrap_or_default();
    let (status, _) = as_admin(&server, Method::DELETE, &format!("{EVENTS}{pk}/"), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
