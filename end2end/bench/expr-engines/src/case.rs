//! The corpus (`shared/spec/expressions/corpus.yaml`) and the Python text each engine runs.

use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

/// Stateless classes and helpers, identical for both engines.
pub const PRELUDE_DEFS: &str = include_str!("prelude_defs.py");

/// One corpus entry: the policy body, what it is given, what it must reach.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub name: String,
    pub expression: String,
    #[serde(default)]
    pub given: Value,
    #[serde(default)]
    pub expect: Value,
}

#[derive(Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

/// Reads the corpus file. Errors: unreadable file or YAML that is not `{cases: [...]}`.
pub fn load(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let corpus: Corpus =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(corpus.cases)
}

impl Case {
    /// A case with no corpus entry behind it (the limit probes): given nothing; its verdict
    /// is the returned value's repr (`expect: {show: true}`).
    pub fn adhoc(name: &str, expression: &str) -> Case {
        let mut expect = serde_yaml::Mapping::new();
        expect.insert(Value::from("show"), Value::from(true));
        Case {
            name: name.to_owned(),
            expression: expression.to_owned(),
            given: Value::Mapping(Default::default()),
            expect: Value::Mapping(expect),
        }
    }

    /// Whether the case expects the evaluation itself to fail.
    pub fn expects_error(&self) -> bool {
        self.expect
            .get("error")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The per-request part: this case's inputs, the request objects built from them, the
    /// expression wrapped as a function body, and `_kf_verdict_text` ("ok" or what differed).
    pub fn request_script(&self) -> String {
        let mut body = String::new();
        for line in self.expression.lines() {
            body.push_str("    ");
            body.push_str(line);
            body.push('\n');
        }
        format!(
            r#"GIVEN = {given}
EXPECT = {expect}
_kf_env = KfEnv(GIVEN)
ak_message = _kf_env.message
context = dict(_kf_env.plan_context)
context["flow_plan"] = FlowPlan(_kf_env.plan_context)
_kf_user = User(GIVEN["user"]) if "user" in GIVEN else User({{"username": "AnonymousUser", "is_active": False}})
request = PolicyRequest(_kf_user, context, HttpRequest(GIVEN.get("path", "/")))
ak_client_ip = ip_address(GIVEN.get("client_ip", "255.255.255.255"))
ak_is_sso_flow = bool(_kf_env.plan_context.get("is_sso", False))
_kf_install_django(_kf_env.now)

def _kf_policy():
{body}
_kf_verdict_text = _kf_verdict(_kf_env, _kf_policy(), EXPECT)
"#,
            given = python_literal(&self.given),
            expect = python_literal(&self.expect),
        )
    }

    /// Prelude and request in one module, the shape monty runs (it keeps no VM between runs);
    /// its last expression is the verdict.
    pub fn full_script(&self) -> String {
        format!(
            "{PRELUDE_DEFS}\n{}\n_kf_verdict_text\n",
            self.request_script()
        )
    }
}

/// Renders a YAML value as a Python literal (dicts, lists, str, int, float, bool, None).
pub fn python_literal(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        // A JSON string literal is also a valid Python one (serde_json never writes `\/`).
        Value::String(s) => serde_json::to_string(s).unwrap_or_else(|_| "''".to_owned()),
        Value::Sequence(items) => {
            let inner: Vec<String> = items.iter().map(python_literal).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Mapping(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_literal(k), python_literal(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Tagged(tagged) => python_literal(&tagged.value),
    }
}
