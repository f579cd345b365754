//! Reading the groups, attributes and metrics of a registry's files, with
//! every problem found collected as a diagnostic.

use super::{
    AttrType, Attribute, Deprecated, Diagnostic, GroupKind, Location, Member, MemberValue, Metric,
};
use crate::codegen::yaml::{self, Node, Pos};
use crate::model::{
    DeprecationReason, Instrument, NumberType, RequirementLevel, Stability, ValueType,
};
use std::path::{Path, PathBuf};

pub(super) fn loc(file: &Path, pos: Pos) -> Location {
    Location {
        file: file.to_owned(),
        line: pos.line,
        col: pos.col,
    }
}

/// An attribute entry of a group before resolution.
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) requirement: Option<RequirementLevel>,
    pub(super) is_ref: bool,
    pub(super) pos: Pos,
}

pub(super) struct RawGroup {
    pub(super) id: String,
    pub(super) kind: GroupKind,
    pub(super) extends: Option<(String, Pos)>,
    pub(super) entries: Vec<Entry>,
    pub(super) metric: Option<Metric>,
    pub(super) file: PathBuf,
    pub(super) pos: Pos,
}

pub(super) struct Cx {
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) raw_groups: Vec<(RawGroup, Vec<Attribute>)>,
}

impl Cx {
    pub(super) fn new() -> Self {
        Self {
            diagnostics: Vec::new(),
            raw_groups: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, file: &Path, pos: Pos, message: String) {
        self.diagnostics.push(Diagnostic {
            location: loc(file, pos),
            message,
        });
    }

    fn str_field(&mut self, file: &Path, node: &Node, key: &str) -> Option<String> {
        let v = node.get(key)?;
        if let Some(s) = v.as_str() {
            Some(s.to_owned())
        } else {
            self.error(file, v.pos, format!("`{key}` must be a string"));
            None
        }
    }

    pub(super) fn file(&mut self, file: &Path, root: &Node) {
        let Some(groups) = root.get("groups") else {
            self.error(
                file,
                root.pos,
                "expected a top-level `groups:` list".to_owned(),
            );
            return;
        };
        let Some(groups) = groups.as_seq() else {
            self.error(file, groups.pos, "`groups` must be a list".to_owned());
            return;
        };
        for g in groups {
            self.group(file, g);
        }
    }

    fn group(&mut self, file: &Path, g: &Node) {
        if g.as_map().is_none() {
            self.error(file, g.pos, "a group must be a mapping".to_owned());
            return;
        }
        let Some(id) = self.str_field(file, g, "id") else {
            self.error(file, g.pos, "group without `id`".to_owned());
            return;
        };
        let kind = match g.get("type").map(|t| (t.as_str(), t.pos)) {
            None => {
                self.error(file, g.pos, format!("group `{id}` has no `type`"));
                return;
            }
            Some((Some(t), pos)) => match t {
                "attribute_group" => GroupKind::AttributeGroup,
                "span" => GroupKind::Span,
                "metric" => GroupKind::Metric,
                "metric_group" => GroupKind::MetricGroup,
                "event" => GroupKind::Event,
                "entity" | "resource" => GroupKind::Entity,
                "scope" => GroupKind::Scope,
                "undefined" => GroupKind::Undefined,
                other => {
                    self.error(
                        file,
                        pos,
                        format!(
                            "unknown group type `{other}` in group `{id}`, expected one of \
                             `attribute_group`, `span`, `metric`, `metric_group`, `event`, `entity`, `scope`"
                        ),
                    );
                    return;
                }
            },
            Some((None, pos)) => {
                self.error(
                    file,
                    pos,
                    format!("the `type` of group `{id}` must be a string"),
                );
                return;
            }
        };
        let extends = g
            .get("extends")
            .and_then(|e| e.as_str().map(|s| (s.to_owned(), e.pos)));
        let mut entries = Vec::new();
        let mut defs = Vec::new();
        if let Some(attrs) = g.get("attributes") {
            match attrs.as_seq() {
                Some(list) => {
                    for a in list {
                        self.attribute_entry(file, &id, a, &mut entries, &mut defs);
                    }
                }
                None if attrs.is_null() => {}
                None => self.error(
                    file,
                    attrs.pos,
                    format!("`attributes` of group `{id}` must be a list"),
                ),
            }
        }
        let metric = if kind == GroupKind::Metric {
            self.metric(file, &id, g)
        } else {
            None
        };
        self.raw_groups.push((
            RawGroup {
                id,
                kind,
                extends,
                entries,
                metric,
                file: file.to_owned(),
                pos: g.pos,
            },
            defs,
        ));
    }

    fn metric(&mut self, file: &Path, id: &str, g: &Node) -> Option<Metric> {
        let mut ok = true;
        let mut required = |cx: &mut Self, key: &str| {
            let v = cx.str_field(file, g, key);
            if v.is_none() && g.get(key).is_none() {
                cx.error(file, g.pos, format!("metric group `{id}` has no `{key}`"));
            }
            if v.is_none() {
                ok = false;
            }
            v
        };
        let name = required(self, "metric_name");
        let instrument = required(self, "instrument");
        let unit = required(self, "unit");
        let instrument = match instrument.as_deref() {
            Some("counter") => Some(Instrument::Counter),
            Some("updowncounter") => Some(Instrument::UpDownCounter),
            Some("gauge") => Some(Instrument::Gauge),
            Some("histogram") => Some(Instrument::Histogram),
            Some(other) => {
                let pos = g.get("instrument").map_or(g.pos, |n| n.pos);
                self.error(
                    file,
                    pos,
                    format!(
                        "unknown instrument `{other}` in metric `{id}`, expected `counter`, \
                         `updowncounter`, `gauge` or `histogram`"
                    ),
                );
                None
            }
            None => None,
        };
        let codegen = g.get("annotations").and_then(|a| a.get("code_generation"));
        let number = match codegen.and_then(|c| c.get("metric_value_type")) {
            None => None,
            Some(n) => match n.as_str() {
                Some("int") => Some(NumberType::Int),
                Some("double") => Some(NumberType::Double),
                _ => {
                    self.error(
                        file,
                        n.pos,
                        "`metric_value_type` must be `int` or `double`".to_owned(),
                    );
                    None
                }
            },
        };
        let exclude = codegen
            .and_then(|c| c.get("exclude"))
            .and_then(Node::as_bool)
            .unwrap_or(false);
        let stability = self.stability(file, g);
        let deprecated = self.deprecated(file, g);
        if !ok {
            return None;
        }
        Some(Metric {
            name: name?,
            group: id.to_owned(),
            instrument: instrument?,
            unit: unit?,
            number,
            stability,
            deprecated,
            brief: text(g, "brief"),
            note: text(g, "note"),
            attributes: Vec::new(),
            exclude,
            location: loc(file, g.pos),
        })
    }

    fn stability(&mut self, file: &Path, node: &Node) -> Stability {
        let Some(s) = node.get("stability") else {
            return Stability::Development;
        };
        match s.as_str() {
            Some("stable") => Stability::Stable,
            Some("release_candidate") => Stability::ReleaseCandidate,
            Some("beta") => Stability::Beta,
            Some("alpha") => Stability::Alpha,
            Some("development" | "experimental") => Stability::Development,
            _ => {
                self.error(
                    file,
                    s.pos,
                    "unknown stability, expected `stable`, `release_candidate`, `beta`, `alpha` or `development`"
                        .to_owned(),
                );
                Stability::Development
            }
        }
    }

    fn deprecated(&mut self, file: &Path, node: &Node) -> Option<Deprecated> {
        let d = node.get("deprecated")?;
        if let Some(s) = d.as_str() {
            // The older form: a plain note.
            return Some(Deprecated {
                reason: DeprecationReason::Uncategorized,
                renamed_to: None,
                note: Some(s.trim().to_owned()),
            });
        }
        let reason = match d.get("reason").and_then(Node::as_str) {
            Some("renamed") => DeprecationReason::Renamed,
            Some("obsoleted") => DeprecationReason::Obsoleted,
            Some("uncategorized") => DeprecationReason::Uncategorized,
            _ => {
                self.error(
                    file,
                    d.pos,
                    "`deprecated` needs a `reason`: `renamed`, `obsoleted` or `uncategorized`"
                        .to_owned(),
                );
                DeprecationReason::Uncategorized
            }
        };
        let renamed_to = d
            .get("renamed_to")
            .and_then(Node::as_str)
            .map(str::to_owned);
        if reason == DeprecationReason::Renamed && renamed_to.is_none() {
            self.error(
                file,
                d.pos,
                "`reason: renamed` needs `renamed_to`".to_owned(),
            );
        }
        let note = d
            .get("note")
            .and_then(Node::as_str)
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        Some(Deprecated {
            reason,
            renamed_to,
            note,
        })
    }

    fn requirement(&mut self, file: &Path, a: &Node) -> Option<RequirementLevel> {
        let r = a.get("requirement_level")?;
        let key = match &r.value {
            yaml::Value::Scalar(s, _) => Some(s.as_str()),
            yaml::Value::Map(m) if m.len() == 1 => m[0].0.as_str(),
            _ => None,
        };
        let level = match key {
            Some("required") => RequirementLevel::Required,
            Some("conditionally_required") => RequirementLevel::ConditionallyRequired,
            Some("recommended") => RequirementLevel::Recommended,
            Some("opt_in") => RequirementLevel::OptIn,
            _ => {
                self.error(
                    file,
                    r.pos,
                    "unknown requirement level, expected `required`, `conditionally_required`, \
                     `recommended` or `opt_in`"
                        .to_owned(),
                );
                return None;
            }
        };
        Some(level)
    }

    fn attribute_entry(
        &mut self,
        file: &Path,
        group: &str,
        a: &Node,
        entries: &mut Vec<Entry>,
        defs: &mut Vec<Attribute>,
    ) {
        let requirement = self.requirement(file, a);
        match (a.get("id"), a.get("ref")) {
            (Some(_), Some(r)) => {
                self.error(
                    file,
                    r.pos,
                    "an attribute has either `id` or `ref`, not both".to_owned(),
                );
            }
            (None, None) => self.error(
                file,
                a.pos,
                format!("attribute of group `{group}` without `id` or `ref`"),
            ),
            (None, Some(r)) => match r.as_str() {
                Some(id) => entries.push(Entry {
                    id: id.to_owned(),
                    requirement,
                    is_ref: true,
                    pos: r.pos,
                }),
                None => self.error(file, r.pos, "`ref` must be a string".to_owned()),
            },
            (Some(idn), None) => {
                let Some(id) = idn.as_str().map(str::to_owned) else {
                    self.error(file, idn.pos, "`id` must be a string".to_owned());
                    return;
                };
                let Some(ty) = self.attr_type(file, &id, a) else {
                    return;
                };
                let exclude = a
                    .get("annotations")
                    .and_then(|n| n.get("code_generation"))
                    .and_then(|n| n.get("exclude"))
                    .and_then(Node::as_bool)
                    .unwrap_or(false);
                let stability = self.stability(file, a);
                let deprecated = self.deprecated(file, a);
                entries.push(Entry {
                    id: id.clone(),
                    requirement,
                    is_ref: false,
                    pos: idn.pos,
                });
                defs.push(Attribute {
                    id,
                    ty,
                    stability,
                    deprecated,
                    brief: text(a, "brief"),
                    note: text(a, "note"),
                    exclude,
                    location: loc(file, idn.pos),
                });
            }
        }
    }

    fn attr_type(&mut self, file: &Path, id: &str, a: &Node) -> Option<AttrType> {
        let Some(t) = a.get("type") else {
            self.error(file, a.pos, format!("attribute `{id}` has no `type`"));
            return None;
        };
        if let Some(s) = t.as_str() {
            let parsed = match s
                .strip_prefix("template[")
                .and_then(|s| s.strip_suffix(']'))
            {
                Some(inner) => value_type(inner).map(AttrType::Template),
                None => value_type(s).map(AttrType::Value),
            };
            if parsed.is_none() {
                self.error(
                    file,
                    t.pos,
                    format!(
                        "unknown type `{s}` for attribute `{id}`, expected `string`, `int`, `double`, \
                         `boolean`, `string[]`, `int[]`, `double[]`, `boolean[]`, `any`, \
                         `template[..]` or an enum with `members`"
                    ),
                );
            }
            return parsed;
        }
        let Some(members) = t.get("members").and_then(Node::as_seq) else {
            self.error(
                file,
                t.pos,
                format!(
                    "the type of attribute `{id}` must be a type name or a mapping with `members`"
                ),
            );
            return None;
        };
        let mut out: Vec<Member> = Vec::with_capacity(members.len());
        let mut ok = true;
        for m in members {
            let Some(mid) = m.get("id").and_then(Node::as_str) else {
                self.error(file, m.pos, format!("enum member of `{id}` without `id`"));
                ok = false;
                continue;
            };
            let value = match m.get("value") {
                Some(v) if v.as_int().is_some() => v.as_int().map(MemberValue::Int),
                Some(v) if v.is_float() => {
                    self.error(
                        file,
                        v.pos,
                        format!("enum member `{mid}` of `{id}` has a double value: not supported"),
                    );
                    None
                }
                Some(v) => v.as_str().map(|s| MemberValue::Str(s.to_owned())),
                None => None,
            };
            let Some(value) = value else {
                if m.get("value").is_none_or(|v| !v.is_float()) {
                    self.error(
                        file,
                        m.pos,
                        format!("enum member `{mid}` of `{id}` has no `value`"),
                    );
                }
                ok = false;
                continue;
            };
            if out.iter().any(|o| o.id == mid) {
                self.error(
                    file,
                    m.pos,
                    format!("duplicate enum member `{mid}` in `{id}`"),
                );
                ok = false;
                continue;
            }
            let stability = self.stability(file, m);
            let deprecated = self.deprecated(file, m);
            out.push(Member {
                id: mid.to_owned(),
                value,
                stability,
                deprecated,
                brief: text(m, "brief"),
            });
        }
        if out.is_empty() && ok {
            self.error(file, t.pos, format!("enum `{id}` has no members"));
            return None;
        }
        let ints = out
            .iter()
            .filter(|m| matches!(m.value, MemberValue::Int(_)))
            .count();
        if ints != 0 && ints != out.len() {
            self.error(
                file,
                t.pos,
                format!("enum `{id}` mixes int and string values"),
            );
            return None;
        }
        ok.then_some(AttrType::Enum(out))
    }
}

fn value_type(s: &str) -> Option<ValueType> {
    Some(match s {
        "string" => ValueType::String,
        "int" => ValueType::Int,
        "double" => ValueType::Double,
        "boolean" => ValueType::Boolean,
        "string[]" => ValueType::StringArray,
        "int[]" => ValueType::IntArray,
        "double[]" => ValueType::DoubleArray,
        "boolean[]" => ValueType::BooleanArray,
        "any" => ValueType::Any,
        _ => return None,
    })
}

fn text(node: &Node, key: &str) -> String {
    node.get(key)
        .and_then(Node::as_str)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
