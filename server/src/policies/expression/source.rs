//! Turns an authentik expression (the body of a Python function) into a Starlark module that
//! keyflow can compile, and maps positions in that module back to the expression as written.
//!
//! The compatibility pass, line by line, keeping line numbers intact:
//! - The body is indented into `def __ak_expression():` so top-level `return` works, as in
//!   authentik. (Lines inside a triple-quoted string gain the same four spaces.)
//! - Starlark has no `import`. `from a.b import X, Y as Z` and `import a.b as c` lines become
//!   blank lines, and each imported name is bound before the function: names keyflow knows
//!   (authentik's `USER_ATTRIBUTE_*` and `PLAN_CONTEXT_*` constants) to their values, any other
//!   name to a placeholder. Expressions that merely import a model still compile; using it
//!   fails at evaluation time with a message naming the import.

/// authentik constants an expression may import, by name, whatever the module.
const KNOWN_CONSTANTS: &[(&str, &str)] = &[
    ("USER_ATTRIBUTE_DEBUG", "goauthentik.io/user/debug"),
    ("USER_ATTRIBUTE_GENERATED", "goauthentik.io/user/generated"),
    ("USER_ATTRIBUTE_EXPIRES", "goauthentik.io/user/expires"),
    (
        "USER_ATTRIBUTE_DELETE_ON_LOGOUT",
        "goauthentik.io/user/delete-on-logout",
    ),
    ("USER_ATTRIBUTE_SOURCES", "goauthentik.io/user/sources"),
    (
        "USER_ATTRIBUTE_TOKEN_EXPIRING",
        "goauthentik.io/user/token-expires",
    ),
    (
        "USER_ATTRIBUTE_TOKEN_MAXIMUM_LIFETIME",
        "goauthentik.io/user/token-maximum-lifetime",
    ),
    (
        "USER_ATTRIBUTE_CHANGE_USERNAME",
        "goauthentik.io/user/can-change-username",
    ),
    (
        "USER_ATTRIBUTE_CHANGE_NAME",
        "goauthentik.io/user/can-change-name",
    ),
    (
        "USER_ATTRIBUTE_CHANGE_EMAIL",
        "goauthentik.io/user/can-change-email",
    ),
    ("USER_PATH_SYSTEM_PREFIX", "goauthentik.io"),
    ("PLAN_CONTEXT_PENDING_USER", "pending_user"),
    (
        "PLAN_CONTEXT_PENDING_USER_IDENTIFIER",
        "pending_user_identifier",
    ),
    ("PLAN_CONTEXT_PROMPT", "prompt_data"),
    ("PLAN_CONTEXT_APPLICATION", "application"),
    ("PLAN_CONTEXT_REDIRECT", "redirect"),
    ("PLAN_CONTEXT_SSO", "is_sso"),
    ("PLAN_CONTEXT_SOURCE", "source"),
    ("PLAN_CONTEXT_IS_RESTORED", "is_restored"),
    ("PLAN_CONTEXT_IS_REDIRECTED", "is_redirected"),
    ("PLAN_CONTEXT_AUTHENTICATION_BACKEND", "user_backend"),
    ("PLAN_CONTEXT_METHOD", "auth_method"),
    ("PLAN_CONTEXT_METHOD_ARGS", "auth_method_args"),
];

/// The name of the function the expression body becomes.
pub const ENTRY: &str = "ak_keyflow_expression";
const INDENT: &str = "    ";

/// An expression made ready for Starlark.
#[derive(Debug)]
pub struct Prepared {
    /// The bindings for imported names, then the wrapped body; the prelude goes before it.
    pub code: String,
    /// Line (0-based) in `code` where the expression's first line is.
    pub body_line: usize,
    /// Dotted names of imports keyflow does not provide (for error messages).
    pub unsupported_imports: Vec<String>,
}

/// One imported name: what the expression calls it and where it came from.
struct Import {
    bound_as: String,
    path: String,
}

pub fn prepare(expression: &str) -> Prepared {
    let lines: Vec<&str> = expression.lines().collect();
    let mut imports = Vec::new();
    let mut body = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let is_import = trimmed.starts_with("from ") && trimmed.contains(" import ")
            || trimmed.starts_with("import ");
        if !is_import {
            body.push(line.to_owned());
            i += 1;
            continue;
        }
        // A parenthesised name list may span lines: take lines until it closes.
        let mut statement = trimmed.to_owned();
        let mut consumed = 1;
        if statement.contains('(') {
            while !statement.contains(')') && i + consumed < lines.len() {
                statement.push(' ');
                statement.push_str(lines[i + consumed].trim());
                consumed += 1;
            }
        }
        imports.extend(parse_import(&statement));
        body.extend(std::iter::repeat_n(String::new(), consumed));
        i += consumed;
    }

    let mut code = String::new();
    let mut unsupported_imports = Vec::new();
    for import in &imports {
        let known = KNOWN_CONSTANTS
            .iter()
            .find(|(name, _)| import.path.rsplit('.').next() == Some(name));
        match known {
            Some((_, value)) => code.push_str(&format!("{} = {value:?}\n", import.bound_as)),
            None => {
                code.push_str(&format!(
                    "{} = _ak_unavailable({:?})\n",
                    import.bound_as, import.path
                ));
                unsupported_imports.push(import.path.clone());
            }
        }
    }
    code.push_str(&format!("def {ENTRY}():\n"));
    let body_line = code.lines().count();
    // Python accepts a body that is only comments; Starlark needs a statement.
    code.push_str(INDENT);
    code.push_str("pass\n");
    let body_line = body_line + 1;
    for line in &body {
        code.push_str(INDENT);
        code.push_str(line);
        code.push('\n');
    }
    Prepared {
        code,
        body_line,
        unsupported_imports,
    }
}

/// The names one import statement binds. Names that are not identifiers are dropped.
fn parse_import(statement: &str) -> Vec<Import> {
    let statement = statement.split('#').next().unwrap_or_default();
    let (module, names) = if let Some(rest) = statement.strip_prefix("from ") {
        match rest.split_once(" import ") {
            Some((module, names)) => (Some(module.trim()), names),
            None => return Vec::new(),
        }
    } else {
        (None, statement.trim_start_matches("import "))
    };
    names
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .filter_map(|part| {
            let part = part.trim();
            if part.is_empty() {
                return None;
            }
            let (name, alias) = match part.split_once(" as ") {
                Some((name, alias)) => (name.trim(), Some(alias.trim())),
                None => (part, None),
            };
            let path = match module {
                Some(module) => format!("{module}.{name}"),
                None => name.to_owned(),
            };
            // `import a.b` binds `a`.
            let bound_as = alias
                .unwrap_or_else(|| name.split('.').next().unwrap_or(name))
                .to_owned();
            is_identifier(&bound_as).then_some(Import { bound_as, path })
        })
        .collect()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Maps a 0-based (line, column) in the full program to a 1-based one in the expression, if it
/// falls inside the expression.
pub fn expression_position(
    line_in_program: usize,
    column: usize,
    prelude_lines: usize,
    prepared: &Prepared,
) -> Option<(usize, usize)> {
    let first = prelude_lines + prepared.body_line;
    let line = line_in_program.checked_sub(first)?;
    Some((line + 1, column.saturating_sub(INDENT.len()) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_parenthesised_imports_bind_known_constants_and_keep_line_numbers() {
        let expression = "from authentik.core.models import (\n    USER_ATTRIBUTE_CHANGE_EMAIL,\n    USER_ATTRIBUTE_CHANGE_NAME\n)\nreturn True\n";
        let prepared = prepare(expression);
        assert!(prepared
            .code
            .contains("USER_ATTRIBUTE_CHANGE_EMAIL = \"goauthentik.io/user/can-change-email\"\n"));
        assert!(prepared.unsupported_imports.is_empty());
        let lines: Vec<&str> = prepared.code.lines().collect();
        assert_eq!(lines[prepared.body_line + 4], "    return True");
    }

    #[test]
    fn unknown_imports_and_aliases_bind_placeholders() {
        let prepared =
            prepare("from authentik.flows.models import Flow, FlowDesignation as FD\nimport re\n");
        assert!(prepared
            .code
            .contains("Flow = _ak_unavailable(\"authentik.flows.models.Flow\")"));
        assert!(prepared
            .code
            .contains("FD = _ak_unavailable(\"authentik.flows.models.FlowDesignation\")"));
        assert!(prepared.code.contains("re = _ak_unavailable(\"re\")"));
        assert_eq!(prepared.unsupported_imports.len(), 3);
    }

    #[test]
    fn positions_map_back_to_the_expression() {
        let prepared = prepare("x = 1\nreturn y\n");
        let lines: Vec<&str> = prepared.code.lines().collect();
        let line = lines.iter().position(|l| l.ends_with("return y")).unwrap();
        assert_eq!(
            expression_position(line + 10, 11, 10, &prepared),
            Some((2, 8))
        );
        assert_eq!(expression_position(3, 0, 10, &prepared), None);
    }
}
