//! Builds the Python program one evaluation runs: the prelude, then the admin's expression as
//! the body of a function (as authentik does, so a top-level `return` works), then the call
//! that hands the result back. Positions in that program map back to the expression as written.
//!
//! Imports stay Python. Modules the interpreter has (`re`, `datetime`, `json`, `math`, ...)
//! are imported as written. An import of anything else (`django.utils.timezone`, `ipaddress`,
//! `authentik.*`, and refused ones such as `os`) becomes, on the same line, an assignment from
//! `_ak_import` (see `prelude.py`), which binds what keyflow provides, a placeholder that fails
//! when used for authentik models keyflow does not have, or raises ImportError for modules an
//! expression may not use.

use ruff_python_ast::statement_visitor::{walk_stmt, StatementVisitor};
use ruff_python_ast::token::TokenKind;
use ruff_python_ast::{self as ast, Stmt};
use ruff_text_size::{Ranged, TextRange};

pub const PRELUDE: &str = include_str!("prelude.py");
const INDENT: &str = "    ";
const ENTRY: &str = "def __ak_expression():\n    pass\n";
const FINISH: &str = "\n_ak_finish(__ak_expression())\n";

/// Modules the interpreter provides itself and expressions may use as written.
const NATIVE_MODULES: &[&str] = &[
    "__future__",
    "base64",
    "binascii",
    "collections",
    "dataclasses",
    "datetime",
    "functools",
    "itertools",
    "json",
    "math",
    "re",
    "typing",
    "unicodedata",
];

/// The program for one expression.
#[derive(Debug)]
pub struct Program {
    pub code: String,
    /// 1-based line of the program holding the expression's first line.
    body_line: usize,
}

impl Program {
    pub fn build(expression: &str) -> Program {
        let (rewritten, multi_line_strings) = rewrite_imports(expression);
        let mut code = String::with_capacity(PRELUDE.len() + rewritten.len() * 2 + 64);
        code.push_str(PRELUDE);
        if !code.ends_with('\n') {
            code.push('\n');
        }
        code.push_str(ENTRY);
        let body_line = code.lines().count() + 1;
        let mut offset = 0;
        for line in rewritten.split_inclusive('\n') {
            // A line that starts inside a triple-quoted string keeps its text unchanged.
            let inside_string = multi_line_strings
                .iter()
                .any(|r| r.start < offset && offset < r.end);
            if !inside_string {
                code.push_str(INDENT);
            }
            code.push_str(line);
            offset += line.len();
        }
        code.push_str(FINISH);
        Program { code, body_line }
    }

    /// Maps a 1-based (line, column) of the program to one in the expression, if it is there.
    pub fn expression_position(&self, line: usize, column: usize) -> Option<(usize, usize)> {
        let line = line.checked_sub(self.body_line)? + 1;
        Some((line, column.saturating_sub(INDENT.len()).max(1)))
    }
}

/// Replaces import statements of modules the interpreter does not have with `_ak_import`
/// assignments (same line count), and returns the byte ranges of strings spanning lines. An
/// expression that does not parse is returned as is: compiling it reports the error.
fn rewrite_imports(expression: &str) -> (String, Vec<std::ops::Range<usize>>) {
    let Ok(parsed) = ruff_python_parser::parse_module(expression) else {
        return (expression.to_owned(), Vec::new());
    };
    let mut imports = ImportFinder::default();
    imports.visit_body(parsed.suite());
    let mut strings: Vec<std::ops::Range<usize>> = parsed
        .tokens()
        .iter()
        .filter(|t| {
            matches!(
                t.kind(),
                TokenKind::String | TokenKind::FStringMiddle | TokenKind::FStringStart
            )
        })
        .map(|t| usize::from(t.start())..usize::from(t.end()))
        .filter(|r| expression[r.clone()].contains('\n'))
        .collect();
    if imports.replacements.is_empty() {
        return (expression.to_owned(), strings);
    }
    let mut out = String::with_capacity(expression.len() + 128);
    let mut last = 0;
    let mut shift: isize = 0;
    let mut shifted = Vec::new();
    for (range, replacement) in &imports.replacements {
        let start = usize::from(range.start());
        let end = usize::from(range.end());
        let original = &expression[start..end];
        out.push_str(&expression[last..start]);
        out.push_str(replacement);
        // Keep line numbers: the statement's extra lines become empty lines.
        let newlines = original.matches('\n').count();
        out.extend(std::iter::repeat_n('\n', newlines));
        let delta = (replacement.len() + newlines) as isize - original.len() as isize;
        shifted.push((end, shift + delta));
        shift += delta;
        last = end;
    }
    out.push_str(&expression[last..]);
    // String ranges after a replaced import move with it.
    for range in &mut strings {
        let moved = shifted
            .iter()
            .rev()
            .find(|(end, _)| *end <= range.start)
            .map_or(0, |(_, shift)| *shift);
        range.start = range.start.saturating_add_signed(moved);
        range.end = range.end.saturating_add_signed(moved);
    }
    (out, strings)
}

#[derive(Default)]
struct ImportFinder {
    replacements: Vec<(TextRange, String)>,
}

impl<'a> StatementVisitor<'a> for ImportFinder {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(ast::StmtImport { names, range, .. }) => {
                let needed = names.iter().any(|a| !is_native(a.name.as_str()));
                if needed {
                    let bindings: Vec<String> = names
                        .iter()
                        .map(|alias| {
                            let module = alias.name.as_str();
                            match &alias.asname {
                                // `import a.b as c` binds the module `a.b` itself.
                                Some(asname) if is_native(module) => {
                                    format!("import {module} as {asname}")
                                }
                                Some(asname) => match module.rsplit_once('.') {
                                    Some((parent, last)) => {
                                        format!("{asname} = _ak_import({parent:?}, {last:?})")
                                    }
                                    None => format!("{asname} = _ak_import({module:?})"),
                                },
                                // `import a.b` binds `a`.
                                None => {
                                    let root = module.split('.').next().unwrap_or(module);
                                    if is_native(module) {
                                        format!("import {module}")
                                    } else {
                                        format!("{root} = _ak_import({module:?})")
                                    }
                                }
                            }
                        })
                        .collect();
                    self.replacements.push((*range, bindings.join("; ")));
                }
            }
            Stmt::ImportFrom(ast::StmtImportFrom {
                module: Some(module),
                names,
                level: 0,
                range,
                ..
            }) if !is_native(module.as_str()) => {
                let module = module.as_str();
                let bindings: Vec<String> = names
                    .iter()
                    .map(|alias| {
                        let name = alias.name.as_str();
                        if name == "*" {
                            return format!(
                                "raise ImportError(\"'from {module} import *' is not supported\")"
                            );
                        }
                        let bound = alias.asname.as_ref().map_or(name, |a| a.as_str());
                        format!("{bound} = _ak_import({module:?}, {name:?})")
                    })
                    .collect();
                self.replacements.push((*range, bindings.join("; ")));
            }
            _ => walk_stmt(self, stmt),
        }
    }
}

fn is_native(module: &str) -> bool {
    let root = module.split('.').next().unwrap_or(module);
    NATIVE_MODULES.contains(&root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(program: &Program) -> Vec<&str> {
        program.code.lines().skip(program.body_line - 1).collect()
    }

    #[test]
    fn imports_keyflow_provides_become_bindings_on_the_same_lines() {
        let program = Program::build(
            "from authentik.core.models import (\n    USER_ATTRIBUTE_CHANGE_EMAIL,\n    USER_ATTRIBUTE_CHANGE_NAME as N\n)\nimport re, ipaddress\nreturn True\n",
        );
        let lines = body(&program);
        assert_eq!(
            lines[0],
            "    USER_ATTRIBUTE_CHANGE_EMAIL = _ak_import(\"authentik.core.models\", \"USER_ATTRIBUTE_CHANGE_EMAIL\"); N = _ak_import(\"authentik.core.models\", \"USER_ATTRIBUTE_CHANGE_NAME\")"
        );
        assert_eq!(
            lines[4],
            "    import re; ipaddress = _ak_import(\"ipaddress\")"
        );
        assert_eq!(lines[5], "    return True");
    }

    #[test]
    fn native_imports_and_nested_ones_are_handled() {
        let program = Program::build(
            "from datetime import timedelta\nif True:\n    from django.utils.timezone import now\n",
        );
        let lines = body(&program);
        assert_eq!(lines[0], "    from datetime import timedelta");
        assert_eq!(
            lines[2],
            "        now = _ak_import(\"django.utils.timezone\", \"now\")"
        );
    }

    #[test]
    fn multi_line_strings_keep_their_text() {
        let program = Program::build("x = \"\"\"a\nb\"\"\"\nreturn x\n");
        let lines = body(&program);
        assert_eq!(lines[0], "    x = \"\"\"a");
        assert_eq!(lines[1], "b\"\"\"");
        assert_eq!(lines[2], "    return x");
    }

    #[test]
    fn positions_map_back_to_the_expression() {
        let program = Program::build("x = 1\nreturn y\n");
        let line = program
            .code
            .lines()
            .position(|l| l == "    return y")
            .unwrap()
            + 1;
        assert_eq!(program.expression_position(line, 12), Some((2, 8)));
        assert_eq!(program.expression_position(3, 1), None);
    }
}
