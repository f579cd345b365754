//! Alert rules, their unit tests and Grafana dashboards, generated from
//! registries (feature `codegen`).
//!
//! [`Monitoring`] writes, under one output directory (`deploy/` in the
//! semtel repository):
//!
//! | file | what |
//! |---|---|
//! | `prometheus/rules/semtel-pipeline.rules.yml` | alerts on semtel's `pipeline.*` metrics and its own `otel.sdk.*` telemetry |
//! | `prometheus/rules/semtel-objectives.rules.yml` | the objectives as series, and their resolution per stage |
//! | `prometheus/rules/<registry>.rules.yml` | alerts on the metrics of each user registry, by their shape |
//! | `prometheus/tests/<registry>.test.yml` | `promtool test rules` cases for those alerts: each fires on a failing series and stays quiet on a healthy one |
//! | `grafana/dashboards/semtel-pipeline-overview.json` | the pipeline overview |
//! | `grafana/dashboards/semtel-<registry>.json` | a panel for each metric of a user registry |
//! | `objectives.yaml` | thresholds and windows: written once when missing, then yours to edit |
//!
//! Metric and label names are those Prometheus, Mimir and Grafana Cloud give
//! OTLP metrics ([`crate::prometheus`]), so the same rules and queries work
//! on metrics pushed over OTLP and on scraped ones.
//!
//! # Alerts
//!
//! On semtel's pipeline metrics, per stage unless said:
//!
//! | alert | fires when |
//! |---|---|
//! | `PipelineStageFailureRatioHigh` | failed calls over calls above `failure_ratio` for `failure_window` |
//! | `PipelineStalled` (`reason="no_runs"`) | a pipeline seen within `stall_lookback` ran no stage for `stall_window` |
//! | `PipelineStalled` (`reason="no_output"`) | a pipeline counted records in but none out for `stall_window` |
//! | `PipelineStageDurationP99High` | the p99 of `pipeline.stage.duration` above `duration_p99` for `duration_window` |
//! | `PipelineStageLagGrowing` | `pipeline.lag` above `lag` and growing over `lag_window` |
//! | `PipelineStageDeadLettersGrowing` | more than `dead_letters` dead letters within `dead_letter_window` |
//! | `PipelineStageErrorBudgetBurn` | where `success_ratio` is declared: multi-window burn rates (14.4x over 1h and 5m or 6x over 6h and 30m: critical; 3x over 1d and 2h or 1x over 3d and 6h: warning) |
//! | `SemtelTelemetryLost` | per process: spans or logs dropped, or spans, logs or metric points not exported, within `telemetry_loss_window` |
//!
//! On the metrics of a user's registry, by their shape, summed by their
//! required attributes and `pipeline.name` / `pipeline.stage.name`:
//!
//! | alert | for | fires when |
//! |---|---|---|
//! | `<Metric>FailureRatioHigh` | counters and histograms with `error.type` | points with `error.type` over all points above `failure_ratio` for `failure_window` |
//! | `<Metric>ErrorBudgetBurn` | the same, where `success_ratio` is declared | the multi-window burn rates above |
//! | `<Metric>P99High` | histograms in a time unit, or with `p99` declared | the p99 above `p99` (default: `duration_p99` in the metric's unit) for `p99_window` |
//! | `<Metric>High` | gauges and up-down counters with `max` declared | the largest series above `max` for `max_window` |
//!
//! Their settings live under `metrics.<metric name>` in the objectives file
//! (falling back to `defaults`) and are written into the rules as numbers.
//!
//! # Objectives
//!
//! Thresholds and windows have built-in defaults, and overrides per pipeline
//! and per stage in `objectives.yaml`, which the generator writes once (every
//! setting commented out at its default) and then only reads. Edit it and
//! run the generator again; the generated files are never edited.
//!
//! Thresholds become series: `semtel:objective:<setting>` carries each value
//! with the labels of its scope (none for the default, `pipeline_name`, or
//! `pipeline_name` and `pipeline_stage_name`), and a recording rule resolves
//! the most specific one for every stage seen, as
//! `pipeline_stage:objective:<setting>` (`pipeline:objective:<setting>` for
//! per-pipeline settings). Alerts compare against these series, and the
//! dashboards draw them as dashed lines. PromQL ranges are literals, so every
//! distinct window value gets its own rule, keeping the stages whose
//! resolved window is that value.
//!
//! # Example
//!
//! ```no_run
//! // From a build script or a small binary of yours:
//! semtel_conventions::codegen::Monitoring::new()
//!     .registry("conventions") // your registry, the one your build script compiles
//!     .out("deploy")
//!     .generate()
//!     .unwrap_or_else(|e| panic!("{e}"));
//! ```
//!
//! or `semtel-conventions monitoring --registry conventions --out deploy`.

mod dashboards;
mod humanize;
mod names;
mod objectives;
mod pipeline_rules;
mod registry_rules;
mod rules;

pub use dashboards::{LOKI_UID, PROMETHEUS_UID, TEMPO_UID};
pub use objectives::Objectives;

use super::registry::{Diagnostic, Error as RegistryError, Location, Registry};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where rule files go, under the output directory.
pub const RULES_DIR: &str = "prometheus/rules";
/// Where `promtool test rules` files go, under the output directory.
pub const TESTS_DIR: &str = "prometheus/tests";
/// Where dashboards go, under the output directory.
pub const DASHBOARDS_DIR: &str = "grafana/dashboards";
/// The objectives file, under the output directory unless set.
pub const OBJECTIVES_FILE: &str = "objectives.yaml";
/// The uid of the pipeline overview dashboard.
pub const OVERVIEW_UID: &str = pipeline_rules::OVERVIEW_UID;

/// Generating rules or dashboards failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A registry has problems: every one found.
    Registry(RegistryError),
    /// The objectives have problems: every one found, with file, line and column.
    Objectives(Vec<Diagnostic>),
    /// A name the rules need is missing from semtel's tables.
    Names(String),
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// The builder lacks a setting, or two outputs would share a file.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(e) => write!(f, "{e}"),
            Self::Objectives(d) => {
                for (i, d) in d.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{d}")?;
                }
                Ok(())
            }
            Self::Names(e) | Self::Config(e) => f.write_str(e),
            Self::Io(p, e) => write!(f, "{}: {e}", p.display()),
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

/// One generated file: its path under the output directory and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative to the output directory (`prometheus/rules/semtel-pipeline.rules.yml`).
    pub path: PathBuf,
    /// The file's text.
    pub contents: String,
}

/// Generates alert rules, their unit tests and dashboards from semtel's
/// pipeline registry and users' registries; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Monitoring {
    registries: Vec<PathBuf>,
    objectives: Option<Objectives>,
    objectives_file: Option<PathBuf>,
    out: Option<PathBuf>,
    command: String,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self::new()
    }
}

impl Monitoring {
    /// A generator for semtel's pipeline rules and overview alone; add your
    /// registries with [`Monitoring::registry`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            registries: Vec::new(),
            objectives: None,
            objectives_file: None,
            out: None,
            command: "semtel_conventions::codegen::Monitoring".to_owned(),
        }
    }

    /// Adds a user's registry directory (Weaver YAML, as for [`super::Builder`]):
    /// its metrics get rules, unit tests and a dashboard.
    #[must_use]
    pub fn registry(mut self, dir: impl Into<PathBuf>) -> Self {
        self.registries.push(dir.into());
        self
    }

    /// Uses these objectives rather than reading a file.
    #[must_use]
    pub fn objectives(mut self, objectives: Objectives) -> Self {
        self.objectives = Some(objectives);
        self
    }

    /// The objectives file (default: `objectives.yaml` in the output directory).
    #[must_use]
    pub fn objectives_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.objectives_file = Some(file.into());
        self
    }

    /// The output directory.
    #[must_use]
    pub fn out(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out = Some(dir.into());
        self
    }

    /// The command the generated files' headers name as theirs.
    #[must_use]
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.command = command.into();
        self
    }

    fn objectives_path(&self) -> Option<PathBuf> {
        self.objectives_file
            .clone()
            .or_else(|| self.out.as_ref().map(|o| o.join(OBJECTIVES_FILE)))
    }

    /// The objectives in use: given, else read from the file when it exists,
    /// else the built-in defaults; and how the headers name them.
    fn load_objectives(&self) -> Result<(Objectives, String), Error> {
        if let Some(o) = &self.objectives {
            return Ok((o.clone(), "objectives given in code".to_owned()));
        }
        match self.objectives_path() {
            Some(path) if path.exists() => {
                let name = path.file_name().map_or_else(
                    || OBJECTIVES_FILE.to_owned(),
                    |f| f.to_string_lossy().into_owned(),
                );
                Ok((Objectives::read(&path)?, name))
            }
            _ => Ok((Objectives::default(), "the default objectives".to_owned())),
        }
    }

    /// Reads the registries and objectives and renders every file, writing
    /// nothing.
    ///
    /// # Errors
    /// A registry or objectives problem (every one found), or an objective
    /// for a metric no registry has.
    pub fn render(&self) -> Result<Vec<GeneratedFile>, Error> {
        let (objectives, source) = self.load_objectives()?;
        let names = names::Names::new()?;
        let mut registries = Vec::new();
        for dir in &self.registries {
            let read = super::Builder::new().registry(dir).read();
            registries.push(read.map_err(|e| match e {
                super::Error::Registry(e) => Error::Registry(e),
                other => Error::Config(other.to_string()),
            })?);
        }
        check_metric_objectives(&objectives, &registries)?;
        let version = crate::pipeline::REGISTRY.version;
        let header = |what: &str| {
            format!(
                "Generated by {} from {what} and {source}. Do not edit.\nEdit the objectives file and run the command again.",
                self.command
            )
        };
        let pipeline_what = format!("semtel's pipeline registry v{version}");
        let mut files = vec![
            GeneratedFile {
                path: Path::new(RULES_DIR).join("semtel-objectives.rules.yml"),
                contents: rules::render_rules(
                    &header(&pipeline_what),
                    &pipeline_rules::objective_groups(&names, &objectives),
                ),
            },
            GeneratedFile {
                path: Path::new(RULES_DIR).join("semtel-pipeline.rules.yml"),
                contents: rules::render_rules(
                    &header(&pipeline_what),
                    &pipeline_rules::pipeline_groups(&names, &objectives),
                ),
            },
            GeneratedFile {
                path: Path::new(DASHBOARDS_DIR).join(format!("{OVERVIEW_UID}.json")),
                contents: json(&dashboards::overview(
                    &names,
                    OVERVIEW_UID,
                    &header(&pipeline_what).replace('\n', " "),
                )),
            },
        ];
        for r in &registries {
            let slug = slug(&r.name);
            let uid = format!("semtel-{slug}");
            let what = match r.version.as_str() {
                "" => format!("the `{}` registry", r.name),
                v => format!("the `{}` registry v{v}", r.name),
            };
            let (groups, tests) = registry_rules::registry_groups(r, &objectives, &uid);
            let rule_file = format!("{slug}.rules.yml");
            files.push(GeneratedFile {
                path: Path::new(RULES_DIR).join(&rule_file),
                contents: rules::render_rules(&header(&what), &groups),
            });
            if !tests.is_empty() {
                files.push(GeneratedFile {
                    path: Path::new(TESTS_DIR).join(format!("{slug}.test.yml")),
                    contents: rules::render_tests(
                        &header(&what),
                        &rules::TestFile {
                            rule_files: vec![format!("../rules/{rule_file}")],
                            tests,
                        },
                    ),
                });
            }
            files.push(GeneratedFile {
                path: Path::new(DASHBOARDS_DIR).join(format!("{uid}.json")),
                contents: json(&dashboards::registry(
                    r,
                    &uid,
                    &header(&what).replace('\n', " "),
                )),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &files {
            if !seen.insert(&f.path) {
                return Err(Error::Config(format!(
                    "two outputs would be written to {}: give the registries distinct names (`name` in the manifest, manifest.yaml)",
                    f.path.display()
                )));
            }
        }
        Ok(files)
    }

    /// Renders and writes every file under the output directory (only those
    /// whose text changes), and the objectives file when it is missing.
    /// Returns the files it wrote; writes nothing when rendering fails.
    ///
    /// # Errors
    /// No output directory, what [`Monitoring::render`] reports, or an I/O error.
    pub fn generate(&self) -> Result<Vec<PathBuf>, Error> {
        let out = self
            .out
            .clone()
            .ok_or_else(|| Error::Config("no output directory set".to_owned()))?;
        // Render first: nothing is written when the registries or objectives
        // have problems. A missing objectives file reads as the defaults,
        // which is what its template says.
        let files = self.render()?;
        let mut written = Vec::new();
        if self.objectives.is_none()
            && let Some(path) = self.objectives_path()
            && !path.exists()
        {
            write(&path, &objectives::template())?;
            written.push(path);
        }
        for f in files {
            let path = out.join(&f.path);
            if std::fs::read_to_string(&path).is_ok_and(|old| old == f.contents) {
                continue;
            }
            write(&path, &f.contents)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Every metric named under `metrics:` must be in a registry.
fn check_metric_objectives(o: &Objectives, registries: &[Registry]) -> Result<(), Error> {
    let known: Vec<&str> = registries
        .iter()
        .flat_map(|r| r.metrics.iter().map(|m| m.name.as_str()))
        .collect();
    let problems: Vec<Diagnostic> = o
        .metric_names()
        .filter(|(name, _)| !known.contains(name))
        .map(|(name, location): (&str, &Location)| {
            let hint = crate::suggest(name, known.iter().copied())
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    if known.is_empty() {
                        " (no registry was given)".to_owned()
                    } else {
                        String::new()
                    }
                });
            Diagnostic {
                location: location.clone(),
                message: format!("objectives for unknown metric `{name}`{hint}"),
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Objectives(problems))
    }
}

/// A file-name and uid-safe form of a registry name.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "registry".to_owned()
    } else {
        s.chars().take(32).collect()
    }
}

fn json(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io(parent.to_owned(), e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::Io(path.to_owned(), e))
}
