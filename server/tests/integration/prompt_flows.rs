//! The Prompt stage (spec §4.14) over HTTP: a flow built by a blueprint with a prompt stage
//! holding every field type, then a second prompt stage that shows what the first one stored.

use crate::common::*;
use reqwest::header;
use serde_json::{json, Map, Value};

both_databases!(
    challenge_lists_every_type_in_order_with_expressions_and_choices,
    every_validation_error_lands_under_its_field,
    any_json_is_answered_with_errors_never_a_failure,
    passwords_policies_and_taken_usernames_are_refused,
    valid_values_reach_prompt_data_and_server_values_win,
    the_pending_users_own_username_is_not_taken,
    the_form_works_without_javascript,
);

const FLOW: &str = "prompt-test";
const OWN_FLOW: &str = "prompt-own-username";

/// Every prompt type; `fields` lists them out of order (the stage sorts by `order`, ties keep
/// the list order: `notice` before `motto`).
const BLUEPRINT: &str = r#"
version: 1
metadata:
  name: Prompt stage test
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: prompt-test}
    attrs: {name: Prompt test, title: Prompt test, designation: enrollment}
  - model: authentik_stages_prompt.prompt
    id: username
    identifiers: {name: pt-username}
    attrs: {field_key: username, label: Username, type: username, placeholder: Username, order: 0}
  - model: authentik_stages_prompt.prompt
    id: name
    identifiers: {name: pt-name}
    attrs:
      field_key: name
      label: Name
      type: text
      order: 1
      sub_text: As on your passport
      placeholder_expression: true
      placeholder: 'return "Full " + "name"'
  - model: authentik_stages_prompt.prompt
    id: bio
    identifiers: {name: pt-bio}
    attrs: {field_key: attributes.bio, label: Bio, type: text_area, required: false, order: 2}
  - model: authentik_stages_prompt.prompt
    id: email
    identifiers: {name: pt-email}
    attrs: {field_key: email, label: Email, type: email, order: 3}
  - model: authentik_stages_prompt.prompt
    id: password
    identifiers: {name: pt-password}
    attrs: {field_key: password, label: Password, type: password, order: 4}
  - model: authentik_stages_prompt.prompt
    id: password-repeat
    identifiers: {name: pt-password-repeat}
    attrs: {field_key: password_repeat, label: Password (repeat), type: password, order: 5}
  - model: authentik_stages_prompt.prompt
    id: age
    identifiers: {name: pt-age}
    attrs: {field_key: age, label: Age, type: number, order: 6}
  - model: authentik_stages_prompt.prompt
    id: terms
    identifiers: {name: pt-terms}
    attrs: {field_key: terms, label: I agree, type: checkbox, order: 7}
  - model: authentik_stages_prompt.prompt
    id: color
    identifiers: {name: pt-color}
    attrs:
      field_key: color
      label: Color
      type: radio-button-group
      order: 8
      initial_value: green
      placeholder_expression: true
      placeholder: 'return ["red", {"label": "Green", "value": "green"}]'
  - model: authentik_stages_prompt.prompt
    id: size
    identifiers: {name: pt-size}
    attrs:
      field_key: size
      label: Size
      type: dropdown
      order: 9
      initial_value: XL
      placeholder_expression: true
      placeholder: 'return ("S", "M", "L")'
  - model: authentik_stages_prompt.prompt
    id: birthday
    identifiers: {name: pt-birthday}
    attrs: {field_key: birthday, label: Birthday, type: date, order: 10}
  - model: authentik_stages_prompt.prompt
    id: meeting
    identifiers: {name: pt-meeting}
    attrs: {field_key: meeting, label: Meeting, type: date-time, required: false, order: 11}
  - model: authentik_stages_prompt.prompt
    id: avatar
    identifiers: {name: pt-avatar}
    attrs: {field_key: avatar, label: Avatar, type: file, required: false, order: 12}
  - model: authentik_stages_prompt.prompt
    id: sep
    identifiers: {name: pt-sep}
    attrs: {field_key: sep, label: More, type: separator, order: 13}
  - model: authentik_stages_prompt.prompt
    id: ref
    identifiers: {name: pt-ref}
    attrs:
      field_key: ref
      label: Ref
      type: hidden
      order: 14
      initial_value_expression: true
      initial_value: 'return "ref-" + str(6 * 7)'
  - model: authentik_stages_prompt.prompt
    id: notice
    identifiers: {name: pt-notice}
    attrs: {field_key: notice, label: Notice, type: static, initial_value: Read this, order: 15}
  - model: authentik_stages_prompt.prompt
    id: motto
    identifiers: {name: pt-motto}
    attrs: {field_key: motto, label: Motto, type: text_read_only, initial_value: Fixed motto, order: 15}
  - model: authentik_stages_prompt.prompt
    id: locale
    identifiers: {name: pt-locale}
    attrs: {field_key: attributes.settings.locale, label: Language, type: ak-locale, required: false, order: 16}
  - model: authentik_stages_prompt.prompt
    id: fallback
    identifiers: {name: pt-fallback}
    attrs:
      field_key: fallback
      label: Fallback
      type: text
      required: false
      order: 17
      placeholder_expression: true
      placeholder: 'return 1/0'
  - model: authentik_stages_prompt.prompt
    id: size-choices
    identifiers: {name: pt-size-choices}
    attrs: {field_key: size__choices, label: Sizes, type: text, required: false, order: 18}
  - model: authentik_policies_expression.expressionpolicy
    id: policy
    identifiers: {name: pt-no-mallory}
    attrs:
      expression: |
        name = request.context["prompt_data"].get("name", "")
        if name == "Mallory":
            ak_message("Mallory may not enroll.")
            ak_message("Pick another name.")
            return False
        ak_message("Welcome, " + name)
        return True
  - model: authentik_stages_prompt.promptstage
    id: first
    identifiers: {name: pt-first}
    attrs:
      fields:
        - !KeyOf size-choices
        - !KeyOf fallback
        - !KeyOf locale
        - !KeyOf notice
        - !KeyOf motto
        - !KeyOf ref
        - !KeyOf sep
        - !KeyOf avatar
        - !KeyOf meeting
        - !KeyOf birthday
        - !KeyOf size
        - !KeyOf color
        - !KeyOf terms
        - !KeyOf age
        - !KeyOf password-repeat
        - !KeyOf password
        - !KeyOf email
        - !KeyOf bio
        - !KeyOf name
        - !KeyOf username
      validation_policies: [!KeyOf policy]
  - model: authentik_stages_prompt.prompt
    id: shown-name
    identifiers: {name: pt-shown-name}
    attrs: {field_key: name, label: Name, type: text_read_only, order: 0}
  - model: authentik_stages_prompt.prompt
    id: picked-size
    identifiers: {name: pt-picked-size}
    attrs: {field_key: size, label: Size, type: dropdown, placeholder: unused, order: 1}
  - model: authentik_stages_prompt.prompt
    id: summary
    identifiers: {name: pt-summary}
    attrs:
      field_key: summary
      label: Summary
      type: text
      required: false
      order: 2
      initial_value_expression: true
      initial_value: >-
        return "/".join([str(prompt_context["terms"]), str(prompt_context["age"] + 1),
        prompt_context["ref"], prompt_context["notice"], prompt_context["motto"],
        prompt_context["birthday"], str("component" in prompt_context)])
  - model: authentik_stages_prompt.promptstage
    id: second
    identifiers: {name: pt-second}
    attrs:
      fields: [!KeyOf shown-name, !KeyOf picked-size, !KeyOf summary]
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf first, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf second, order: 20}

  - model: authentik_flows.flow
    id: own-flow
    identifiers: {slug: prompt-own-username}
    attrs: {name: Own username, title: Own username, designation: authentication}
  - model: authentik_stages_identification.identificationstage
    id: identify
    identifiers: {name: pt-identify}
    attrs: {user_fields: [username], pretend_user_exists: false}
  - model: authentik_stages_prompt.promptstage
    id: rename
    identifiers: {name: pt-rename}
    attrs:
      fields: [!KeyOf username]
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf own-flow, stage: !KeyOf identify, order: 10}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf own-flow, stage: !KeyOf rename, order: 20}
"#;

async fn server_with_prompt_flows(db: Db) -> TestServer {
    let server = TestServer::start(db).await;
    let applied = server
        .bare_client()
        .post(server.browser().url("/api/v3/managed/blueprints/apply/"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "content": BLUEPRINT }))
        .send()
        .await
        .expect("apply");
    let status = applied.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        applied.text().await.unwrap_or_default()
    );
    server
}

fn field(key: &str, label: &str, kind: &str, required: bool, order: i32) -> Value {
    json!({
        "field_key": key, "label": label, "type": kind, "required": required,
        "placeholder": "", "initial_value": "", "order": order, "sub_text": "", "choices": null,
    })
}

fn with(mut value: Value, changes: Value) -> Value {
    for (key, change) in changes.as_object().cloned().unwrap_or_default() {
        value[key] = change;
    }
    value
}

fn choices(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(label, value)| json!({"label": label, "value": value}))
        .collect()
}

/// A response that passes every check of the first stage.
fn valid_response() -> Map<String, Value> {
    json!({
        "component": "ak-stage-prompt",
        "username": "newcomer",
        "name": "Ann",
        "attributes.bio": "  likes\nspaces ",
        "email": "ann@example.com",
        "password": "Correct-Horse-9",
        "password_repeat": "Correct-Horse-9",
        "age": 30,
        "terms": true,
        "color": "red",
        "size": "M",
        "birthday": "1990-05-17",
        "meeting": "2030-01-02T09:30:00+01:00",
        "avatar": "data:image/png;base64,iVBORw0KGgo=",
        "ref": "forged",
        "notice": "forged",
        "motto": "forged",
        "attributes.settings.locale": "de",
        "size__choices": "XL",
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn response_with(changes: Value) -> Value {
    let mut body = valid_response();
    for (key, change) in changes.as_object().cloned().unwrap_or_default() {
        if change.is_null() {
            body.remove(&key);
        } else {
            body.insert(key, change);
        }
    }
    Value::Object(body)
}

async fn challenge_lists_every_type_in_order_with_expressions_and_choices(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    let challenge = browser.get_flow(FLOW, "").await;
    assert_eq!(challenge["component"], "ak-stage-prompt", "{challenge}");
    assert_eq!(challenge.get("response_errors"), None);
    let expected = json!([
        with(
            field("username", "Username", "username", true, 0),
            json!({"placeholder": "Username"})
        ),
        with(
            field("name", "Name", "text", true, 1),
            json!({"placeholder": "Full name", "sub_text": "As on your passport"})
        ),
        field("attributes.bio", "Bio", "text_area", false, 2),
        field("email", "Email", "email", true, 3),
        field("password", "Password", "password", true, 4),
        field("password_repeat", "Password (repeat)", "password", true, 5),
        field("age", "Age", "number", true, 6),
        field("terms", "I agree", "checkbox", true, 7),
        with(
            field("color", "Color", "radio-button-group", true, 8),
            json!({"initial_value": "green", "choices": choices(&[("red", "red"), ("Green", "green")])})
        ),
        // "XL" is not a choice: the first one is preselected instead.
        with(
            field("size", "Size", "dropdown", true, 9),
            json!({"initial_value": "S", "choices": choices(&[("S", "S"), ("M", "M"), ("L", "L")])})
        ),
        field("birthday", "Birthday", "date", true, 10),
        field("meeting", "Meeting", "date-time", false, 11),
        field("avatar", "Avatar", "file", false, 12),
        field("sep", "More", "separator", true, 13),
        with(
            field("ref", "Ref", "hidden", true, 14),
            json!({"initial_value": "ref-42"})
        ),
        with(
            field("notice", "Notice", "static", true, 15),
            json!({"initial_value": "Read this"})
        ),
        with(
            field("motto", "Motto", "text_read_only", true, 15),
            json!({"initial_value": "Fixed motto"})
        ),
        field(
            "attributes.settings.locale",
            "Language",
            "ak-locale",
            false,
            16
        ),
        // A failing expression shows its own text.
        with(
            field("fallback", "Fallback", "text", false, 17),
            json!({"placeholder": "return 1/0"})
        ),
        field("size__choices", "Sizes", "text", false, 18),
    ]);
    assert_eq!(challenge["fields"], expected);
}

async fn every_validation_error_lands_under_its_field(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;
    let mut body = response_with(json!({
        "name": "",
                "attributes.bio": ["not", "text"],
                "email": "not-an-email",
                "age": "thirty",
                "terms": "perhaps",
                "color": "blue",
                "size": {"label": "x"},
                "birthday": "17.05.1990",
                "meeting": "tomorrow",
                "avatar": "https://example.com/a.png",
                "attributes.settings.locale": 7,
        "fallback": "f".repeat(5000),
    }));
    body["username"] = Value::Null;
    let answer = browser.post_flow(FLOW, "", body).await;
    assert_eq!(answer["component"], "ak-stage-prompt", "{answer}");
    let e = |message: &str, code: &str| json!([{"string": message, "code": code}]);
    assert_eq!(
        answer["response_errors"],
        json!({
            "username": e("This field may not be null.", "null"),
            "name": e("This field may not be blank.", "blank"),
            "attributes.bio": e("Not a valid string.", "invalid"),
            "email": e("Enter a valid email address.", "invalid"),
            "age": e("A valid integer is required.", "invalid"),
            "terms": e("Must be a valid boolean.", "invalid"),
            "color": e("\"blue\" is not a valid choice.", "invalid_choice"),
            "size": e("\"{'label': 'x'}\" is not a valid choice.", "invalid_choice"),
            "birthday": e("Date has wrong format. Use one of these formats instead: YYYY-MM-DD.", "invalid"),
            "meeting": e("Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].", "invalid"),
            "avatar": e("Invalid scheme", "invalid"),
            // Numbers are text to a text field: "7" is fine for the locale.
            "fallback": e("Ensure this field has no more than 4096 characters.", "max_length"),
        })
    );
    // The fields are shown again, unchanged.
    let fresh = server.browser().get_flow(FLOW, "").await;
    assert_eq!(answer["fields"], fresh["fields"]);

    // Missing required fields, and a file without base64.
    let answer = browser
        .post_flow(
            FLOW,
            "",
            json!({"component": "ak-stage-prompt", "avatar": "data:text/plain,hi"}),
        )
        .await;
    let errors = answer["response_errors"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut keys: Vec<&str> = errors.keys().map(String::as_str).collect();
    keys.sort_unstable();
    // color, size and motto have defaults (their initial values), so they are not required;
    // checkboxes and separators never are.
    assert_eq!(
        keys,
        [
            "age",
            "avatar",
            "birthday",
            "email",
            "name",
            "password",
            "password_repeat",
            "username"
        ]
    );
    for key in keys.iter().filter(|k| **k != "avatar") {
        assert_eq!(
            errors[*key],
            e("This field is required.", "required"),
            "{key}"
        );
    }
    assert_eq!(errors["avatar"], e("Invalid encoding", "invalid"));
}

async fn any_json_is_answered_with_errors_never_a_failure(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;
    for body in [
        json!([1, 2, 3]),
        json!("text"),
        json!(null),
        json!({"component": "ak-stage-prompt", "age": 1e300, "terms": {"a": 1}, "size": [[[]]]}),
        json!({"component": "ak-stage-prompt", "age": "9".repeat(2000), "birthday": 19900517}),
        json!({"component": "ak-stage-prompt", "meeting": "x".repeat(60_000)}),
    ] {
        let answer = browser.post_flow(FLOW, "", body.clone()).await;
        assert_eq!(answer["component"], "ak-stage-prompt", "{body}: {answer}");
        assert!(answer["response_errors"].is_object(), "{body}: {answer}");
    }
    let answer = browser.post_flow(FLOW, "", json!([1])).await;
    assert_eq!(
        answer["response_errors"],
        json!({"non_field_errors": [{"string": "Invalid data. Expected a dictionary, but got list.", "code": "invalid"}]})
    );
    // Still on the first stage, and a good answer still goes through.
    let next = browser.post_flow(FLOW, "", response_with(json!({}))).await;
    assert_eq!(next["fields"][0]["field_key"], "name", "{next}");
}

async fn passwords_policies_and_taken_usernames_are_refused(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;
    let non_field = |messages: &[&str]| {
        json!({"non_field_errors": messages
            .iter()
            .map(|m| json!({"string": m, "code": "invalid"}))
            .collect::<Vec<_>>()})
    };

    let taken = browser
        .post_flow(FLOW, "", response_with(json!({"username": ADMIN})))
        .await;
    assert_eq!(
        taken["response_errors"],
        json!({"username": [{"string": "Username is already taken.", "code": "invalid"}]})
    );

    let mismatch = browser
        .post_flow(
            FLOW,
            "",
            response_with(json!({"password_repeat": "Other-Horse-9"})),
        )
        .await;
    assert_eq!(
        mismatch["response_errors"],
        non_field(&["Passwords don't match."])
    );

    let refused = browser
        .post_flow(FLOW, "", response_with(json!({"name": "Mallory"})))
        .await;
    assert_eq!(refused["component"], "ak-stage-prompt");
    assert_eq!(
        refused["response_errors"],
        non_field(&["Mallory may not enroll.", "Pick another name."])
    );

    // The policy passes for anyone else: on to the second stage.
    let next = browser.post_flow(FLOW, "", response_with(json!({}))).await;
    assert_eq!(next["component"], "ak-stage-prompt");
    assert_eq!(next.get("response_errors"), None, "{next}");
    assert_eq!(next["fields"][0]["initial_value"], "Ann");
}

async fn valid_values_reach_prompt_data_and_server_values_win(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    browser.get_flow(FLOW, "").await;
    let second = browser.post_flow(FLOW, "", response_with(json!({}))).await;
    assert_eq!(
        second["fields"],
        json!([
            with(
                field("name", "Name", "text_read_only", true, 0),
                json!({"initial_value": "Ann"})
            ),
            // Choices from prompt_data["size__choices"] (a single value: one choice); the
            // stored "M" is not among them, so the first choice is preselected.
            with(
                field("size", "Size", "dropdown", true, 1),
                json!({"initial_value": "XL", "choices": choices(&[("XL", "XL")])})
            ),
            // Typed values (a boolean, an integer), the server's values for hidden, static and
            // read-only fields, the date as ISO text, and the component key.
            with(
                field("summary", "Summary", "text", false, 2),
                json!({"initial_value": "True/31/ref-42/Read this/Fixed motto/1990-05-17/True"})
            ),
        ])
    );
    let done = browser
        .post_flow(
            FLOW,
            "",
            json!({"component": "ak-stage-prompt", "name": "Eve", "size": "XL"}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
}

async fn the_pending_users_own_username_is_not_taken(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    let first = browser.get_flow(OWN_FLOW, "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    let prompt = browser
        .post_flow(
            OWN_FLOW,
            "",
            json!({"component": "ak-stage-identification", "uid_field": ADMIN}),
        )
        .await;
    assert_eq!(prompt["component"], "ak-stage-prompt", "{prompt}");
    let done = browser
        .post_flow(
            OWN_FLOW,
            "",
            json!({"component": "ak-stage-prompt", "username": ADMIN}),
        )
        .await;
    assert_eq!(done, redirect_to("/"));
}

/// The server-rendered page's form, posted as a browser without JavaScript would.
async fn the_form_works_without_javascript(db: Db) {
    let server = server_with_prompt_flows(db).await;
    let browser = server.browser();
    let page = browser
        .client
        .get(browser.url(&format!("/if/flow/{FLOW}/")))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    assert!(
        html.contains(r#"data-component="ak-stage-prompt""#),
        "{html}"
    );
    for input in [
        r#"type="email""#,
        r#"type="password""#,
        r#"type="number""#,
        r#"type="checkbox""#,
        r#"type="radio""#,
        "<select",
        "<textarea",
        r#"type="date""#,
        r#"type="datetime-local""#,
        r#"type="file""#,
        r#"name="_keyflow_prompt_types""#,
    ] {
        assert!(html.contains(input), "{input} missing");
    }

    // What the browser sends: text pairs, a hidden "false" before the ticked box, empty
    // optional inputs, and the type list the page carries.
    let types: Map<String, Value> = browser.get_flow(FLOW, "").await["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["field_key"].as_str().unwrap_or("").to_owned(),
                f["type"].clone(),
            )
        })
        .collect();
    let types = Value::Object(types).to_string();
    let form: Vec<(&str, &str)> = vec![
        ("component", "ak-stage-prompt"),
        ("_keyflow_prompt_types", &types),
        ("username", "nojs"),
        ("name", "Ann"),
        ("attributes.bio", ""),
        ("email", "ann@example.com"),
        ("password", "Correct-Horse-9"),
        ("password_repeat", "Correct-Horse-9"),
        ("age", "30"),
        ("terms", "false"),
        ("terms", "true"),
        ("color", "green"),
        ("size", "L"),
        ("birthday", "1990-05-17"),
        ("meeting", ""),
        ("ref", "forged"),
        ("motto", "Fixed motto"),
        ("attributes.settings.locale", ""),
        ("fallback", ""),
        ("size__choices", "XL"),
    ];
    let response = browser
        .client
        .post(browser.url(&format!("/if/flow/{FLOW}/")))
        .form(&form)
        .send()
        .await
        .expect("form post");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("html");
    assert!(
        html.contains("True/31/ref-42/Read this/Fixed motto/1990-05-17/True"),
        "{html}"
    );

    // A wrong value comes back as the page with the field's error.
    let second = browser.get_flow(FLOW, "").await;
    assert_eq!(second["fields"][0]["initial_value"], "Ann");
    let types =
        json!({"name": "text_read_only", "size": "dropdown", "summary": "text"}).to_string();
    let response = browser
        .client
        .post(browser.url(&format!("/if/flow/{FLOW}/")))
        .form(&[
            ("component", "ak-stage-prompt"),
            ("_keyflow_prompt_types", types.as_str()),
            ("name", "Ann"),
            ("size", "XS"),
        ])
        .send()
        .await
        .expect("form post");
    let html = response.text().await.expect("html");
    assert!(html.contains("is not a valid choice."), "{html}");
    assert!(html.contains(r#"data-field-error="size""#), "{html}");
}
