//! The admin users API (`/api/v3/core/users/…`) over real HTTP: authentik's shapes, DRF's
//! validation errors, and who may call it (superusers, by API token or by session with CSRF).

use crate::common::*;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

both_databases!(
    anonymous_and_bad_token_callers_are_refused,
    non_admins_are_refused_and_lose_their_session_to_a_new_password,
    token_admin_creates_finds_and_deletes_a_user,
    create_reports_every_invalid_field_like_drf,
    list_pages_through_users_in_username_order,
    set_password_lets_the_user_sign_in,
    session_admin_needs_the_csrf_token_for_changes,
);

const USERS: &str = "/api/v3/core/users/";

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
        Some(json!({"password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn list(server: &TestServer, query: &str) -> Value {
    let (status, page) = as_admin(server, Method::GET, &format!("{USERS}?{query}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    dump("api-PaginatedUserList", &page);
    page
}

fn usernames(page: &Value) -> Vec<&str> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|u| u["username"].as_str().expect("username"))
        .collect()
}

async fn anonymous_and_bad_token_callers_are_refused(db: Db) {
    let server = TestServer::start(db).await;
    let client = server.bare_client();
    let no_credentials = json!({"detail": "Authentication credentials were not provided."});
    for (method, path) in [
        (Method::GET, USERS.to_owned()),
        (Method::POST, USERS.to_owned()),
        (Method::GET, format!("{USERS}1/")),
        (Method::DELETE, format!("{USERS}1/")),
        (Method::POST, format!("{USERS}1/set_password/")),
        (Method::GET, format!("{USERS}me/")),
    ] {
        let response = client
            .request(method.clone(), format!("{}{path}", server.base))
            .json(&json!({"username": "mallory", "name": "", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(response.json::<Value>().await.unwrap(), no_credentials);
    }
    let response = client
        .get(format!("{}{USERS}", server.base))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Token invalid/expired"})
    );
    assert_eq!(
        list(&server, "").await["pagination"]["count"],
        1,
        "nothing was created"
    );
}

async fn non_admins_are_refused_and_lose_their_session_to_a_new_password(db: Db) {
    let server = TestServer::start(db).await;
    let alice = create_user(&server, json!({"username": "alice", "name": "Alice"})).await;
    set_password(&server, &alice["pk"], "Alice-Pass-1").await;
    let browser = server.browser();
    assert_eq!(
        browser.login("alice", "Alice-Pass-1").await,
        redirect_to("/")
    );
    let (status, me) = browser.me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["is_superuser"], false);

    let denied = json!({"detail": "You do not have permission to perform this action."});
    for (method, path, body) in [
        (Method::GET, USERS.to_owned(), None),
        (
            Method::POST,
            USERS.to_owned(),
            Some(json!({"username": "eve", "name": ""})),
        ),
        (Method::GET, format!("{USERS}{}/", alice["pk"]), None),
        (
            Method::POST,
            format!("{USERS}{}/set_password/", alice["pk"]),
            Some(json!({"password": "Mine-Now-1"})),
        ),
        (Method::DELETE, format!("{USERS}{}/", alice["pk"]), None),
    ] {
        // With a valid CSRF token, so that only the permission can refuse it.
        let response = browser.api(method.clone(), &path, body).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(response.json::<Value>().await.unwrap(), denied);
    }

    // An administrator resets alice's password: her signed-in session ends with it.
    set_password(&server, &alice["pk"], "Alice-Pass-2").await;
    assert_eq!(browser.me().await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        list(&server, "username=eve").await["pagination"]["count"],
        0
    );
}

async fn token_admin_creates_finds_and_deletes_a_user(db: Db) {
    let server = TestServer::start(db).await;
    let bob = create_user(
        &server,
        json!({
            "username": "bob",
            "name": "Bob Builder",
            "email": "bob@example.com",
            "attributes": {"team": "builders"},
            "password": "ignored: passwords are set with set_password",
        }),
    )
    .await;
    assert!(bob["pk"].is_i64(), "{bob}");
    for (key, value) in [
        ("username", json!("bob")),
        ("name", json!("Bob Builder")),
        ("email", json!("bob@example.com")),
        ("is_active", json!(true)),
        ("is_superuser", json!(false)),
        ("last_login", json!(null)),
        ("groups", json!([])),
        ("groups_obj", json!([])),
        ("roles", json!([])),
        ("roles_obj", json!([])),
        ("attributes", json!({"team": "builders"})),
        ("path", json!("users")),
        ("type", json!("internal")),
        ("avatar", json!(AVATAR)),
    ] {
        assert_eq!(bob[key], value, "{key} in {bob}");
    }
    assert_eq!(bob["uid"].as_str().unwrap().len(), 32, "{bob}");
    assert!(bob["uuid"].is_string() && bob["date_joined"].is_string());

    let pk = bob["pk"].clone();
    let found = list(&server, "username=bob").await;
    assert_eq!(found["results"], json!([bob.clone()]));
    assert_eq!(found["pagination"]["count"], 1);
    assert_eq!(
        list(&server, "username=BOB").await["pagination"]["count"],
        0,
        "exact match"
    );
    assert_eq!(
        as_admin(&server, Method::GET, &format!("{USERS}{pk}/"), None).await,
        (StatusCode::OK, bob.clone())
    );

    let not_found = (StatusCode::NOT_FOUND, json!({"detail": "Not found."}));
    assert_eq!(
        as_admin(&server, Method::DELETE, &format!("{USERS}{pk}/"), None).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        as_admin(&server, Method::DELETE, &format!("{USERS}{pk}/"), None).await,
        not_found
    );
    assert_eq!(
        as_admin(&server, Method::GET, &format!("{USERS}{pk}/"), None).await,
        not_found
    );
    assert_eq!(
        as_admin(&server, Method::GET, &format!("{USERS}not-a-number/"), None).await,
        not_found
    );
    assert_eq!(list(&server, "username=bob").await["results"], json!([]));

    let events = server.events().await;
    let model_events: Vec<(&str, &str, &Value)> = events
        .iter()
        .filter(|(action, _, _)| action.starts_with("model_"))
        .map(|(action, user, context)| (action.as_str(), user.as_str(), &context["model"]))
        .collect();
    let model = json!({"app": "authentik_core", "model_name": "user", "pk": pk, "name": "bob"});
    assert_eq!(
        model_events,
        [
            ("model_created", ADMIN, &model),
            ("model_deleted", ADMIN, &model)
        ]
    );
}

async fn create_reports_every_invalid_field_like_drf(db: Db) {
    let server = TestServer::start(db).await;
    let cases = [
        (
            json!({}),
            json!({"username": ["This field is required."], "name": ["This field is required."]}),
        ),
        (
            json!({"username": "  ", "name": null}),
            json!({"username": ["This field may not be blank."], "name": ["This field may not be null."]}),
        ),
        (
            json!({"username": "u".repeat(151), "name": ""}),
            json!({"username": ["Ensure this field has no more than 150 characters."]}),
        ),
        (
            json!({"username": ADMIN, "name": ""}),
            json!({"username": ["This field must be unique."]}),
        ),
        (
            json!({
                "username": "carol",
                "name": "Carol",
                "email": "not-an-address",
                "is_active": "perhaps",
                "attributes": ["a"],
                "path": "/users",
                "type": "robot",
                "groups": ["00000000-0000-0000-0000-000000000001"],
                "roles": ["r1"],
            }),
            json!({
                "email": ["Enter a valid email address."],
                "is_active": ["Must be a valid boolean."],
                "attributes": ["Value must be a dictionary, and not have any duplicate keys."],
                "path": ["No leading or trailing slashes allowed."],
                "type": ["\"robot\" is not a valid choice."],
                "groups": ["Invalid pk \"00000000-0000-0000-0000-000000000001\" - object does not exist."],
                "roles": ["Invalid pk \"r1\" - object does not exist."],
            }),
        ),
        (
            json!({"username": "dan", "name": "", "path": "a//b", "type": "internal_service_account"}),
            json!({
                "path": ["No empty segments in user path allowed."],
                "type": ["Setting a user to internal service account is not allowed."],
            }),
        ),
        (
            json!(["username"]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, errors) in cases {
        assert_eq!(
            as_admin(&server, Method::POST, USERS, Some(body.clone())).await,
            (StatusCode::BAD_REQUEST, errors),
            "{body}"
        );
    }
    let malformed = server
        .bare_client()
        .post(format!("{}{USERS}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("Content-Type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(malformed.json::<Value>().await.unwrap()["detail"].is_string());
    assert_eq!(
        list(&server, "").await["pagination"]["count"],
        1,
        "nothing was created"
    );

    // At the limits, and with an existing group: accepted, whitespace trimmed as DRF does.
    let group = keyflow::store::group::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        name: Set("staff".into()),
        is_superuser: Set(false),
        parent_id: Set(None),
        attributes: Set(json!({})),
    }
    .insert(server.db())
    .await
    .unwrap();
    let long_name = "u".repeat(150);
    let user = create_user(
        &server,
        json!({
            "username": format!(" {long_name} "),
            "name": "",
            "is_active": false,
            "path": "users/staff",
            "type": "service_account",
            "groups": [group.id],
        }),
    )
    .await;
    assert_eq!(user["username"], long_name.as_str());
    assert_eq!(user["is_active"], false);
    assert_eq!(user["path"], "users/staff");
    assert_eq!(user["type"], "service_account");
    assert_eq!(user["groups"], json!([group.id]));
    let num_pk: i64 = group.id.as_u128().to_string()[..5].parse().unwrap();
    assert_eq!(
        user["groups_obj"],
        json!([{"pk": group.id, "num_pk": num_pk, "name": "staff", "is_superuser": false, "attributes": {}}])
    );
}

async fn list_pages_through_users_in_username_order(db: Db) {
    let server = TestServer::start(db).await;
    for name in ["dora", "carl", "bea", "abe"] {
        create_user(&server, json!({"username": name, "name": name})).await;
    }
    let page = |next, previous, current, start, end| {
        json!({"next": next, "previous": previous, "count": 5, "current": current,
               "total_pages": 3, "start_index": start, "end_index": end})
    };
    let first = list(&server, "page_size=2").await;
    assert_eq!(first["pagination"], page(2, 0, 1, 1, 2));
    assert_eq!(usernames(&first), ["abe", ADMIN]);
    assert_eq!(first["autocomplete"], json!({}));
    let second = list(&server, "page_size=2&page=2").await;
    assert_eq!(second["pagination"], page(3, 1, 2, 3, 4));
    assert_eq!(usernames(&second), ["bea", "carl"]);
    let last = list(&server, "page=3&page_size=2").await;
    assert_eq!(last["pagination"], page(0, 2, 3, 5, 5));
    assert_eq!(usernames(&last), ["dora"]);

    let everyone = list(&server, "").await;
    assert_eq!(usernames(&everyone), ["abe", ADMIN, "bea", "carl", "dora"]);
    assert_eq!(everyone["pagination"]["total_pages"], 1);
    let nobody = list(&server, "username=zed").await;
    assert_eq!(
        nobody["pagination"],
        json!({"next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1,
               "start_index": 0, "end_index": 0})
    );
    for query in ["page=4&page_size=2", "page=0", "page=abc"] {
        assert_eq!(
            as_admin(&server, Method::GET, &format!("{USERS}?{query}"), None).await,
            (StatusCode::NOT_FOUND, json!({"detail": "Invalid page."})),
            "{query}"
        );
    }
}

async fn set_password_lets_the_user_sign_in(db: Db) {
    let server = TestServer::start(db).await;
    let dave = create_user(&server, json!({"username": "dave", "name": "Dave"})).await;
    let path = format!("{USERS}{}/set_password/", dave["pk"]);
    for (body, errors) in [
        (json!({}), json!({"password": ["This field is required."]})),
        (
            json!({"password": ""}),
            json!({"password": ["This field may not be blank."]}),
        ),
    ] {
        assert_eq!(
            as_admin(&server, Method::POST, &path, Some(body)).await,
            (StatusCode::BAD_REQUEST, errors)
        );
    }
    assert_eq!(
        as_admin(
            &server,
            Method::POST,
            &format!("{USERS}999999/set_password/"),
            Some(json!({"password": "x"}))
        )
        .await,
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );

    set_password(&server, &dave["pk"], "Dave-Pass-456").await;
    let browser = server.browser();
    assert_eq!(
        browser.login("dave", "Dave-Pass-456").await,
        redirect_to("/")
    );
    assert_eq!(browser.me().await.1["user"]["username"], "dave");

    let events = server.events().await;
    let (_, user, context) = events
        .iter()
        .find(|(action, _, _)| action == "password_set")
        .expect("a password_set event");
    assert_eq!(user, "dave");
    assert_eq!(context, &json!({"set_by": {"pk": 1, "username": ADMIN}}));
}

async fn session_admin_needs_the_csrf_token_for_changes(db: Db) {
    let server = TestServer::start(db).await;
    let browser = server.browser();
    assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    let csrf = browser.cookie(CSRF_COOKIE).unwrap();
    let csrf_failed = json!({"detail": "CSRF Failed: CSRF token missing or incorrect."});

    // Reading needs no token.
    let listed = browser.client.get(browser.url(USERS)).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    let without = browser
        .client
        .post(browser.url(USERS))
        .json(&json!({"username": "erin", "name": "Erin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(without.json::<Value>().await.unwrap(), csrf_failed);
    let with = browser
        .client
        .post(browser.url(USERS))
        .header("X-authentik-CSRF", &csrf)
        .json(&json!({"username": "erin", "name": "Erin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::CREATED);
    let erin: Value = with.json().await.unwrap();

    let path = browser.url(&format!("{USERS}{}/", erin["pk"]));
    let without = browser.client.delete(&path).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let with = browser
        .client
        .delete(&path)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::NO_CONTENT);
}
