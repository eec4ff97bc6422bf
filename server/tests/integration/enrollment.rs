//! Enrollment and account stages over the executor API: UI messages beside the challenge, the
//! invitation stage (tokens, fixed data, single use spent only when the flow completes, one
//! winner when two complete at once, expiry), user write (modes, context overrides, nested
//! attributes, errors as denials, password changes), user delete (every session ends) and the
//! invitation REST API.
//!
//! The prompt stage is another helper's work: `prompt_data` comes from invitations'
//! `fixed_data` here, or from expression policies writing the plan context.
use crate::common::flows;
use crate::common::*;
use chrono::{Duration, Utc};
use keyflow::flows::{AuthenticationRequirement, FlowDesignation, InvalidResponseAction};
use keyflow::policies::PolicyConfig;
use keyflow::stages::{
    deny::DenyStage,
    identification::IdentificationStage,
    invitation::InvitationStage,
    user_delete::UserDeleteStage,
    user_login::UserLoginStage,
    user_write::{UserCreationMode, UserType, UserWriteStage},
    StageConfig,
};
use keyflow::store::{group, group_member, invitation, policy, policy_binding, user};
use keyflow::users::UserField;
use reqwest::{header, Method, StatusCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};
use uuid::Uuid;

both_databases!(
    ui_messages_travel_beside_the_challenge,
    enrollment_with_an_invitation_creates_and_signs_in,
    a_single_use_invitation_is_spent_only_when_the_flow_completes,
    concurrent_completions_of_one_invitation_have_one_winner,
    an_invitation_expiring_before_completion_is_refused,
    invitation_tokens_are_checked,
    prompt_data_token_and_fixed_data_merge,
    user_write_errors_are_denials,
    user_write_reads_context_overrides,
    a_password_change_keeps_the_person_signed_in,
    user_delete_ends_every_session,
    invitation_api,
    a_blueprint_invitation_is_usable,
);

const INVALID_INVITE: &str = "Invalid invite/invite not found";
const WRITE_FAILED: &str = "Failed to update user. Please try again later.";
const INVITATIONS: &str = "/api/v3/stages/invitation/invitations/";

fn assert_denied(challenge: &Value, message: &str) {
    assert_eq!(
        challenge["component"], "ak-stage-access-denied",
        "{challenge}"
    );
    assert_eq!(challenge["error_message"], message, "{challenge}");
}

async fn enrollment_flow(server: &TestServer, slug: &str) -> Uuid {
    flows::flow(
        server,
        slug,
        slug,
        FlowDesignation::Enrollment,
        AuthenticationRequirement::None,
    )
    .await
}

/// An invitation row (multi-use unless `single_use`), bound to `flow` when given.
async fn invite(
    server: &TestServer,
    flow: Option<Uuid>,
    fixed_data: Value,
    single_use: bool,
    expires: Option<chrono::DateTime<Utc>>,
) -> Uuid {
    let id = Uuid::new_v4();
    invitation::ActiveModel {
        id: Set(id),
        name: Set(format!("invite-{}", &id.simple().to_string()[..8])),
        expires: Set(expires),
        expiring: Set(true),
        flow_id: Set(flow),
        single_use: Set(single_use),
        fixed_data: Set(fixed_data),
        created_by_id: Set(None),
    }
    .insert(server.db())
    .await
    .expect("invitation");
    id
}

async fn invitation_exists(server: &TestServer, id: Uuid) -> bool {
    invitation::Entity::find_by_id(id)
        .one(server.db())
        .await
        .expect("invitation query")
        .is_some()
}

async fn find_user(server: &TestServer, username: &str) -> Option<user::Model> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(server.db())
        .await
        .expect("user query")
}

async fn create_group(server: &TestServer, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    group::ActiveModel {
        id: Set(id),
        name: Set(name.into()),
        is_superuser: Set(false),
        parent_id: Set(None),
        attributes: Set(json!({})),
    }
    .insert(server.db())
    .await
    .expect("group");
    id
}

async fn is_member(server: &TestServer, group_id: Uuid, user_id: i32) -> bool {
    group_member::Entity::find()
        .filter(group_member::Column::GroupId.eq(group_id))
        .filter(group_member::Column::UserId.eq(user_id))
        .one(server.db())
        .await
        .expect("membership query")
        .is_some()
}

/// Binds an expression policy to `target` (a flow-stage binding).
async fn bind_expression(server: &TestServer, target: Uuid, name: &str, source: &str) {
    let config = PolicyConfig::from_attrs("expression", json!({ "expression": source }))
        .expect("expression");
    let (kind, config) = config.to_columns();
    let id = Uuid::new_v4();
    policy::ActiveModel {
        id: Set(id),
        name: Set(name.into()),
        kind: Set(kind),
        config: Set(config),
        execution_logging: Set(false),
    }
    .insert(server.db())
    .await
    .expect("policy");
    policy_binding::ActiveModel {
        id: Set(Uuid::new_v4()),
        target_id: Set(target),
        policy_id: Set(Some(id)),
        group_id: Set(None),
        user_id: Set(None),
        negate: Set(false),
        enabled: Set(true),
        order: Set(0),
        timeout: Set(30),
        failure_result: Set(false),
    }
    .insert(server.db())
    .await
    .expect("policy binding");
}

async fn bind(
    server: &TestServer,
    flow: Uuid,
    name: &str,
    config: StageConfig,
    order: i32,
) -> Uuid {
    let stage = flows::stage(server, name, config).await;
    flows::bind(server, flow, stage, order, InvalidResponseAction::Retry).await
}

fn pretend_identification() -> StageConfig {
    StageConfig::Identification(IdentificationStage {
        user_fields: vec![UserField::Username],
        pretend_user_exists: true,
        ..Default::default()
    })
}

/// invitation → identification (a typed username, the unsaved pending user) → user write →
/// user login.
async fn invite_identify_write_login(
    server: &TestServer,
    slug: &str,
    write: UserWriteStage,
) -> Uuid {
    let flow = enrollment_flow(server, slug).await;
    let invitation = StageConfig::Invitation(InvitationStage::default());
    bind(server, flow, &format!("{slug}-invitation"), invitation, 10).await;
    bind(
        server,
        flow,
        &format!("{slug}-identify"),
        pretend_identification(),
        20,
    )
    .await;
    bind(
        server,
        flow,
        &format!("{slug}-write"),
        StageConfig::UserWrite(write),
        30,
    )
    .await;
    let login = StageConfig::UserLogin(UserLoginStage::default());
    bind(server, flow, &format!("{slug}-login"), login, 40).await;
    flow
}

fn identify(uid: &str) -> Value {
    json!({"component": "ak-stage-identification", "uid_field": uid})
}

async fn ui_messages_travel_beside_the_challenge(db: Db) {
    let server = TestServer::start(db).await;
    let flow = enrollment_flow(&server, "messages").await;
    let skipped = StageConfig::Deny(DenyStage {
        deny_message: "never shown".into(),
    });
    let binding = bind(&server, flow, "messages-skipped", skipped, 10).await;
    bind_expression(
        &server,
        binding,
        "messages-skip",
        "ak_message('Skipped, for you: déjà vu.')\nreturn False",
    )
    .await;
    let end = StageConfig::Deny(DenyStage {
        deny_message: "The end".into(),
    });
    bind(&server, flow, "messages-end", end, 20).await;

    let browser = server.browser();
    let response = browser
        .client
        .get(browser.executor("messages", ""))
        .send()
        .await
        .expect("GET");
    let headers: Vec<String> = response
        .headers()
        .get_all(app::protocol::MESSAGES_HEADER)
        .iter()
        .map(|v| v.to_str().expect("ASCII header").to_owned())
        .collect();
    let challenge = challenge_of(response).await;
    assert_denied(&challenge, "The end");
    let messages = app::protocol::messages_from_headers(headers.iter().map(String::as_str));
    assert_eq!(
        messages,
        vec![app::protocol::UiMessage::new(
            app::protocol::MessageLevel::Warning,
            "Skipped, for you: déjà vu."
        )]
    );
    // The challenge itself is authentik's, nothing added.
    let mut keys: Vec<&str> = challenge
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "component",
            "error_message",
            "flow_info",
            "pending_user",
            "pending_user_avatar"
        ]
    );

    // Without JavaScript: the server-rendered page shows the message as text.
    let page = server
        .browser()
        .client
        .get(format!("{}/if/flow/messages/", server.base))
        .send()
        .await
        .expect("GET page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(
        html.contains("flow-messages"),
        "no message list in the page"
    );
    assert!(
        html.contains("Skipped, for you: déjà vu."),
        "message missing from the page"
    );
}

async fn enrollment_with_an_invitation_creates_and_signs_in(db: Db) {
    let server = TestServer::start(db).await;
    let staff = create_group(&server, "invited-staff").await;
    let flow_id = invite_identify_write_login(
        &server,
        "enroll",
        UserWriteStage {
            user_type: UserType::Internal,
            user_path_template: "users/invited".into(),
            create_users_group: Some(staff),
            ..Default::default()
        },
    )
    .await;
    let token = invite(
        &server,
        Some(flow_id),
        json!({
            "email": "newbie@example.com",
            "name": "New Bie",
            "password": "Newbie-Pass-123",
            "attributes": {"team": "blue"},
            "attributes.profile.lang": "en",
            "attributes_profile.tz": "UTC",
        }),
        false,
        None,
    )
    .await;
    let query = format!("itoken={token}");
    let browser = server.browser();
    let first = browser.get_flow("enroll", &query).await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    let done = browser
        .post_flow("enroll", &query, identify("newbie"))
        .await;
    assert_eq!(done, redirect_to("/"));
    let (status, me) = browser.me().await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "newbie");

    let account = find_user(&server, "newbie").await.expect("user created");
    assert_eq!(account.email, "newbie@example.com");
    assert_eq!(account.name, "New Bie");
    assert_eq!(account.path, "users/invited");
    assert_eq!(account.user_type, "internal");
    assert!(account.is_active);
    assert!(account.password.starts_with("$argon2id$"), "hashed");
    assert!(account.password_change_date.is_some());
    assert_eq!(
        account.attributes,
        json!({"team": "blue", "profile": {"lang": "en", "tz": "UTC"}})
    );
    assert!(is_member(&server, staff, account.id).await);
    // A multi-use invitation stays.
    assert!(invitation_exists(&server, token).await);
    let actions = server.event_actions().await;
    for expected in ["invitation_used", "user_write", "login"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
    // The password was stored so that it signs in.
    let other = server.browser();
    assert_eq!(
        other.login("newbie", "Newbie-Pass-123").await,
        redirect_to("/")
    );
}

async fn a_single_use_invitation_is_spent_only_when_the_flow_completes(db: Db) {
    let server = TestServer::start(db).await;
    invite_identify_write_login(&server, "once", UserWriteStage::default()).await;
    let token = invite(&server, None, json!({"name": "Once"}), true, None).await;
    let query = format!("itoken={token}");

    // Opening the link and abandoning the form spends nothing.
    let abandoned = server.browser();
    let shown = abandoned.get_flow("once", &query).await;
    assert_eq!(shown["component"], "ak-stage-identification", "{shown}");
    assert!(invitation_exists(&server, token).await);

    let browser = server.browser();
    browser.get_flow("once", &query).await;
    assert!(invitation_exists(&server, token).await);
    let done = browser.post_flow("once", &query, identify("first")).await;
    assert_eq!(done, redirect_to("/"));
    assert!(
        !invitation_exists(&server, token).await,
        "spent on completion"
    );
    assert_eq!(
        find_user(&server, "first").await.expect("user").name,
        "Once"
    );

    // The abandoned form cannot complete with it any more, and keeps nothing.
    let late = abandoned
        .post_flow("once", &query, identify("second"))
        .await;
    assert_denied(&late, INVALID_INVITE);
    assert!(find_user(&server, "second").await.is_none());
    // Opening the link again: refused at once.
    assert_denied(
        &server.browser().get_flow("once", &query).await,
        INVALID_INVITE,
    );
}

async fn concurrent_completions_of_one_invitation_have_one_winner(db: Db) {
    let server = TestServer::start(db).await;
    invite_identify_write_login(&server, "race", UserWriteStage::default()).await;
    let token = invite(&server, None, json!({"name": "Racer"}), true, None).await;
    let query = format!("itoken={token}");
    let (a, b) = (server.browser(), server.browser());
    for browser in [&a, &b] {
        let shown = browser.get_flow("race", &query).await;
        assert_eq!(shown["component"], "ak-stage-identification", "{shown}");
    }
    let (answer_a, answer_b) = tokio::join!(
        a.post_flow("race", &query, identify("racer-a")),
        b.post_flow("race", &query, identify("racer-b")),
    );
    let winners = [&answer_a, &answer_b]
        .iter()
        .filter(|answer| ***answer == redirect_to("/"))
        .count();
    assert_eq!(winners, 1, "{answer_a}\n{answer_b}");
    let loser = if answer_a == redirect_to("/") {
        &answer_b
    } else {
        &answer_a
    };
    assert_denied(loser, INVALID_INVITE);
    let created = [
        find_user(&server, "racer-a").await,
        find_user(&server, "racer-b").await,
    ];
    assert_eq!(created.iter().flatten().count(), 1, "exactly one user kept");
    assert!(!invitation_exists(&server, token).await);
}

async fn an_invitation_expiring_before_completion_is_refused(db: Db) {
    let server = TestServer::start(db).await;
    invite_identify_write_login(&server, "expiry", UserWriteStage::default()).await;
    let soon = Utc::now() + Duration::hours(1);
    let token = invite(&server, None, json!({"name": "Late"}), false, Some(soon)).await;
    let query = format!("itoken={token}");
    let browser = server.browser();
    let shown = browser.get_flow("expiry", &query).await;
    assert_eq!(shown["component"], "ak-stage-identification", "{shown}");
    invitation::ActiveModel {
        id: Set(token),
        expires: Set(Some(Utc::now() - Duration::seconds(1))),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("expire");
    let late = browser.post_flow("expiry", &query, identify("late")).await;
    assert_denied(&late, INVALID_INVITE);
    assert!(find_user(&server, "late").await.is_none());
    assert_denied(
        &server.browser().get_flow("expiry", &query).await,
        INVALID_INVITE,
    );
}

async fn invitation_tokens_are_checked(db: Db) {
    let server = TestServer::start(db).await;
    let strict = enrollment_flow(&server, "strict").await;
    let invitation = StageConfig::Invitation(InvitationStage::default());
    bind(&server, strict, "strict-invitation", invitation, 10).await;
    let lenient = enrollment_flow(&server, "lenient").await;
    let invitation = StageConfig::Invitation(InvitationStage {
        continue_flow_without_invitation: true,
    });
    bind(&server, lenient, "lenient-invitation", invitation, 10).await;

    let other_flow = invite(&server, Some(lenient), json!({}), false, None).await;
    let valid = invite(&server, Some(strict), json!({}), false, None).await;
    let unknown = Uuid::new_v4();
    for query in [
        String::new(),
        "itoken=not-a-uuid".to_owned(),
        format!("itoken={unknown}"),
        format!("itoken={other_flow}"),
    ] {
        let answer = server.browser().get_flow("strict", &query).await;
        assert_denied(&answer, INVALID_INVITE);
        let answer = server.browser().get_flow("lenient", &query).await;
        assert_eq!(answer, redirect_to("/"), "lenient with {query:?}");
    }
    for query in [format!("itoken={valid}"), format!("token={valid}")] {
        let answer = server.browser().get_flow("strict", &query).await;
        assert_eq!(answer, redirect_to("/"), "{query}");
    }
}

async fn prompt_data_token_and_fixed_data_merge(db: Db) {
    let server = TestServer::start(db).await;
    let flow = enrollment_flow(&server, "merge").await;
    let token = invite(
        &server,
        Some(flow),
        json!({"username": "fixed", "attributes": {"extra": 2, "nested": {"b": 2}}}),
        false,
        None,
    )
    .await;
    let invitation = StageConfig::Invitation(InvitationStage::default());
    let binding = bind(&server, flow, "merge-invitation", invitation, 10).await;
    // What a prompt stage would have collected, including the token.
    bind_expression(
        &server,
        binding,
        "merge-prompt",
        &format!(
            "context['flow_plan'].context['prompt_data'] = {{'token': '{token}', \
             'username': 'typed', 'attributes': {{'keep': 1, 'nested': {{'a': 1}}}}}}\nreturn True"
        ),
    )
    .await;
    let write = StageConfig::UserWrite(UserWriteStage::default());
    let write_binding = bind(&server, flow, "merge-write", write, 20).await;
    bind_expression(
        &server,
        write_binding,
        "merge-check",
        "return request.context.get('invitation_in_effect') is True \
         and request.context['invitation']['name'].startswith('invite-')",
    )
    .await;
    let answer = server.browser().get_flow("merge", "").await;
    assert_eq!(answer, redirect_to("/"));
    let account = find_user(&server, "fixed").await.expect("fixed wins");
    assert_eq!(
        account.attributes,
        json!({"keep": 1, "extra": 2, "nested": {"a": 1, "b": 2}})
    );
    assert!(find_user(&server, "typed").await.is_none());
}

/// A flow `slug`: invitation (with `fixed_data` as prompt data) then user write; the token.
async fn write_flow(
    server: &TestServer,
    slug: &str,
    write: UserWriteStage,
    fixed_data: Value,
) -> (Uuid, Uuid) {
    let flow = enrollment_flow(server, slug).await;
    let invitation = StageConfig::Invitation(InvitationStage {
        continue_flow_without_invitation: true,
    });
    bind(server, flow, &format!("{slug}-invitation"), invitation, 10).await;
    let binding = bind(
        server,
        flow,
        &format!("{slug}-write"),
        StageConfig::UserWrite(write),
        20,
    )
    .await;
    let token = invite(server, Some(flow), fixed_data, false, None).await;
    (binding, token)
}

async fn user_write_errors_are_denials(db: Db) {
    let server = TestServer::start(db).await;
    let (_, _) = write_flow(&server, "no-data", UserWriteStage::default(), json!({})).await;
    assert_denied(
        &server.browser().get_flow("no-data", "").await,
        "No Pending data.",
    );

    let never = UserWriteStage {
        user_creation_mode: UserCreationMode::NeverCreate,
        ..Default::default()
    };
    let (_, token) = write_flow(&server, "never", never, json!({"username": "nobody"})).await;
    assert_denied(
        &server
            .browser()
            .get_flow("never", &format!("itoken={token}"))
            .await,
        "No user found and can't create new user.",
    );
    assert!(find_user(&server, "nobody").await.is_none());

    let cases = [
        (
            "duplicate",
            json!({"username": ADMIN, "name": "Impostor"}),
            WRITE_FAILED,
        ),
        (
            "empty-name",
            json!({"username": "", "name": "x"}),
            "Unknown error",
        ),
        (
            "bad-attrs",
            json!({"username": "attrs", "attributes": "x"}),
            WRITE_FAILED,
        ),
    ];
    for (slug, data, message) in cases {
        let (_, token) = write_flow(&server, slug, UserWriteStage::default(), data).await;
        let answer = server
            .browser()
            .get_flow(slug, &format!("itoken={token}"))
            .await;
        assert_denied(&answer, message);
    }
    let admin = find_user(&server, ADMIN).await.expect("admin");
    assert_ne!(admin.name, "Impostor", "the existing account is untouched");
    assert!(find_user(&server, "attrs").await.is_none());
}

async fn user_write_reads_context_overrides(db: Db) {
    let server = TestServer::start(db).await;
    let from_context = create_group(&server, "from-context").await;
    let from_stage = create_group(&server, "from-stage").await;
    let write = UserWriteStage {
        create_users_as_inactive: true,
        create_users_group: Some(from_stage),
        user_type: UserType::Internal,
        user_path_template: "ignored/by-context".into(),
        ..Default::default()
    };
    let (binding, token) =
        write_flow(&server, "overrides", write, json!({"username": "svc"})).await;
    bind_expression(
        &server,
        binding,
        "overrides-context",
        &format!(
            "plan = context['flow_plan'].context\nplan['user_type'] = 'internal_service_account'\n\
             plan['user_path'] = 'robots/ci'\nplan['groups'] = ['{from_context}']\nreturn True"
        ),
    )
    .await;
    let answer = server
        .browser()
        .get_flow("overrides", &format!("itoken={token}"))
        .await;
    assert_eq!(answer, redirect_to("/"));
    let account = find_user(&server, "svc").await.expect("created");
    assert!(!account.is_active);
    assert_eq!(account.user_type, "service_account");
    assert_eq!(account.path, "robots/ci");
    assert!(is_member(&server, from_context, account.id).await);
    assert!(is_member(&server, from_stage, account.id).await);
}

async fn a_password_change_keeps_the_person_signed_in(db: Db) {
    let server = TestServer::start(db).await;
    let flow = flows::flow(
        &server,
        "change-password",
        "Change password",
        FlowDesignation::StageConfiguration,
        AuthenticationRequirement::RequireAuthenticated,
    )
    .await;
    let invitation = StageConfig::Invitation(InvitationStage::default());
    bind(&server, flow, "change-invitation", invitation, 10).await;
    let write = StageConfig::UserWrite(UserWriteStage {
        user_creation_mode: UserCreationMode::NeverCreate,
        ..Default::default()
    });
    bind(&server, flow, "change-write", write, 20).await;
    let token = invite(
        &server,
        Some(flow),
        json!({"password": "Brand-New-Pass-456"}),
        false,
        None,
    )
    .await;

    let (here, elsewhere) = (server.browser(), server.browser());
    for browser in [&here, &elsewhere] {
        assert_eq!(browser.login(ADMIN, ADMIN_PASSWORD).await, redirect_to("/"));
    }
    let done = here
        .get_flow("change-password", &format!("itoken={token}"))
        .await;
    assert_eq!(done, redirect_to("/"));
    let (status, me) = here.me().await;
    assert_eq!(status, StatusCode::OK, "still signed in here: {me}");
    assert_eq!(me["user"]["username"], ADMIN);
    let (status, _) = elsewhere.me().await;
    assert_eq!(status, StatusCode::FORBIDDEN, "other sessions end");
    let fresh = server.browser();
    assert_eq!(
        fresh.login(ADMIN, "Brand-New-Pass-456").await,
        redirect_to("/")
    );
}

async fn user_delete_ends_every_session(db: Db) {
    let server = TestServer::start(db).await;
    let hash = server
        .state
        .services
        .passwords
        .hash("Leaving-Pass-123".into())
        .await
        .expect("hash");
    keyflow::users::create(
        server.db(),
        keyflow::users::NewUser {
            username: "leaving",
            email: "leaving@example.com",
            name: "Leaving",
            password_hash: hash,
            is_superuser: false,
            user_type: "internal",
            path: "users",
        },
        Utc::now(),
    )
    .await
    .expect("user");
    let flow = flows::flow(
        &server,
        "unenroll",
        "Unenroll",
        FlowDesignation::Unenrollment,
        AuthenticationRequirement::None,
    )
    .await;
    bind(
        &server,
        flow,
        "unenroll-delete",
        StageConfig::UserDelete(UserDeleteStage {}),
        10,
    )
    .await;

    assert_denied(
        &server.browser().get_flow("unenroll", "").await,
        "No Pending User.",
    );
    let (here, elsewhere) = (server.browser(), server.browser());
    for browser in [&here, &elsewhere] {
        assert_eq!(
            browser.login("leaving", "Leaving-Pass-123").await,
            redirect_to("/")
        );
    }
    assert_eq!(here.get_flow("unenroll", "").await, redirect_to("/"));
    assert!(find_user(&server, "leaving").await.is_none());
    for browser in [&here, &elsewhere] {
        let (status, _) = browser.me().await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let sessions = keyflow::store::session::Entity::find()
        .filter(keyflow::store::session::Column::UserId.is_not_null())
        .all(server.db())
        .await
        .expect("sessions");
    assert!(sessions.is_empty(), "no signed-in session is left");
}

/// An API call with the bootstrap admin token.
async fn admin_api(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .bare_client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API call");
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn invitation_api(db: Db) {
    let server = TestServer::start(db).await;
    let flow = enrollment_flow(&server, "api-enroll").await;
    let expires = (Utc::now() + Duration::days(7)).to_rfc3339();
    let (status, created) = admin_api(
        &server,
        Method::POST,
        INVITATIONS,
        Some(json!({
            "name": "team-invite",
            "expires": expires,
            "fixed_data": {"email": "x@example.com"},
            "single_use": true,
            "flow": flow,
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    dump("api-Invitation", &created);
    let pk = created["pk"].as_str().expect("pk").to_owned();
    assert!(invitation_exists(&server, pk.parse().expect("uuid")).await);
    assert_eq!(created["name"], "team-invite");
    assert_eq!(created["single_use"], true);
    assert_eq!(created["fixed_data"], json!({"email": "x@example.com"}));
    assert_eq!(created["flow"], json!(flow));
    assert_eq!(created["flow_obj"]["slug"], "api-enroll");
    assert_eq!(created["created_by"]["username"], ADMIN);

    let (status, list) = admin_api(&server, Method::GET, INVITATIONS, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    dump("api-PaginatedInvitationList", &list);
    assert_eq!(list["pagination"]["count"], 1);
    assert_eq!(list["results"][0]["pk"], pk.as_str());

    let one = format!("{INVITATIONS}{pk}/");
    let (status, got) = admin_api(&server, Method::GET, &one, None).await;
    assert_eq!((status, &got), (StatusCode::OK, &created));
    let (status, patched) = admin_api(
        &server,
        Method::PATCH,
        &one,
        Some(json!({"name": "renamed", "single_use": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["single_use"], false);
    assert_eq!(patched["fixed_data"], created["fixed_data"]);

    // DRF-style validation errors.
    let (status, errors) = admin_api(
        &server,
        Method::POST,
        INVITATIONS,
        Some(json!({"name": "no spaces!", "flow": Uuid::new_v4(), "fixed_data": [1]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["name", "flow", "fixed_data"] {
        assert!(errors[field][0].is_string(), "{field}: {errors}");
    }
    let (status, errors) = admin_api(&server, Method::POST, INVITATIONS, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(errors, json!({"name": ["This field is required."]}));
    let (status, errors) = admin_api(
        &server,
        Method::PATCH,
        &one,
        Some(json!({"expires": "soon"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(errors["expires"][0].is_string(), "{errors}");

    // Only superusers: anonymous and plain users get 403.
    let anonymous = server.browser();
    let response = anonymous.api(Method::GET, INVITATIONS, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = admin_api(
        &server,
        Method::POST,
        "/api/v3/core/users/",
        Some(json!({"username": "plain", "name": "Plain"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let plain_id = flows::user_id(&server, "plain").await;
    let hash = server
        .state
        .services
        .passwords
        .hash("Plain-Pass-123".into())
        .await
        .expect("hash");
    keyflow::users::set_password_hash(server.db(), plain_id, hash, Utc::now())
        .await
        .expect("password");
    let plain = server.browser();
    assert_eq!(
        plain.login("plain", "Plain-Pass-123").await,
        redirect_to("/")
    );
    for (method, path) in [(Method::GET, INVITATIONS), (Method::DELETE, one.as_str())] {
        let response = plain.api(method, path, None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    for missing in [
        format!("{INVITATIONS}{}/", Uuid::new_v4()),
        format!("{INVITATIONS}nope/"),
    ] {
        let (status, _) = admin_api(&server, Method::GET, &missing, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = admin_api(&server, Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin_api(&server, Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!invitation_exists(&server, pk.parse().expect("uuid")).await);
}

async fn a_blueprint_invitation_is_usable(db: Db) {
    let server = TestServer::start(db).await;
    let blueprint = r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers:
      slug: bp-enroll
    attrs:
      name: Blueprint enrollment
      title: Blueprint enrollment
      designation: enrollment
  - model: authentik_stages_invitation.invitationstage
    id: invitation-stage
    identifiers:
      name: bp-invitation
  - model: authentik_stages_user_write.userwritestage
    id: write
    identifiers:
      name: bp-write
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf invitation-stage
      order: 10
  - model: authentik_flows.flowstagebinding
    identifiers:
      target: !KeyOf flow
      stage: !KeyOf write
      order: 20
  - model: authentik_stages_invitation.invitation
    identifiers:
      name: bp-invite
    attrs:
      flow: !KeyOf flow
      single_use: true
      fixed_data:
        username: from-blueprint
"#;
    let response = server
        .bare_client()
        .post(format!("{}/api/v3/managed/blueprints/apply/", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, "application/yaml")
        .body(blueprint)
        .send()
        .await
        .expect("apply");
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let row = invitation::Entity::find()
        .filter(invitation::Column::Name.eq("bp-invite"))
        .one(server.db())
        .await
        .expect("query")
        .expect("invitation from the blueprint");
    let answer = server
        .browser()
        .get_flow("bp-enroll", &format!("itoken={}", row.id))
        .await;
    assert_eq!(answer, redirect_to("/"));
    assert!(find_user(&server, "from-blueprint").await.is_some());
    assert!(!invitation_exists(&server, row.id).await);
}
