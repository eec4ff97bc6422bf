//! The test harness: a real keyflow server per test, in-process on 127.0.0.1:0, over a fresh
//! database (a temporary SQLite file, or a new PostgreSQL database that is dropped afterwards),
//! driven over HTTP by a cookie-keeping client like a browser.
//!
//! `both_databases!(a, b)` turns each `async fn a(db: Db)` into `sqlite::a` and `postgres::a`.
//! PostgreSQL comes from `KEYFLOW_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); `KEYFLOW_TEST_SKIP_POSTGRES=1` skips those tests.
//! When `KEYFLOW_CHALLENGE_DUMP` names a directory, every challenge and API body the tests
//! receive is written there, for the schema check against authentik's client
//! (`end2end/compat/test_schema.py`).
#![allow(dead_code)]

pub mod fakes;
pub mod smtp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;
use keyflow::config::Config;
use keyflow::http::{router, AppState};
use reqwest::{cookie::CookieStore, header, redirect, Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};

pub const ADMIN: &str = "akadmin";
pub const ADMIN_PASSWORD: &str = "Akadmin-Pass-123";
pub const ADMIN_EMAIL: &str = "akadmin@example.com";
pub const ADMIN_TOKEN: &str = "kf-test-bootstrap-token-4f1d0c9a";
pub const AUTH_FLOW: &str = "default-authentication-flow";
pub const LOGOUT_FLOW: &str = "default-invalidation-flow";
pub const SESSION_COOKIE: &str = "keyflow_session";
pub const CSRF_COOKIE: &str = "keyflow_csrf";
/// What keyflow's default flows show around every challenge.
pub const AVATAR: &str = "/static/user_default.svg";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates a `sqlite` and a `postgres` test module, one `#[tokio::test]` per named
/// `async fn name(db: Db)`.
#[macro_export]
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::common::skip_postgres() {
                        return;
                    }
                    super::$name($crate::common::Db::Postgres).await
                }
            )*
        }
    };
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python of the test helpers: `KEYFLOW_TEST_PYTHON`, else the repository's
/// `.venv/bin/python` (made by `.ci/setup` from `.ci/requirements.txt`), else `python3`.
pub fn python() -> PathBuf {
    if let Ok(python) = std::env::var("KEYFLOW_TEST_PYTHON") {
        return python.into();
    }
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

pub fn skip_postgres() -> bool {
    std::env::var("KEYFLOW_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// `keyflow serve`'s flags, so tests build `Config` exactly as the binary does.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// A PostgreSQL database made for one test; dropped (best effort) when the test ends, pass or
/// fail.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create() -> (Self, String) {
        let admin_url = std::env::var("KEYFLOW_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("kf_test_{}", random_suffix());
        let admin = Database::connect(admin_url.as_str())
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin_url} (set KEYFLOW_TEST_POSTGRES_URL, or KEYFLOW_TEST_SKIP_POSTGRES=1): {e}")
            });
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        // A throw-away database needs no durability: not waiting for each commit to reach the
        // disk makes the PostgreSQL runs several times faster.
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{name}\" SET synchronous_commit = off"
            ))
            .await
            .expect("configure test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("KEYFLOW_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        (Self { admin_url, name }, url.to_string())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime does the clean-up.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A running keyflow.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub db_kind: Db,
    task: tokio::task::JoinHandle<()>,
    /// The mail delivery worker, stopped with the server.
    mail_worker: Option<keyflow::mail::MailWorker>,
    database_url: String,
    flags: Vec<String>,
    options: leptos::prelude::LeptosOptions,
    // Dropped after the server task is stopped (field order).
    _pg: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(worker) = self.mail_worker.take() {
            worker.stop();
        }
    }
}

/// Mail retries and worker liveness at test speed (`keyflow serve` flags, each left out when
/// the test gives that flag itself).
const TEST_WORKER_FLAGS: [&str; 8] = [
    "--worker-retry-min-ms",
    "200",
    "--worker-retry-max-ms",
    "1000",
    "--worker-poll-interval-ms",
    "100",
    "--worker-heartbeat-secs",
    "1",
];

impl TestServer {
    pub async fn start(db: Db) -> Self {
        Self::start_with(db, &[]).await
    }

    /// Starts a server with extra `keyflow serve` flags (e.g. `["--max-body-bytes", "1024"]`).
    pub async fn start_with(db: Db, extra_flags: &[&str]) -> Self {
        let options = leptos::prelude::LeptosOptions::builder()
            .output_name("keyflow")
            .build();
        Self::start_with_options(db, extra_flags, options).await
    }

    /// Starts a server with extra flags and the given Leptos options (site root, …).
    pub async fn start_with_options(
        db: Db,
        extra_flags: &[&str],
        options: leptos::prelude::LeptosOptions,
    ) -> Self {
        let (database_url, pg, dir) = match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("keyflow.db").display()
                );
                (url, None, Some(dir))
            }
            Db::Postgres => {
                let (pg, url) = PgDatabase::create().await;
                (url, Some(pg), None)
            }
        };
        let flags = extra_flags.iter().map(|f| f.to_string()).collect();
        Self::launch(db, database_url, flags, options, pg, dir).await
    }

    /// Stops this keyflow (server and mail worker, as a process exit would) and starts a new
    /// one on the same database with the same flags.
    pub async fn restart(mut self) -> Self {
        self.task.abort();
        if let Some(worker) = self.mail_worker.take() {
            worker.stop();
        }
        let (pg, dir) = (self._pg.take(), self._dir.take());
        let (db, url, flags) = (self.db_kind, self.database_url.clone(), self.flags.clone());
        let options = self.options.clone();
        drop(self);
        // Let the aborted tasks unwind before the new server opens the database.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Self::launch(db, url, flags, options, pg, dir).await
    }

    async fn launch(
        db: Db,
        database_url: String,
        flags: Vec<String>,
        options: leptos::prelude::LeptosOptions,
        pg: Option<PgDatabase>,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let mut args = vec![
            "keyflow",
            "--database-url",
            &database_url,
            "--leptos-config",
            "/nonexistent/Leptos.toml",
            "--secret-key",
            "keyflow-test-secret",
            "--bootstrap-password",
            ADMIN_PASSWORD,
            "--bootstrap-email",
            ADMIN_EMAIL,
            "--bootstrap-token",
            ADMIN_TOKEN,
            "--max-body-bytes",
            "65536",
            // The server runs inside the test binary: its sandbox workers are the real keyflow.
            "--sandbox-worker",
            env!("CARGO_BIN_EXE_keyflow"),
        ];
        // clap refuses a flag given twice: a test's own value replaces the default.
        for pair in TEST_WORKER_FLAGS.chunks(2) {
            if !flags.iter().any(|f| f == pair[0]) {
                args.extend_from_slice(pair);
            }
        }
        args.extend(flags.iter().map(String::as_str));
        let config = Cli::parse_from(args).config;
        let state = keyflow::server::build_state(&config, options.clone())
            .await
            .expect("build_state");
        let mail_worker = Some(state.services.mail.start_worker());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        TestServer {
            base: format!("http://{addr}"),
            state,
            db_kind: db,
            task,
            mail_worker,
            database_url,
            flags,
            options,
            _pg: pg,
            _dir: dir,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.services.db
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// A client that sends only the headers it is given (no cookies kept).
    pub fn bare_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Every recorded event as `(action, username, context)`, oldest first.
    pub async fn events(&self) -> Vec<(String, String, Value)> {
        use sea_orm::{EntityTrait, QueryOrder};
        keyflow::store::event::Entity::find()
            .order_by_asc(keyflow::store::event::Column::CreatedAt)
            .all(self.db())
            .await
            .expect("events")
            .into_iter()
            .map(|e| (e.action, e.username, e.context))
            .collect()
    }

    pub async fn event_actions(&self) -> Vec<String> {
        self.events().await.into_iter().map(|(a, _, _)| a).collect()
    }
}

static DUMPED: AtomicUsize = AtomicUsize::new(0);

/// Writes `body` to `$KEYFLOW_CHALLENGE_DUMP/<kind>-<pid>-<n>.json` when that is set.
/// `kind` is `challenge` for executor answers, else the authentik model the body must match.
pub fn dump(kind: &str, body: &Value) {
    let Ok(dir) = std::env::var("KEYFLOW_CHALLENGE_DUMP") else {
        return;
    };
    if dir.is_empty() {
        return;
    }
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    let n = DUMPED.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{kind}-{}-{n:04}.json", std::process::id()));
    let text = serde_json::to_string_pretty(body).unwrap_or_default();
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("dump {}: {e}", path.display()));
}

/// A browser: keeps cookies, follows no redirects (keyflow's executor never needs one: it
/// answers a passed stage with the next challenge directly).
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            client,
            jar,
            base: base.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value of one of our cookies, as the browser would send it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url: url::Url = self.base.parse().ok()?;
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }

    pub fn executor(&self, slug: &str, query: &str) -> String {
        self.url(&app::protocol::executor_url(slug, query))
    }

    /// GET the executor: the current challenge (HTTP 200, JSON).
    pub async fn get_flow(&self, slug: &str, query: &str) -> Value {
        let response = self
            .client
            .get(self.executor(slug, query))
            .send()
            .await
            .expect("GET executor");
        challenge_of(response).await
    }

    /// POST a response to the executor: the next challenge (HTTP 200, JSON).
    pub async fn post_flow(&self, slug: &str, query: &str, body: Value) -> Value {
        challenge_of(self.post_flow_raw(slug, query, body, &[]).await).await
    }

    pub async fn post_flow_raw(
        &self,
        slug: &str,
        query: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.executor(slug, query)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("POST executor")
    }

    /// Runs the default authentication flow to the end; returns the final challenge.
    pub async fn login(&self, uid: &str, password: &str) -> Value {
        self.login_with_query(uid, password, "").await
    }

    pub async fn login_with_query(&self, uid: &str, password: &str, query: &str) -> Value {
        let first = self.get_flow(AUTH_FLOW, query).await;
        assert_eq!(first["component"], "ak-stage-identification", "{first}");
        let second = self
            .post_flow(
                AUTH_FLOW,
                query,
                json!({"component": "ak-stage-identification", "uid_field": uid}),
            )
            .await;
        assert_eq!(second["component"], "ak-stage-password", "{second}");
        self.post_flow(
            AUTH_FLOW,
            query,
            json!({"component": "ak-stage-password", "password": password}),
        )
        .await
    }

    /// `GET /api/v3/core/users/me/`: status and body.
    pub async fn me(&self) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url("/api/v3/core/users/me/"))
            .send()
            .await
            .expect("GET users/me");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::OK {
            dump("api-SessionUser", &body);
        }
        (status, body)
    }

    /// An API call with the session's CSRF token attached (as the web UI does).
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = self.cookie(CSRF_COOKIE) {
            request = request.header("X-CSRF-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("API call")
    }
}

/// Asserts an executor answer is a 200 JSON challenge and returns it (dumped for the schema
/// check).
pub async fn challenge_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "executor answered {status}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?}"
    );
    let challenge: Value = serde_json::from_str(&text).expect("challenge JSON");
    dump("challenge", &challenge);
    challenge
}

/// `flow_info` of keyflow's default authentication flow (no `next`).
pub fn auth_flow_info() -> Value {
    json!({
        "title": "Welcome to keyflow!",
        "background": "/static/flow_background.svg",
        "background_themed_urls": null,
        "cancel_url": "/flows/-/cancel/",
        "layout": "stacked",
    })
}

/// The identification challenge of the default authentication flow, exactly.
pub fn identification_challenge() -> Value {
    json!({
        "flow_info": auth_flow_info(),
        "component": "ak-stage-identification",
        "user_fields": ["email", "username"],
        "password_fields": false,
        "allow_show_password": false,
        "flow_designation": "authentication",
        "captcha_stage": null,
        "primary_action": "Log in",
        "sources": [],
        "show_source_labels": false,
        "enable_remember_me": false,
        "passkey_challenge": null,
        "pending_user_identifier": null,
        // "Forgot password?": keyflow's default recovery flow.
        "recovery_url": "/if/flow/default-recovery-flow/",
    })
}

/// The password challenge for `user`, exactly.
pub fn password_challenge(user: &str) -> Value {
    json!({
        "flow_info": auth_flow_info(),
        "component": "ak-stage-password",
        "pending_user": user,
        "pending_user_avatar": AVATAR,
        "allow_show_password": false,
    })
}

pub fn with_errors(mut challenge: Value, errors: Value) -> Value {
    challenge["response_errors"] = errors;
    challenge
}

pub fn redirect_to(to: &str) -> Value {
    json!({"component": "xak-flow-redirect", "to": to})
}

/// A DRF field error list with one entry.
pub fn field_error(field: &str, message: &str, code: &str) -> Value {
    json!({ field: [{"string": message, "code": code}] })
}

/// Building extra flows for a test, with the same helpers bootstrap uses.
pub mod flows {
    use keyflow::bootstrap::{self, FlowSpec};
    use keyflow::flows::{
        stored, AuthenticationRequirement, FlowDesignation, InvalidResponseAction,
    };
    use keyflow::stages::StageConfig;
    use keyflow::store::{flow_stage_binding, policy_binding, user};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
    use uuid::Uuid;

    use super::TestServer;

    pub async fn flow(
        server: &TestServer,
        slug: &str,
        title: &str,
        designation: FlowDesignation,
        authentication: AuthenticationRequirement,
    ) -> Uuid {
        let spec = FlowSpec {
            slug,
            name: title,
            title,
            designation,
            authentication,
        };
        let (id, created) = bootstrap::ensure_flow(server.db(), spec)
            .await
            .expect("flow");
        assert!(created, "flow {slug} already exists");
        id
    }

    pub async fn stage(server: &TestServer, name: &str, config: StageConfig) -> Uuid {
        bootstrap::ensure_stage(server.db(), name, &config)
            .await
            .expect("stage")
    }

    /// Binds `stage` at `order` (policies re-evaluated when it becomes current) and sets the
    /// binding's `invalid_response_action`.
    pub async fn bind(
        server: &TestServer,
        flow: Uuid,
        stage: Uuid,
        order: i32,
        action: InvalidResponseAction,
    ) -> Uuid {
        let binding = bootstrap::bind(server.db(), flow, stage, order, true)
            .await
            .expect("binding");
        flow_stage_binding::ActiveModel {
            id: Set(binding),
            invalid_response_action: Set(stored(&action)),
            ..Default::default()
        }
        .update(server.db())
        .await
        .expect("binding action");
        binding
    }

    /// Creates `stages` and binds them to `flow` at orders 10, 20, 30, … (retry on invalid input).
    pub async fn bind_in_order(server: &TestServer, flow: Uuid, stages: Vec<(&str, StageConfig)>) {
        for (order, (name, config)) in (1..).zip(stages) {
            let stage = stage(server, name, config).await;
            bind(
                server,
                flow,
                stage,
                order * 10,
                InvalidResponseAction::Retry,
            )
            .await;
        }
    }

    /// Lets `target` (a flow or stage binding) apply only to `username`.
    pub async fn only_for_user(server: &TestServer, target: Uuid, username: &str) {
        let user_id = user_id(server, username).await;
        policy_binding::ActiveModel {
            id: Set(Uuid::new_v4()),
            target_id: Set(target),
            policy_id: Set(None),
            group_id: Set(None),
            user_id: Set(Some(user_id)),
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

    pub async fn user_id(server: &TestServer, username: &str) -> i32 {
        user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(server.db())
            .await
            .expect("user query")
            .unwrap_or_else(|| panic!("no user {username}"))
            .id
    }
}

/// Applies `content` as the YAML body of the apply endpoint (admin token) and checks that no
/// entry was skipped.
pub async fn apply_blueprint(server: &TestServer, content: &str) -> Value {
    let response = server
        .bare_client()
        .post(format!("{}/api/v3/managed/blueprints/apply/", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .header(header::CONTENT_TYPE, "application/yaml")
        .body(content.to_owned())
        .send()
        .await
        .expect("POST apply");
    let status = response.status();
    let report: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{report}");
    let entries = report["blueprints"][0]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!entries.is_empty(), "{report}");
    for entry in &entries {
        assert_ne!(entry["action"], "skipped", "{entry}");
    }
    report
}

/// Calls the API with the bootstrap admin token: the status and the JSON body (null if none).
pub async fn as_admin(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let mut request = server
        .bare_client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API call");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}
