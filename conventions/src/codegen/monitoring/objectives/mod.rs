//! Objectives: the thresholds and windows of the generated alerts, with
//! defaults, overrides per pipeline and per stage, and settings for the
//! metrics of users' registries, read from a small YAML file.

use super::super::registry::Location;
use super::super::yaml;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

mod read;

use read::Cx;

/// What a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Set in `defaults`, per pipeline or per stage.
    Stage,
    /// Set in `defaults` or per pipeline.
    Pipeline,
    /// Set in `defaults` only.
    Global,
}

/// How a value is written and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A share in `[0, 1)`.
    Ratio,
    /// A share in `(0, 1)`: an objective of success.
    Objective,
    /// A duration such as `5m`: the range of an expression. Whole seconds, up to 30 days.
    Window,
    /// A duration such as `250ms` or `2s`: a threshold in seconds.
    Seconds,
    /// A number, zero or more.
    Count,
}

/// One setting of the objectives file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Setting {
    FailureRatio,
    FailureWindow,
    DurationP99,
    DurationWindow,
    StallWindow,
    StallLookback,
    Lag,
    LagWindow,
    DeadLetters,
    DeadLetterWindow,
    SuccessRatio,
    TelemetryLossWindow,
}

impl Setting {
    pub(crate) const ALL: [Setting; 12] = [
        Setting::FailureRatio,
        Setting::FailureWindow,
        Setting::DurationP99,
        Setting::DurationWindow,
        Setting::StallWindow,
        Setting::StallLookback,
        Setting::Lag,
        Setting::LagWindow,
        Setting::DeadLetters,
        Setting::DeadLetterWindow,
        Setting::SuccessRatio,
        Setting::TelemetryLossWindow,
    ];

    /// The key in the file.
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Self::FailureRatio => "failure_ratio",
            Self::FailureWindow => "failure_window",
            Self::DurationP99 => "duration_p99",
            Self::DurationWindow => "duration_window",
            Self::StallWindow => "stall_window",
            Self::StallLookback => "stall_lookback",
            Self::Lag => "lag",
            Self::LagWindow => "lag_window",
            Self::DeadLetters => "dead_letters",
            Self::DeadLetterWindow => "dead_letter_window",
            Self::SuccessRatio => "success_ratio",
            Self::TelemetryLossWindow => "telemetry_loss_window",
        }
    }

    /// The last part of its series' name, `semtel:objective:<this>`, with
    /// the unit of durations in it.
    pub(crate) fn series(self) -> String {
        match self.kind() {
            Kind::Window | Kind::Seconds => format!("{}_seconds", self.key()),
            _ => self.key().to_owned(),
        }
    }

    pub(crate) const fn level(self) -> Level {
        match self {
            Self::StallWindow => Level::Pipeline,
            Self::StallLookback | Self::TelemetryLossWindow => Level::Global,
            _ => Level::Stage,
        }
    }

    pub(crate) const fn kind(self) -> Kind {
        match self {
            Self::FailureRatio => Kind::Ratio,
            Self::SuccessRatio => Kind::Objective,
            Self::DurationP99 | Self::Lag => Kind::Seconds,
            Self::DeadLetters => Kind::Count,
            _ => Kind::Window,
        }
    }

    /// The built-in default; `None` for a setting that is off unless declared.
    pub(crate) const fn default(self) -> Option<f64> {
        Some(match self {
            Self::FailureRatio => 0.05,
            Self::FailureWindow | Self::DurationWindow => 300.0,
            Self::DurationP99 => 5.0,
            Self::StallWindow => 900.0,
            Self::StallLookback => 86_400.0,
            Self::Lag => 300.0,
            Self::LagWindow | Self::TelemetryLossWindow => 600.0,
            Self::DeadLetters => 0.0,
            Self::DeadLetterWindow => 900.0,
            Self::SuccessRatio => return None,
        })
    }

    /// One line for the template and the docs.
    pub(crate) const fn help(self) -> &'static str {
        match self {
            Self::FailureRatio => {
                "share of a stage's calls that may fail before `PipelineStageFailureRatioHigh`"
            }
            Self::FailureWindow => "range of that ratio, and how long it must hold",
            Self::DurationP99 => {
                "objective of a stage's p99 duration, `PipelineStageDurationP99High` above it"
            }
            Self::DurationWindow => "range of that p99, and how long it must hold",
            Self::StallWindow => {
                "how long a pipeline may run no stage, or take records in and put none out, before `PipelineStalled`"
            }
            Self::StallLookback => {
                "how long after a pipeline was last seen it still counts as expected to run"
            }
            Self::Lag => {
                "lag (watermark delay) above which a growing lag fires `PipelineStageLagGrowing`"
            }
            Self::LagWindow => "range over which the lag must grow, and how long it must hold",
            Self::DeadLetters => {
                "dead letters a stage may send within the window before `PipelineStageDeadLettersGrowing`"
            }
            Self::DeadLetterWindow => "range those dead letters are counted over",
            Self::SuccessRatio => {
                "objective of successful calls: declare it to get multi-window burn-rate alerts"
            }
            Self::TelemetryLossWindow => {
                "range over which any telemetry semtel drops or fails to export fires `SemtelTelemetryLost`"
            }
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// A setting of one metric of a user's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum MetricSetting {
    FailureRatio,
    FailureWindow,
    P99,
    P99Window,
    Max,
    MaxWindow,
    SuccessRatio,
}

impl MetricSetting {
    const ALL: [MetricSetting; 7] = [
        MetricSetting::FailureRatio,
        MetricSetting::FailureWindow,
        MetricSetting::P99,
        MetricSetting::P99Window,
        MetricSetting::Max,
        MetricSetting::MaxWindow,
        MetricSetting::SuccessRatio,
    ];

    pub(crate) const fn key(self) -> &'static str {
        match self {
            Self::FailureRatio => "failure_ratio",
            Self::FailureWindow => "failure_window",
            Self::P99 => "p99",
            Self::P99Window => "p99_window",
            Self::Max => "max",
            Self::MaxWindow => "max_window",
            Self::SuccessRatio => "success_ratio",
        }
    }

    const fn kind(self) -> Kind {
        match self {
            Self::FailureRatio => Kind::Ratio,
            Self::SuccessRatio => Kind::Objective,
            Self::P99 | Self::Max => Kind::Count,
            Self::FailureWindow | Self::P99Window | Self::MaxWindow => Kind::Window,
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// Where a setting holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Scope {
    /// `defaults`.
    Default,
    /// `pipelines.<name>`.
    Pipeline(String),
    /// `pipelines.<name>.stages.<stage>`.
    Stage(String, String),
}

/// The objectives of the generated alerts: defaults, overrides per pipeline
/// and per stage, and settings for the metrics of users' registries.
///
/// Read from YAML (see [`Objectives::parse`]); [`Objectives::default`] holds the
/// built-in defaults alone.
///
/// ```
/// use semtel_conventions::codegen::Objectives;
///
/// let o = Objectives::parse(
///     "defaults:\n  failure_window: 1m\npipelines:\n  orders:\n    stages:\n      load:\n        duration_p99: 250ms\n",
///     "objectives.yaml",
/// )
/// .unwrap();
/// assert!(Objectives::parse("defaults:\n  failure_ratio: 2\n", "objectives.yaml").is_err());
/// # let _ = o;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Objectives {
    pub(crate) values: BTreeMap<Scope, BTreeMap<Setting, f64>>,
    pub(crate) metrics: BTreeMap<String, (Location, BTreeMap<MetricSetting, f64>)>,
}

impl Default for Objectives {
    fn default() -> Self {
        let defaults = Setting::ALL
            .into_iter()
            .filter_map(|s| s.default().map(|v| (s, v)))
            .collect();
        Self {
            values: BTreeMap::from([(Scope::Default, defaults)]),
            metrics: BTreeMap::new(),
        }
    }
}

impl Objectives {
    /// Reads objectives from YAML text; `file` names it in errors.
    ///
    /// ```yaml
    /// defaults:                 # every key is optional: built-in defaults apply
    ///   failure_ratio: 0.05
    ///   failure_window: 5m
    /// pipelines:
    ///   orders:
    ///     stall_window: 1h      # per pipeline
    ///     stages:
    ///       load:               # per stage
    ///         duration_p99: 2s
    ///         success_ratio: 0.995
    /// metrics:                  # metrics of your registry
    ///   orders.validated:
    ///     failure_ratio: 0.2
    /// ```
    ///
    /// # Errors
    /// Every problem found: bad YAML, an unknown key (with the closest known
    /// one), a value out of range, a setting at a level it does not apply to.
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Self, super::Error> {
        let file = file.as_ref();
        let mut cx = Cx::new(file);
        let mut out = Self::default();
        match yaml::parse(text) {
            Err(e) => cx.error(e.pos, format!("invalid YAML: {}", e.message)),
            Ok(None) => {}
            Ok(Some(root)) => cx.root(&root, &mut out),
        }
        cx.check_lookback(&out);
        if cx.problems.is_empty() {
            Ok(out)
        } else {
            Err(super::Error::Objectives(cx.problems))
        }
    }

    /// Reads objectives from a file.
    ///
    /// # Errors
    /// The file cannot be read, or [`Objectives::parse`] fails.
    pub fn read(file: impl AsRef<Path>) -> Result<Self, super::Error> {
        let file = file.as_ref();
        let text =
            std::fs::read_to_string(file).map_err(|e| super::Error::Io(file.to_owned(), e))?;
        Self::parse(&text, file)
    }

    /// The value at exactly this scope, if set there.
    pub(crate) fn at(&self, scope: &Scope, setting: Setting) -> Option<f64> {
        self.values.get(scope)?.get(&setting).copied()
    }

    /// The default of a setting (the file's, else the built-in one).
    pub(crate) fn default_of(&self, setting: Setting) -> Option<f64> {
        self.at(&Scope::Default, setting)
    }

    /// Every scope that sets this setting, with its value.
    pub(crate) fn scopes_of(&self, setting: Setting) -> impl Iterator<Item = (&Scope, f64)> {
        self.values
            .iter()
            .filter_map(move |(scope, m)| m.get(&setting).map(|v| (scope, *v)))
    }

    /// Every distinct value the setting takes, sorted.
    pub(crate) fn distinct(&self, setting: Setting) -> Vec<f64> {
        let mut v: Vec<f64> = self.scopes_of(setting).map(|(_, v)| v).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }

    /// A metric's own setting.
    pub(crate) fn metric(&self, name: &str, setting: MetricSetting) -> Option<f64> {
        self.metrics.get(name)?.1.get(&setting).copied()
    }

    /// The metrics the file has settings for, with where.
    pub(crate) fn metric_names(&self) -> impl Iterator<Item = (&str, &Location)> {
        self.metrics.iter().map(|(n, (l, _))| (n.as_str(), l))
    }
}

/// A Prometheus duration (`250ms`, `30s`, `5m`, `1h30m`, `1d`, `1w`, `1y`) in seconds.
pub(crate) fn parse_duration(text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    let mut total_ms: u128 = 0;
    let mut rest = text;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let units: [(&str, u128); 7] = [
            ("ms", 1),
            ("s", 1_000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
            ("w", 604_800_000),
            ("y", 31_536_000_000),
        ];
        let (rank, (unit, ms)) = units
            .iter()
            .enumerate()
            .find(|(_, (u, _))| rest.starts_with(u))?;
        // Largest unit first, each once (`1h30m`, not `30m1h`).
        if rank >= last_rank {
            return None;
        }
        last_rank = rank;
        rest = &rest[unit.len()..];
        total_ms = total_ms.checked_add(n.checked_mul(*ms)?)?;
    }
    #[allow(clippy::cast_precision_loss)] // bounded above: 12 digits of years
    Some(total_ms as f64 / 1000.0)
}

/// Seconds as a Prometheus duration, in the largest units that are exact
/// (`300` gives `5m`, `5400` gives `1h30m`, `0.25` gives `250ms`).
pub(crate) fn duration(seconds: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked: finite, >= 0
    let mut ms = if seconds.is_finite() && seconds >= 0.0 {
        (seconds * 1000.0).round() as u128
    } else {
        0
    };
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

/// The template written when the file is missing: every setting commented
/// out at its built-in default, and commented examples of overrides.
pub(crate) fn template() -> String {
    let mut t = String::from(
        "# Objectives of the alert rules semtel generates: thresholds and windows.\n\
         #\n\
         # This file is yours: `semtel-conventions monitoring` writes it once, when it is\n\
         # missing, and reads it on every run. Uncomment and edit, then run the command again.\n\
         # Settings fall back from a stage to its pipeline to `defaults` to the built-in\n\
         # value shown. Thresholds become `semtel:objective:*` series that the rules read;\n\
         # each distinct window becomes its own rule.\n\
         #\n\
         # Durations: 250ms, 30s, 5m, 1h30m, 1d. Ratios: 0 to 1.\n\
         defaults:\n",
    );
    for s in Setting::ALL {
        let value = match (s.default(), s.kind()) {
            (Some(v), Kind::Window | Kind::Seconds) => duration(v),
            (Some(v), _) => format!("{v}"),
            (None, _) => "0.99".to_owned(),
        };
        let _ = writeln!(t, "  # {}: {value}\n  #   {}.", s.key(), s.help());
    }
    t.push_str(
        "\n# Per pipeline, per stage (names as in `#[stage(pipeline = ..., name = ...)]`):\n\
         # pipelines:\n\
         #   orders:\n\
         #     stall_window: 1h\n\
         #     stages:\n\
         #       load:\n\
         #         duration_p99: 2s\n\
         #         success_ratio: 0.995\n\
         #\n\
         # Metrics of your own registry (values in the metric's unit): `failure_ratio`\n\
         # and `success_ratio` for metrics with `error.type`, `p99` for histograms, `max`\n\
         # for gauges and up-down counters, and their `*_window`s.\n\
         # metrics:\n\
         #   orders.validated:\n\
         #     failure_ratio: 0.2\n",
    );
    t
}

#[cfg(test)]
mod tests;
