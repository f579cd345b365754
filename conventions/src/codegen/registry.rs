//! The reader: Weaver-format YAML files in, a resolved [`Registry`] out.

use super::manifest::{self, Dependency, MANIFEST};
use super::yaml::{self, Node, Pos};
use crate::model::{
    DeprecationReason, Instrument, NumberType, RequirementLevel, Stability, ValueType,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where something is: file, line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file, as given (the registry directory joined with the file's path in it).
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// One problem found in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub location: Location,
    /// What is wrong, lower case, names in backticks.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Reading a registry failed: every problem found, in file order.
#[derive(Debug)]
pub struct Error {
    /// The problems (at least one).
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// A deprecation as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecated {
    /// Why.
    pub reason: DeprecationReason,
    /// The replacement, when renamed.
    pub renamed_to: Option<String>,
    /// The note, if any.
    pub note: Option<String>,
}

/// The value of an enum member as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberValue {
    /// A string.
    Str(String),
    /// An int.
    Int(i64),
}

/// An enum member as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id.
    pub id: String,
    /// Its value.
    pub value: MemberValue,
    /// Its stability.
    pub stability: Stability,
    /// Set when deprecated.
    pub deprecated: Option<Deprecated>,
    /// Its brief.
    pub brief: String,
}

/// The type of an attribute as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrType {
    /// A plain value type.
    Value(ValueType),
    /// `template[T]`.
    Template(ValueType),
    /// An enum with its members.
    Enum(Vec<Member>),
}

/// An attribute definition (an entry with `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The id.
    pub id: String,
    /// The type.
    pub ty: AttrType,
    /// The stability (`development` when not given).
    pub stability: Stability,
    /// Set when deprecated.
    pub deprecated: Option<Deprecated>,
    /// The brief.
    pub brief: String,
    /// The note.
    pub note: String,
    /// `annotations.code_generation.exclude`: no typed item is generated.
    pub exclude: bool,
    /// Where it is defined.
    pub location: Location,
}

/// The kind of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// `attribute_group`
    AttributeGroup,
    /// `span`
    Span,
    /// `metric`
    Metric,
    /// `metric_group`
    MetricGroup,
    /// `event`
    Event,
    /// `entity` (or the older `resource`)
    Entity,
    /// `scope`
    Scope,
    /// `undefined`
    Undefined,
}

/// A group as read, its attributes resolved (`extends` followed, `ref`s checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group id.
    pub id: String,
    /// Its kind.
    pub kind: GroupKind,
    /// The attributes it has after `extends`, sorted by id, with requirement levels.
    pub attributes: Vec<(String, RequirementLevel)>,
    /// Where it is defined.
    pub location: Location,
}

/// A metric as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// `metric_name`.
    pub name: String,
    /// The id of its group.
    pub group: String,
    /// The instrument.
    pub instrument: Instrument,
    /// The unit.
    pub unit: String,
    /// `annotations.code_generation.metric_value_type`.
    pub number: Option<NumberType>,
    /// The stability.
    pub stability: Stability,
    /// Set when deprecated.
    pub deprecated: Option<Deprecated>,
    /// The brief.
    pub brief: String,
    /// The note.
    pub note: String,
    /// Its attributes after `extends` and `ref`s, sorted by id.
    pub attributes: Vec<(String, RequirementLevel)>,
    /// `annotations.code_generation.exclude`.
    pub exclude: bool,
    /// Where it is defined.
    pub location: Location,
}

/// A resolved registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The name (the manifest's `name`, else its schema URL's name, else the
    /// one given).
    pub name: String,
    /// The version (the last segment of the manifest's `schema_url`, or its
    /// legacy `semconv_version`, else the one given, else empty).
    pub version: String,
    /// The manifest's `schema_url` (or, legacy, `schema_base_url` joined with
    /// `semconv_version`).
    pub schema_url: Option<String>,
    /// The dependencies the manifest declares. `ref`s resolve against the
    /// generated registries given to [`Reader::dependency`], not these.
    pub dependencies: Vec<Dependency>,
    /// How many YAML files were read.
    pub files: usize,
    /// Every group, in file order.
    pub groups: Vec<Group>,
    /// Every attribute defined here, sorted by id.
    pub attributes: Vec<Attribute>,
    /// Every metric, sorted by name.
    pub metrics: Vec<Metric>,
}

impl Registry {
    /// The attribute with this id.
    #[must_use]
    pub fn attribute(&self, id: &str) -> Option<&Attribute> {
        self.attributes
            .binary_search_by(|a| a.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.attributes[i])
    }

    /// The metric with this name.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics
            .binary_search_by(|m| m.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.metrics[i])
    }

    /// How many attributes are enums.
    #[must_use]
    pub fn enum_count(&self) -> usize {
        self.attributes
            .iter()
            .filter(|a| matches!(a.ty, AttrType::Enum(_)))
            .count()
    }
}

/// Reads registries. [`Reader::new`] resolves `ref`s against nothing but the
/// registry itself; add generated registries it depends on with
/// [`Reader::dependency`].
#[derive(Debug, Clone, Default)]
pub struct Reader {
    deps: Vec<&'static crate::model::Registry>,
    name: Option<String>,
    default_name: Option<String>,
    version: Option<String>,
}

impl Reader {
    /// A reader with no dependencies.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves `ref`s not defined in the registry against this generated
    /// registry (for example [`crate::official::REGISTRY`]).
    #[must_use]
    pub fn dependency(mut self, registry: &'static crate::model::Registry) -> Self {
        self.deps.push(registry);
        self
    }

    /// The name to use when the registry has no manifest.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The name to use when neither the manifest nor [`Reader::name`] gives one.
    #[must_use]
    pub(crate) fn default_name(mut self, name: impl Into<String>) -> Self {
        self.default_name = Some(name.into());
        self
    }

    /// The version to use when the registry has no manifest.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Reads every `*.yaml` / `*.yml` file under `dir`, recursively, in path order.
    ///
    /// # Errors
    /// An unreadable file, bad YAML, or a registry problem: every one found.
    pub fn read_dir(&self, dir: impl AsRef<Path>) -> Result<Registry, Error> {
        let dir = dir.as_ref();
        let mut paths = Vec::new();
        collect(dir, &mut paths).map_err(|e| Error {
            diagnostics: vec![Diagnostic {
                location: loc(dir, Pos::default()),
                message: format!("cannot read the registry directory: {e}"),
            }],
        })?;
        paths.sort();
        let mut sources = Vec::with_capacity(paths.len());
        let mut diagnostics = Vec::new();
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((path, text)),
                Err(e) => diagnostics.push(Diagnostic {
                    location: loc(&path, Pos::default()),
                    message: format!("cannot read file: {e}"),
                }),
            }
        }
        if !diagnostics.is_empty() {
            return Err(Error { diagnostics });
        }
        self.read_sources(sources.iter().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// Reads files given as (name, text) pairs. A file named `manifest.yaml`
    /// is the manifest, or else one named `registry_manifest.yaml` (the
    /// legacy name); both forms of its content are read (see
    /// [`Registry::schema_url`]).
    ///
    /// # Errors
    /// Bad YAML or a registry problem: every one found.
    pub fn read_sources<'a>(
        &self,
        sources: impl IntoIterator<Item = (&'a Path, &'a str)>,
    ) -> Result<Registry, Error> {
        let mut cx = Cx {
            diagnostics: Vec::new(),
            raw_groups: Vec::new(),
        };
        let mut manifests = Vec::new();
        let mut files = 0;
        for (path, text) in sources {
            files += 1;
            let root = match yaml::parse(text) {
                Ok(Some(root)) => root,
                Ok(None) => continue,
                Err(e) => {
                    cx.error(path, e.pos, format!("invalid YAML: {}", e.message));
                    continue;
                }
            };
            if manifest::is_manifest(path) {
                manifests.push((path, root));
            } else {
                cx.file(path, &root);
            }
        }
        // Weaver's choice: `manifest.yaml` over the legacy name, the one
        // nearest the registry's root.
        let manifest = manifests
            .iter()
            .min_by_key(|(p, _)| {
                (
                    p.file_name() != Some(MANIFEST.as_ref()),
                    p.components().count(),
                )
            })
            .map(|(path, root)| manifest::read(root, |pos, msg| cx.error(path, pos, msg)))
            .unwrap_or_default();
        let mut registry = cx.resolve(&self.deps);
        registry.name = manifest
            .name
            .or_else(|| self.name.clone())
            .or_else(|| self.default_name.clone())
            .unwrap_or_else(|| "registry".to_owned());
        registry.version = manifest
            .version
            .or_else(|| self.version.clone())
            .unwrap_or_default();
        registry.schema_url = manifest.schema_url;
        registry.dependencies = manifest.dependencies;
        registry.files = files;
        if cx.diagnostics.is_empty() {
            Ok(registry)
        } else {
            Err(Error {
                diagnostics: cx.diagnostics,
            })
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

fn loc(file: &Path, pos: Pos) -> Location {
    Location {
        file: file.to_owned(),
        line: pos.line,
        col: pos.col,
    }
}

/// An attribute entry of a group before resolution.
struct Entry {
    id: String,
    requirement: Option<RequirementLevel>,
    is_ref: bool,
    pos: Pos,
}

struct RawGroup {
    id: String,
    kind: GroupKind,
    extends: Option<(String, Pos)>,
    entries: Vec<Entry>,
    metric: Option<Metric>,
    file: PathBuf,
    pos: Pos,
}

struct Cx {
    diagnostics: Vec<Diagnostic>,
    raw_groups: Vec<(RawGroup, Vec<Attribute>)>,
}

impl Cx {
    fn error(&mut self, file: &Path, pos: Pos, message: String) {
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

    fn file(&mut self, file: &Path, root: &Node) {
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

    fn resolve(&mut self, deps: &[&'static crate::model::Registry]) -> Registry {
        // Attributes by id; duplicates reported against the first definition.
        let mut attributes: BTreeMap<String, Attribute> = BTreeMap::new();
        let raw = std::mem::take(&mut self.raw_groups);
        for (_, defs) in &raw {
            for def in defs {
                if let Some(first) = attributes.get(&def.id) {
                    let message = format!(
                        "duplicate attribute id `{}`, first defined at {}",
                        def.id, first.location
                    );
                    self.diagnostics.push(Diagnostic {
                        location: def.location.clone(),
                        message,
                    });
                } else if let Some(dep) = deps.iter().find(|d| d.attribute(&def.id).is_some()) {
                    let message = format!(
                        "attribute `{}` is already defined by the `{}` registry: use `ref: {}`",
                        def.id, dep.name, def.id
                    );
                    self.diagnostics.push(Diagnostic {
                        location: def.location.clone(),
                        message,
                    });
                } else {
                    attributes.insert(def.id.clone(), def.clone());
                }
            }
        }
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, (g, _)) in raw.iter().enumerate() {
            if let Some(&first) = by_id.get(g.id.as_str()) {
                let f = &raw[first].0;
                let message = format!(
                    "duplicate group id `{}`, first defined at {}",
                    g.id,
                    loc(&f.file, f.pos)
                );
                self.error(&g.file, g.pos, message);
            } else {
                by_id.insert(&g.id, i);
            }
        }
        // Refs.
        for (g, _) in &raw {
            for e in g.entries.iter().filter(|e| e.is_ref) {
                let known = attributes.contains_key(&e.id)
                    || deps.iter().any(|d| d.attribute(&e.id).is_some());
                if !known {
                    let hint = crate::suggest(&e.id, attributes.keys().map(String::as_str))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        &g.file,
                        e.pos,
                        format!(
                            "unknown attribute `{}` in `ref` of group `{}`{hint}",
                            e.id, g.id
                        ),
                    );
                }
            }
            if let Some((ext, pos)) = &g.extends
                && !by_id.contains_key(ext.as_str())
            {
                self.error(
                    &g.file,
                    *pos,
                    format!("group `{}` extends unknown group `{ext}`", g.id),
                );
            }
        }
        // Effective attributes through `extends`.
        let mut memo: HashMap<usize, Vec<(String, RequirementLevel)>> = HashMap::new();
        let mut groups = Vec::with_capacity(raw.len());
        let mut metrics: BTreeMap<String, Metric> = BTreeMap::new();
        for i in 0..raw.len() {
            let mut visiting = Vec::new();
            let attrs = self.effective(&raw, &by_id, i, &mut memo, &mut visiting);
            let g = &raw[i].0;
            groups.push(Group {
                id: g.id.clone(),
                kind: g.kind,
                attributes: attrs.clone(),
                location: loc(&g.file, g.pos),
            });
            if let Some(m) = &g.metric {
                if let Some(first) = metrics.get(&m.name) {
                    let message = format!(
                        "duplicate metric name `{}`, first defined at {}",
                        m.name, first.location
                    );
                    self.diagnostics.push(Diagnostic {
                        location: m.location.clone(),
                        message,
                    });
                    continue;
                }
                let mut m = m.clone();
                m.attributes = attrs;
                metrics.insert(m.name.clone(), m);
            }
        }
        Registry {
            name: String::new(),
            version: String::new(),
            schema_url: None,
            dependencies: Vec::new(),
            files: 0,
            groups,
            attributes: attributes.into_values().collect(),
            metrics: metrics.into_values().collect(),
        }
    }

    fn effective(
        &mut self,
        raw: &[(RawGroup, Vec<Attribute>)],
        by_id: &HashMap<&str, usize>,
        i: usize,
        memo: &mut HashMap<usize, Vec<(String, RequirementLevel)>>,
        visiting: &mut Vec<usize>,
    ) -> Vec<(String, RequirementLevel)> {
        if let Some(done) = memo.get(&i) {
            return done.clone();
        }
        let g = &raw[i].0;
        let mut map: BTreeMap<String, RequirementLevel> = BTreeMap::new();
        if let Some((ext, pos)) = &g.extends
            && let Some(&parent) = by_id.get(ext.as_str())
        {
            if visiting.contains(&parent) || parent == i {
                self.error(
                    &g.file,
                    *pos,
                    format!("`extends` cycle through group `{ext}`"),
                );
            } else {
                visiting.push(i);
                for (id, r) in self.effective(raw, by_id, parent, memo, visiting) {
                    map.insert(id, r);
                }
                visiting.pop();
            }
        }
        for e in &g.entries {
            let level = e
                .requirement
                .or_else(|| map.get(&e.id).copied())
                .unwrap_or(RequirementLevel::Recommended);
            map.insert(e.id.clone(), level);
        }
        let out: Vec<_> = map.into_iter().collect();
        memo.insert(i, out.clone());
        out
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
