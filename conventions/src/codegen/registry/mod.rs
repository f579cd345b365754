//! The reader: Weaver-format YAML files in, a resolved [`Registry`] out.

use super::manifest::{self, Dependency, MANIFEST};
use super::yaml::{self, Pos};
use crate::model::{
    DeprecationReason, Instrument, NumberType, RequirementLevel, Stability, ValueType,
};
use std::fmt;
use std::path::{Path, PathBuf};

mod parse;
mod resolve;

use parse::{Cx, loc};

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
        let mut cx = Cx::new();
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
