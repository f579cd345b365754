//! Reading an objectives file: every problem found is collected with its
//! place in the file, unknown keys get the closest known one.

use super::{Kind, Level, MetricSetting, Objectives, Scope, Setting, duration, parse_duration};
use crate::codegen::registry::{Diagnostic, Location};
use crate::codegen::yaml::{Node, Pos};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) struct Cx<'a> {
    file: &'a Path,
    pub(super) problems: Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(file: &'a Path) -> Self {
        Self {
            file,
            problems: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, pos: Pos, message: String) {
        self.problems.push(Diagnostic {
            location: location(self.file, pos),
            message,
        });
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> &'n [(Node, Node)] {
        if node.is_null() {
            return &[];
        }
        node.as_map().unwrap_or_else(|| {
            self.error(node.pos, format!("{what} must be a mapping"));
            &[]
        })
    }

    fn unknown(&mut self, key: &Node, known: &[&str], at: &str) {
        let name = key.as_str().unwrap_or_default();
        let hint = crate::suggest(name, known.iter().copied())
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_else(|| {
                let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                format!(", expected one of {}", list.join(", "))
            });
        self.error(key.pos, format!("unknown key `{name}` in {at}{hint}"));
    }

    pub(super) fn root(&mut self, root: &Node, out: &mut Objectives) {
        for (k, v) in self.map(root, "the objectives file") {
            match k.as_str() {
                Some("defaults") => self.settings(v, &Scope::Default, out),
                Some("pipelines") => {
                    for (name, p) in self.map(v, "`pipelines`") {
                        let Some(name) = self.name(name) else {
                            continue;
                        };
                        self.pipeline(p, &name, out);
                    }
                }
                Some("metrics") => {
                    for (name, m) in self.map(v, "`metrics`") {
                        let Some(metric) = self.name(name) else {
                            continue;
                        };
                        let settings = self.metric_settings(m, &metric);
                        out.metrics
                            .insert(metric, (location(self.file, name.pos), settings));
                    }
                }
                _ => self.unknown(
                    k,
                    &["defaults", "pipelines", "metrics"],
                    "the objectives file",
                ),
            }
        }
    }

    fn name(&mut self, node: &Node) -> Option<String> {
        match node.as_str() {
            Some(s) if !s.is_empty() => Some(s.to_owned()),
            _ => {
                self.error(node.pos, "a name must be a non-empty string".to_owned());
                None
            }
        }
    }

    fn pipeline(&mut self, node: &Node, pipeline: &str, out: &mut Objectives) {
        let scope = Scope::Pipeline(pipeline.to_owned());
        let mut own = Vec::new();
        for (k, v) in self.map(node, &format!("pipeline `{pipeline}`")) {
            if k.as_str() == Some("stages") {
                for (stage, s) in self.map(v, "`stages`") {
                    let Some(stage) = self.name(stage) else {
                        continue;
                    };
                    let scope = Scope::Stage(pipeline.to_owned(), stage);
                    self.settings(s, &scope, out);
                }
            } else {
                own.push((k.clone(), v.clone()));
            }
        }
        self.entries(&own, &scope, out);
    }

    fn settings(&mut self, node: &Node, scope: &Scope, out: &mut Objectives) {
        let entries = self.map(node, &describe(scope)).to_vec();
        self.entries(&entries, scope, out);
    }

    fn entries(&mut self, entries: &[(Node, Node)], scope: &Scope, out: &mut Objectives) {
        for (k, v) in entries {
            let Some(setting) = k.as_str().and_then(Setting::from_key) else {
                let mut known: Vec<&str> = Setting::ALL.iter().map(|s| s.key()).collect();
                if matches!(scope, Scope::Pipeline(_)) {
                    known.push("stages");
                }
                self.unknown(k, &known, &describe(scope));
                continue;
            };
            let misplaced = match (setting.level(), scope) {
                (Level::Global, Scope::Pipeline(_) | Scope::Stage(..)) => {
                    Some("in `defaults` only")
                }
                (Level::Pipeline, Scope::Stage(..)) => {
                    Some("in `defaults` or per pipeline, not per stage")
                }
                _ => None,
            };
            if let Some(where_) = misplaced {
                self.error(
                    k.pos,
                    format!(
                        "`{}` is set {where_} (found in {})",
                        setting.key(),
                        describe(scope)
                    ),
                );
                continue;
            }
            if let Some(value) = self.value(v, setting.key(), setting.kind()) {
                out.values
                    .entry(scope.clone())
                    .or_default()
                    .insert(setting, value);
            }
        }
    }

    fn metric_settings(&mut self, node: &Node, metric: &str) -> BTreeMap<MetricSetting, f64> {
        let mut out = BTreeMap::new();
        for (k, v) in self.map(node, &format!("metric `{metric}`")) {
            let Some(setting) = k.as_str().and_then(MetricSetting::from_key) else {
                let known: Vec<&str> = MetricSetting::ALL.iter().map(|s| s.key()).collect();
                self.unknown(k, &known, &format!("metric `{metric}`"));
                continue;
            };
            if let Some(value) = self.value(v, setting.key(), setting.kind()) {
                out.insert(setting, value);
            }
        }
        out
    }

    /// A value of this kind, or a problem naming the key, the value and what is accepted.
    fn value(&mut self, node: &Node, key: &str, kind: Kind) -> Option<f64> {
        let Some(text) = node.as_str() else {
            self.error(node.pos, format!("`{key}` must be a single value"));
            return None;
        };
        let parsed = match kind {
            Kind::Ratio | Kind::Objective | Kind::Count => text.trim().parse::<f64>().ok(),
            Kind::Window | Kind::Seconds => parse_duration(text.trim()),
        };
        let ok = parsed.is_some_and(|v| match kind {
            Kind::Ratio => (0.0..1.0).contains(&v),
            Kind::Objective => v > 0.0 && v < 1.0,
            Kind::Count => v.is_finite() && v >= 0.0,
            Kind::Seconds => v.is_finite() && v > 0.0,
            Kind::Window => (1.0..=MAX_WINDOW).contains(&v) && v.fract() == 0.0,
        });
        if ok {
            return parsed;
        }
        let accepted = match kind {
            Kind::Ratio => "a number from 0 up to (not including) 1, such as `0.05`",
            Kind::Objective => "a number between 0 and 1 (both excluded), such as `0.995`",
            Kind::Count => "a number, zero or more",
            Kind::Seconds => "a positive duration such as `250ms`, `2s` or `5m`",
            Kind::Window => {
                "a duration of whole seconds from `1s` to `30d`, such as `30s`, `5m`, `1h30m`"
            }
        };
        self.error(
            node.pos,
            format!("invalid value `{text}` for `{key}`: expected {accepted}"),
        );
        None
    }

    pub(super) fn check_lookback(&mut self, o: &Objectives) {
        let lookback = o.default_of(Setting::StallLookback).unwrap_or(0.0);
        let longest = o
            .distinct(Setting::StallWindow)
            .last()
            .copied()
            .unwrap_or(0.0);
        if lookback <= longest {
            self.error(
                Pos { line: 1, col: 1 },
                format!(
                    "`stall_lookback` ({}) must be longer than every `stall_window` (the longest is {})",
                    duration(lookback),
                    duration(longest)
                ),
            );
        }
    }
}

/// The longest window accepted: 30 days.
const MAX_WINDOW: f64 = 30.0 * 86_400.0;

fn location(file: &Path, pos: Pos) -> Location {
    Location {
        file: PathBuf::from(file),
        line: pos.line,
        col: pos.col,
    }
}

fn describe(scope: &Scope) -> String {
    match scope {
        Scope::Default => "`defaults`".to_owned(),
        Scope::Pipeline(p) => format!("pipeline `{p}`"),
        Scope::Stage(p, s) => format!("stage `{s}` of pipeline `{p}`"),
    }
}
