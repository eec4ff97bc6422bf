//! authentik's blueprint file format, read into plain structures. Values stay YAML (with their
//! `!Tags`) until an entry is applied, because tags such as `!KeyOf` depend on the entries
//! applied before them.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value as Yaml};

use super::error::BlueprintError;

/// The label that marks examples which are never applied automatically.
pub const INSTANTIATE_LABEL: &str = "blueprints.goauthentik.io/instantiate";

#[derive(Clone, Debug)]
pub struct Blueprint {
    /// Where it came from (a file name, `api`, `default/<file>`), for messages.
    pub source: String,
    /// `metadata.name`: how `metaapplyblueprint` entries refer to it.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `context`: values for `!Context`.
    pub context: Mapping,
    pub entries: Vec<Entry>,
}

impl Blueprint {
    /// False for examples labelled `instantiate: "false"`.
    pub fn instantiates(&self) -> bool {
        self.labels
            .get(INSTANTIATE_LABEL)
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    }
}

/// `state`: what to do with the entry's object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EntryState {
    /// Create, or update to match.
    #[default]
    Present,
    /// Create when missing; never update.
    Created,
    /// Create; fail when it exists.
    MustCreated,
    /// Delete when it exists.
    Absent,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// `entries[3]` or `entries.section[0]`.
    pub position: String,
    pub model: String,
    pub state: EntryState,
    pub id: Option<String>,
    pub identifiers: Mapping,
    pub attrs: Mapping,
    pub conditions: Vec<Yaml>,
    /// Keys keyflow reads but does not act on (e.g. `permissions`), reported as notes.
    pub ignored_keys: Vec<String>,
}

fn text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn mapping(value: Option<&Yaml>, what: &str) -> Result<Mapping, String> {
    match value {
        None | Some(Yaml::Null) => Ok(Mapping::new()),
        Some(Yaml::Mapping(m)) => Ok(m.clone()),
        Some(_) => Err(format!("{what} must be a mapping")),
    }
}

/// Parses a blueprint document.
pub fn parse(source: &str, content: &str) -> Result<Blueprint, BlueprintError> {
    let fail = |message: String| BlueprintError::file(source, message);
    let document: Yaml =
        serde_norway::from_str(content).map_err(|e| fail(format!("not valid YAML: {e}")))?;
    let Yaml::Mapping(root) = document else {
        return Err(fail("a blueprint must be a YAML mapping".into()));
    };
    match root.get("version") {
        Some(Yaml::Number(n)) if n.as_i64() == Some(1) => {}
        Some(other) => {
            let shown = text(other).unwrap_or_else(|| "?".into());
            return Err(fail(format!(
                "unsupported blueprint version {shown} (only version 1 exists)"
            )));
        }
        None => return Err(fail("missing \"version: 1\"".into())),
    }
    let metadata = mapping(root.get("metadata"), "metadata").map_err(fail)?;
    let name = metadata.get("name").and_then(text).unwrap_or_default();
    let labels = mapping(metadata.get("labels"), "metadata.labels")
        .map_err(fail)?
        .iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect();
    let context = mapping(root.get("context"), "context").map_err(fail)?;
    let mut entries = Vec::new();
    match root.get("entries") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Sequence(list)) => {
            for (i, item) in list.iter().enumerate() {
                entries.push(parse_entry(source, format!("entries[{i}]"), item)?);
            }
        }
        // authentik also accepts named sections, each a list; they apply in file order.
        Some(Yaml::Mapping(sections)) => {
            for (section, list) in sections {
                let section = text(section).unwrap_or_default();
                let Yaml::Sequence(list) = list else {
                    return Err(fail(format!("entries.{section} must be a list")));
                };
                for (i, item) in list.iter().enumerate() {
                    entries.push(parse_entry(
                        source,
                        format!("entries.{section}[{i}]"),
                        item,
                    )?);
                }
            }
        }
        Some(_) => {
            return Err(fail(
                "entries must be a list (or a mapping of named lists)".into(),
            ))
        }
    }
    Ok(Blueprint {
        source: source.to_owned(),
        name,
        labels,
        context,
        entries,
    })
}

fn parse_entry(source: &str, position: String, item: &Yaml) -> Result<Entry, BlueprintError> {
    let fail = |field: Option<&str>, message: String| BlueprintError {
        file: source.to_owned(),
        entry: Some(position.clone()),
        model: None,
        field: field.map(str::to_owned),
        message,
    };
    let Yaml::Mapping(map) = item else {
        return Err(fail(None, "an entry must be a mapping".into()));
    };
    let model = match map.get("model") {
        Some(Yaml::String(model)) => model.clone(),
        Some(_) => {
            return Err(fail(
                Some("model"),
                "must be a plain string such as authentik_flows.flow".into(),
            ))
        }
        None => return Err(fail(Some("model"), "missing".into())),
    };
    let with_model = |mut e: BlueprintError| {
        e.model = Some(model.clone());
        e
    };
    let state = match map.get("state").map(text) {
        None => EntryState::Present,
        Some(Some(s)) => match s.as_str() {
            "present" => EntryState::Present,
            "created" => EntryState::Created,
            "must_created" => EntryState::MustCreated,
            "absent" => EntryState::Absent,
            other => {
                return Err(with_model(fail(
                    Some("state"),
                    format!(
                    "unknown state {other:?} (expected present, created, must_created or absent)"
                ),
                )))
            }
        },
        Some(None) => {
            return Err(with_model(fail(Some("state"), "must be a string".into())));
        }
    };
    let id = match map.get("id") {
        None | Some(Yaml::Null) => None,
        Some(value) => Some(
            text(value).ok_or_else(|| with_model(fail(Some("id"), "must be a string".into())))?,
        ),
    };
    let identifiers = mapping(map.get("identifiers"), "identifiers")
        .map_err(|m| with_model(fail(Some("identifiers"), m)))?;
    let attrs =
        mapping(map.get("attrs"), "attrs").map_err(|m| with_model(fail(Some("attrs"), m)))?;
    let conditions = match map.get("conditions") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(list)) => list.clone(),
        Some(_) => {
            return Err(with_model(fail(
                Some("conditions"),
                "must be a list".into(),
            )))
        }
    };
    let known = ["model", "state", "id", "identifiers", "attrs", "conditions"];
    let ignored_keys = map
        .keys()
        .filter_map(text)
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    Ok(Entry {
        position,
        model,
        state,
        id,
        identifiers,
        attrs,
        conditions,
        ignored_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_states_and_tags() {
        let bp = parse(
            "t.yaml",
            "version: 1\nmetadata:\n  name: T\n  labels:\n    blueprints.goauthentik.io/instantiate: \"false\"\n\
             entries:\n- model: authentik_flows.flow\n  id: flow\n  identifiers:\n    slug: s\n\
             - model: authentik_flows.flowstagebinding\n  state: absent\n  identifiers:\n    target: !KeyOf flow\n",
        )
        .unwrap();
        assert_eq!(bp.name, "T");
        assert!(!bp.instantiates());
        assert_eq!(bp.entries.len(), 2);
        assert_eq!(bp.entries[1].state, EntryState::Absent);
        assert!(matches!(
            bp.entries[1].identifiers.get("target"),
            Some(Yaml::Tagged(_))
        ));
    }

    #[test]
    fn named_sections_keep_file_order() {
        let bp = parse(
            "t.yaml",
            "version: 1\nentries:\n  b:\n  - model: x.y\n  a:\n  - model: x.z\n",
        )
        .unwrap();
        let positions: Vec<_> = bp.entries.iter().map(|e| e.position.as_str()).collect();
        assert_eq!(positions, ["entries.b[0]", "entries.a[0]"]);
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        let err = parse("t.yaml", "version: 2\nentries: []\n").unwrap_err();
        assert!(err.message.contains("version 2"), "{err}");
        let err = parse(
            "t.yaml",
            "version: 1\nentries:\n- model: a.b\n  state: gone\n",
        )
        .unwrap_err();
        assert_eq!(err.entry.as_deref(), Some("entries[0]"));
        assert_eq!(err.field.as_deref(), Some("state"));
        let err = parse("t.yaml", "version: 1\nentries: [\n").unwrap_err();
        assert!(err.message.starts_with("not valid YAML"), "{err}");
    }
}
