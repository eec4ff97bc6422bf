//! An administrator's view of one account's security over real HTTP: its MFA devices
//! (`authenticators/admin/…`), its sessions (`core/authenticated_sessions/`) and recovery links
//! (`core/users/<pk>/recovery/` and `recovery_email/`, with a real SMTP server). Bodies are
//! dumped for the strict authentik-client check.

use std::time::Duration;

use crate::common::smtp::SmtpSink;
use crate::common::*;
use crate::email_flows::{query_of_link_to, server_with_mail};
use keyflow::mfa::{crypto::MfaKeys, devices};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_databases!(
    devices_are_listed_and_deleted_by_an_admin,
    sessions_are_listed_and_revoked_by_an_admin,
    a_recovery_link_leads_to_a_new_password_once,
    a_recovery_link_is_mailed_with_the_recovery_flows_email_stage,
    only_superusers_see_devices_sessions_and_recovery,
);

const USERS: &str = "/api/v3/core/users/";
const SESSIONS: &str = "/api/v3/core/authenticated_sessions/";
const RECOVERY: &str = "default-recovery-flow";

/// An account with a password (and `email`); returns its pk.
async fn account(server: &TestServer, username: &str, password: &str) -> i64 {
    let (status, user) = as_admin(
        server,
        Method::POST,
        USERS,
        Some(json!({"username": username, "name": username, "email": format!("{username}@example.com")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let pk = user["pk"].as_i64().expect("pk");
    let (status, body) = as_admin(
        server,
        Method::POST,
        &format!("{USERS}{pk}/set_password/"),
        Some(json!({ "password": password })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    pk
}

/// A confirmed recovery-code device for `user_id`.
async fn static_device(server: &TestServer, user_id: i32) -> i32 {
    let keys = MfaKeys::derive("keyflow-test-secret");
    let now = chrono::Utc::now();
    let tokens = vec!["aaaabbbbcccc".to_owned()];
    let device =
        devices::create_static(server.db(), &keys, user_id, "Recovery codes", &tokens, now)
            .await
            .expect("static device");
    devices::confirm_static(server.db(), device.id)
        .await
        .expect("confirmed");
    device.id
}

async fn devices_are_listed_and_deleted_by_an_admin(db: Db) {
    let server = TestServer::start(db).await;
    let pk = account(&server, "dora", "Dora-Pass-1234").await;
    let other = account(&server, "otto", "Otto-Pass-1234").await;
    let device = static_device(&server, pk as i32).await;
    static_device(&server, other as i32).await;

    let (status, all) = as_admin(
        &server,
        Method::GET,
        &format!("/api/v3/authenticators/admin/all/?user={pk}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let list = all
        .as_array()
        .expect("a plain array, as authentik answers it");
    assert_eq!(list.len(), 1, "{all}");
    assert_eq!(list[0]["pk"], device.to_string());
    assert_eq!(
        list[0]["meta_model_name"],
        "authentik_stages_authenticator_static.staticdevice"
    );
    for item in list {
        dump("api-Device", item);
    }
    let (status, _) = as_admin(
        &server,
        Method::GET,
        "/api/v3/authenticators/admin/all/?user=x",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Deleted through the per-kind path; the other account's device stays.
    let path = format!("/api/v3/authenticators/admin/static/{device}/");
    let (status, body) = as_admin(&server, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], pk);
    let (status, body) = as_admin(&server, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = as_admin(&server, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, all) = as_admin(
        &server,
        Method::GET,
        &format!("/api/v3/authenticators/admin/all/?user={pk}"),
        None,
    )
    .await;
    assert_eq!(all, json!([]));
    let (_, all) = as_admin(
        &server,
        Method::GET,
        &format!("/api/v3/authenticators/admin/all/?user={other}"),
        None,
    )
    .await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    let deleted = server
        .events()
        .await
        .into_iter()
        .filter(|(action, _, context)| {
            action == "model_deleted" && context["model"]["model_name"] == "staticdevice"
        })
        .count();
    assert_eq!(deleted, 1);
}

async fn sessions_are_listed_and_revoked_by_an_admin(db: Db) {
    let server = TestServer::start(db).await;
    let pk = account(&server, "sam", "Sam-Pass-12345").await;
    let phone = server.browser();
    assert_eq!(phone.login("sam", "Sam-Pass-12345").await, redirect_to("/"));
    let laptop = server.browser();
    assert_eq!(
        laptop.login("sam", "Sam-Pass-12345").await,
        redirect_to("/")
    );

    let (status, page) =
        as_admin(&server, Method::GET, &format!("{SESSIONS}?user={pk}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    dump("api-PaginatedAuthenticatedSessionList", &page);
    let results = page["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{page}");
    assert!(results
        .iter()
        .all(|s| s["user"] == pk && s["current"] == false));
    let (_, by_name) = as_admin(
        &server,
        Method::GET,
        &format!("{SESSIONS}?user__username=sam"),
        None,
    )
    .await;
    assert_eq!(by_name["results"].as_array().map(Vec::len), Some(2));
    let (_, nobody) = as_admin(
        &server,
        Method::GET,
        &format!("{SESSIONS}?user__username=nobody"),
        None,
    )
    .await;
    assert_eq!(nobody["results"], json!([]));

    // Revoking one signs that browser out at once; the other stays signed in.
    let first = results[0]["uuid"].as_str().expect("uuid").to_owned();
    let (status, one) = as_admin(&server, Method::GET, &format!("{SESSIONS}{first}/"), None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    dump("api-AuthenticatedSession", &one);
    let (status, _) = as_admin(
        &server,
        Method::DELETE,
        &format!("{SESSIONS}{first}/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let signed_in = [phone.me().await.0, laptop.me().await.0];
    assert_eq!(
        signed_in.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{signed_in:?}"
    );
    let (_, page) = as_admin(&server, Method::GET, &format!("{SESSIONS}?user={pk}"), None).await;
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1));
    let (status, _) = as_admin(
        &server,
        Method::DELETE,
        &format!("{SESSIONS}{first}/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_recovery_link_leads_to_a_new_password_once(db: Db) {
    const NEW_PASSWORD: &str = "Birch-Harbor-Violet-62";
    let server = TestServer::start(db).await;
    let pk = account(&server, "rita", "Rita-Pass-12345").await;
    let (status, link) = as_admin(
        &server,
        Method::POST,
        &format!("{USERS}{pk}/recovery/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    dump("api-Link", &link);
    let url = link["link"].as_str().expect("link");
    let prefix = format!("{}/if/flow/{RECOVERY}/?", server.base);
    let query = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} starts with {prefix}"));

    // A "Continue" step that spends the link, then straight to the new password.
    let person = server.browser();
    let consent = person.get_flow(RECOVERY, query).await;
    assert_eq!(consent["component"], "ak-stage-consent", "{consent}");
    let prompt = person
        .post_flow(
            RECOVERY,
            query,
            json!({"component": "ak-stage-consent", "token": consent["token"]}),
        )
        .await;
    assert_eq!(prompt["component"], "ak-stage-prompt", "{prompt}");
    let done = person
        .post_flow(
            RECOVERY,
            query,
            json!({"component": "ak-stage-prompt", "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
    assert_eq!(person.me().await.1["user"]["username"], "rita");
    assert_eq!(
        server.browser().login("rita", NEW_PASSWORD).await,
        redirect_to("/")
    );

    // Once only: the same link now starts the flow from the beginning.
    let again = server.browser().get_flow(RECOVERY, query).await;
    assert_eq!(again["component"], "ak-stage-identification", "{again}");
    let created = server
        .events()
        .await
        .into_iter()
        .filter(|(action, _, context)| {
            action == "model_created" && context["model"]["model_name"] == "flowtoken"
        })
        .count();
    assert_eq!(created, 1);

    // A deactivated account gets no link; an unknown one is a 404.
    let (status, _) = as_admin(
        &server,
        Method::PATCH,
        &format!("{USERS}{pk}/"),
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = as_admin(
        &server,
        Method::POST,
        &format!("{USERS}{pk}/recovery/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["non_field_errors"][0]
            .as_str()
            .is_some_and(|m| m.contains("deactivated")),
        "{body}"
    );
    let (status, _) = as_admin(
        &server,
        Method::POST,
        &format!("{USERS}99999/recovery/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_recovery_link_is_mailed_with_the_recovery_flows_email_stage(db: Db) {
    let sink = SmtpSink::start().await;
    let server = server_with_mail(db, &sink).await;
    let pk = account(&server, "mia", "Mia-Pass-123456").await;
    let (status, body) = as_admin(
        &server,
        Method::POST,
        &format!("{USERS}{pk}/recovery_email/"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_tos, vec!["mia@example.com".to_owned()]);
    let query = query_of_link_to(&server, RECOVERY, &mails[0]);
    let consent = server.browser().get_flow(RECOVERY, &query).await;
    assert_eq!(consent["component"], "ak-stage-consent", "{consent}");

    // authentik's client names the email stage in the query string: a wrong one is refused.
    let (status, body) = as_admin(
        &server,
        Method::POST,
        &format!("{USERS}{pk}/recovery_email/?email_stage=not-a-uuid"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["email_stage"].is_array(), "{body}");
}

async fn only_superusers_see_devices_sessions_and_recovery(db: Db) {
    let server = TestServer::start(db).await;
    let pk = account(&server, "nina", "Nina-Pass-12345").await;
    let nina = server.browser();
    assert_eq!(
        nina.login("nina", "Nina-Pass-12345").await,
        redirect_to("/")
    );
    for path in [
        "/api/v3/authenticators/admin/all/".to_owned(),
        SESSIONS.to_owned(),
    ] {
        let response = nina.api(Method::GET, &path, None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        // Without credentials: DRF's (and authentik's) 403 "not provided".
        let response = server
            .bare_client()
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let response = nina
        .api(Method::POST, &format!("{USERS}{pk}/recovery/"), None)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
