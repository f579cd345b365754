//! Reading Weaver registries and generating Rust from them (feature `codegen`).
//!
//! [`Reader`] reads a directory of Weaver-format YAML into a resolved
//! [`Registry`]; [`Builder`] turns one into a Rust file of typed items (attribute
//! keys, enums, metric descriptors, with the registry's briefs as doc comments)
//! and the tables [`crate::model::Registry`] searches.
//!
//! # In a build script
//!
//! ```no_run
//! // build.rs, with `semtel-conventions = { version = "0.1", features = ["codegen"] }`
//! // under [build-dependencies] and the registry in `conventions/*.yaml`.
//! let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("conventions.rs");
//! semtel_conventions::codegen::Builder::new()
//!     .registry("conventions")
//!     .out(out)
//!     .generate()
//!     .unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! and in the crate:
//!
//! ```ignore
//! pub mod conventions {
//!     include!(concat!(env!("OUT_DIR"), "/conventions.rs"));
//! }
//! ```
//!
//! A registry may `ref` attributes of the official and pipeline registries
//! (`ref: error.type`); see [`Builder::no_dependencies`].
//!
//! The registry's name and version come from its manifest, Weaver's
//! `manifest.yaml` (or the legacy `registry_manifest.yaml`, also read), so
//! the same directory is one `weaver registry check` loads:
//!
//! ```yaml
//! name: shop
//! schema_url: https://example.com/schemas/shop/1.0.0   # the version is the last segment
//! dependencies:
//!   - schema_url: https://opentelemetry.io/schemas/1.42.0
//!     registry_path: https://github.com/open-telemetry/semantic-conventions@v1.42.0[model]
//! ```
//!
//! # From the command line
//!
//! ```text
//! cargo run -p semtel-conventions --features codegen -- generate --registry DIR --out FILE
//! cargo run -p semtel-conventions --features codegen -- check --registry DIR --timing
//! cargo run -p semtel-conventions --features codegen -- update   # the committed files
//! cargo run -p semtel-conventions --features codegen -- monitoring --registry DIR --out deploy
//! ```
//!
//! # Alert rules and dashboards
//!
//! [`Monitoring`] generates Prometheus alert rules, their `promtool` unit
//! tests and Grafana dashboards from the pipeline registry and yours, with
//! thresholds and windows from an [`Objectives`] file; see [`monitoring`].

mod manifest;
pub mod monitoring;
mod registry;
mod render;
mod yaml;

pub use manifest::{Dependency, LEGACY_MANIFEST, MANIFEST};
pub use monitoring::{Monitoring, Objectives};
pub use registry::{
    AttrType, Attribute, Deprecated, Diagnostic, Error as RegistryError, Group, GroupKind,
    Location, Member, MemberValue, Metric, Reader, Registry,
};
pub use yaml::{Pos, to_json as yaml_to_json};

use crate::model::Source;
use std::fmt;
use std::path::{Path, PathBuf};

/// Code generation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The registry has problems: every one found.
    Registry(RegistryError),
    /// Two items would get the same Rust name.
    Names(String),
    /// The output could not be written.
    Io(PathBuf, std::io::Error),
    /// The builder lacks a setting.
    Config(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(e) => write!(f, "{e}"),
            Self::Names(e) => write!(f, "{e}"),
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Config(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Registry(e) => Some(e),
            Self::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        Self::Registry(e)
    }
}

/// Generates Rust from a registry; see the [module docs](self) for an example.
#[derive(Debug, Clone)]
pub struct Builder {
    registry: Option<PathBuf>,
    out: Option<PathBuf>,
    reader: Reader,
    source: Source,
    crate_path: String,
    experimental_feature: Option<String>,
    briefs: bool,
    command: String,
    what: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder for a user's registry: briefs become doc comments, `ref`s may
    /// name attributes of the official and pipeline registries, nothing is
    /// behind a feature.
    #[must_use]
    pub fn new() -> Self {
        Self {
            registry: None,
            out: None,
            reader: Reader::new()
                .dependency(&crate::official::REGISTRY)
                .dependency(&crate::pipeline::REGISTRY),
            source: Source::User,
            crate_path: "::semtel_conventions".to_owned(),
            experimental_feature: None,
            briefs: true,
            command: "semtel_conventions::codegen".to_owned(),
            what: None,
        }
    }

    /// The builder of the committed official tables, from the official model directory.
    #[doc(hidden)]
    #[must_use]
    pub fn official(model: impl Into<PathBuf>) -> Self {
        Self {
            registry: Some(model.into()),
            reader: Reader::new()
                .name("opentelemetry")
                .version(crate::SEMCONV_VERSION),
            source: Source::Official,
            experimental_feature: Some("experimental".to_owned()),
            briefs: false,
            command: UPDATE_COMMAND.to_owned(),
            what: Some(format!("semantic conventions v{}", crate::SEMCONV_VERSION)),
            ..Self::new()
        }
    }

    /// The builder of the committed pipeline tables, from `conventions/registry`.
    #[doc(hidden)]
    #[must_use]
    pub fn pipeline() -> Self {
        Self {
            registry: Some(PathBuf::from(PIPELINE_REGISTRY_DIR)),
            reader: Reader::new().dependency(&crate::official::REGISTRY),
            source: Source::Pipeline,
            command: UPDATE_COMMAND.to_owned(),
            what: Some(format!(
                "the semtel pipeline registry and semantic conventions v{}",
                crate::SEMCONV_VERSION
            )),
            ..Self::new()
        }
    }

    /// The registry directory (every `*.yaml` under it, recursively).
    #[must_use]
    pub fn registry(mut self, dir: impl Into<PathBuf>) -> Self {
        self.registry = Some(dir.into());
        self
    }

    /// The Rust file to write.
    #[must_use]
    pub fn out(mut self, file: impl Into<PathBuf>) -> Self {
        self.out = Some(file.into());
        self
    }

    /// The path the output names this crate by, `::semtel_conventions` unless
    /// set (for example `::semtel::conventions` through the runtime's re-export).
    #[must_use]
    pub fn crate_path(mut self, path: impl Into<String>) -> Self {
        self.crate_path = path.into();
        self
    }

    /// Puts typed items that are not stable behind `#[cfg(feature = "<feature>")]`
    /// of the generated crate. Tables keep every entry.
    #[must_use]
    pub fn experimental_feature(mut self, feature: impl Into<String>) -> Self {
        self.experimental_feature = Some(feature.into());
        self
    }

    /// Resolves `ref`s against the registry alone, not the official and
    /// pipeline registries.
    #[must_use]
    pub fn no_dependencies(mut self) -> Self {
        self.reader = Reader::new();
        self
    }

    /// Whether briefs become doc comments (default: yes).
    #[must_use]
    pub fn briefs(mut self, briefs: bool) -> Self {
        self.briefs = briefs;
        self
    }

    /// Reads and resolves the registry.
    ///
    /// # Errors
    /// No registry set, or every problem found in it.
    pub fn read(&self) -> Result<Registry, Error> {
        let dir = self
            .registry
            .as_ref()
            .ok_or(Error::Config("no registry directory set"))?;
        let mut reader = self.reader.clone();
        if let Some(name) = dir.canonicalize().ok().as_deref().and_then(Path::file_name) {
            // The name when the registry has no manifest: its directory's, never its path.
            reader = reader.default_name(name.to_string_lossy());
        }
        Ok(reader.read_dir(dir)?)
    }

    /// Renders a registry read by [`Builder::read`] to Rust source.
    ///
    /// # Errors
    /// Two items would get the same Rust name.
    pub fn render(&self, registry: &Registry) -> Result<String, Error> {
        let what = self
            .what
            .clone()
            .unwrap_or_else(|| match registry.version.as_str() {
                "" => format!("the `{}` registry", registry.name),
                v => format!("the `{}` registry v{v}", registry.name),
            });
        let opts = render::Options {
            command: self.command.clone(),
            what,
            crate_path: self.crate_path.clone(),
            source: self.source,
            experimental_feature: self.experimental_feature.clone(),
            briefs: self.briefs,
        };
        render::render(registry, &opts).map_err(Error::Names)
    }

    /// Reads, renders and writes the output file (only when its content
    /// changes). In a build script (`OUT_DIR` set) it also prints
    /// `cargo:rerun-if-changed` for the registry directory.
    ///
    /// # Errors
    /// No registry or output set, a registry problem, a name clash or an I/O error.
    pub fn generate(&self) -> Result<Registry, Error> {
        let out = self
            .out
            .as_ref()
            .ok_or(Error::Config("no output file set"))?;
        let registry = self.read()?;
        let code = self.render(&registry)?;
        write_if_changed(out, &code)?;
        if std::env::var_os("OUT_DIR").is_some()
            && let Some(dir) = &self.registry
        {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        Ok(registry)
    }
}

/// The command that regenerates the committed files.
const UPDATE_COMMAND: &str = "`cargo run -p semtel-conventions --features codegen -- update`";

/// The pipeline registry's directory in this crate.
#[doc(hidden)]
pub const PIPELINE_REGISTRY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/registry");

/// The committed official output.
#[doc(hidden)]
pub const OFFICIAL_OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/generated/official.rs");

/// The committed pipeline output.
#[doc(hidden)]
pub const PIPELINE_OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/generated/pipeline.rs");

/// Where the official model is: `SEMCONV_MODEL_DIR`, else `shared/semconv/model`
/// beside the workspace checkout.
#[doc(hidden)]
#[must_use]
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("SEMCONV_MODEL_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/semconv/model"
            ))
        },
        PathBuf::from,
    )
}

fn write_if_changed(path: &Path, code: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == code) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io(parent.to_owned(), e))?;
    }
    std::fs::write(path, code).map_err(|e| Error::Io(path.to_owned(), e))
}
