//! Prometheus rule files and `promtool test rules` files: a small model and
//! its YAML rendering.

use std::fmt::Write as _;

/// A rule group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    Record {
        name: String,
        expr: String,
        labels: Vec<(String, String)>,
    },
    Alert(Alert),
}

/// An alerting rule.
#[derive(Debug, Clone)]
pub(crate) struct Alert {
    pub name: String,
    pub expr: String,
    /// `for`, in seconds; `None` fires on the first evaluation.
    pub for_: Option<f64>,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

impl Rule {
    pub(crate) fn record(name: impl Into<String>, expr: impl Into<String>) -> Self {
        Self::Record {
            name: name.into(),
            expr: expr.into(),
            labels: Vec::new(),
        }
    }
}

/// A rule file: `header` lines become comments.
pub(crate) fn render_rules(header: &str, groups: &[Group]) -> String {
    let mut out = comment(header);
    out.push_str("groups:\n");
    for g in groups {
        let _ = writeln!(out, "  - name: {}", scalar(&g.name));
        out.push_str("    rules:\n");
        for r in &g.rules {
            match r {
                Rule::Record { name, expr, labels } => {
                    let _ = writeln!(out, "      - record: {}", scalar(name));
                    field(&mut out, 8, "expr", expr, true);
                    map(&mut out, 8, "labels", labels);
                }
                Rule::Alert(a) => {
                    let _ = writeln!(out, "      - alert: {}", scalar(&a.name));
                    field(&mut out, 8, "expr", &a.expr, true);
                    if let Some(f) = a.for_ {
                        let _ = writeln!(out, "        for: {}", super::objectives::duration(f));
                    }
                    map(&mut out, 8, "labels", &a.labels);
                    map(&mut out, 8, "annotations", &a.annotations);
                }
            }
        }
    }
    out
}

/// A `promtool test rules` file.
#[derive(Debug, Clone)]
pub(crate) struct TestFile {
    /// Rule files, relative to the test file.
    pub rule_files: Vec<String>,
    pub tests: Vec<TestCase>,
}

/// One test: input series and the alerts expected at some times.
#[derive(Debug, Clone)]
pub(crate) struct TestCase {
    /// A comment saying what the case shows.
    pub name: String,
    /// Series selector and values in promtool's notation (`0+60x30`).
    pub series: Vec<(String, String)>,
    pub alerts: Vec<AlertCheck>,
}

/// The alerts expected firing under one name at one time (none: quiet).
#[derive(Debug, Clone)]
pub(crate) struct AlertCheck {
    /// Seconds from the start.
    pub at: f64,
    pub alert: String,
    pub expected: Vec<Expected>,
}

/// One expected alert: labels besides `alertname`, and annotations.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

/// The interval of test input series and of rule evaluation in tests.
pub(crate) const TEST_INTERVAL: f64 = 60.0;

pub(crate) fn render_tests(header: &str, file: &TestFile) -> String {
    let mut out = comment(header);
    out.push_str("rule_files:\n");
    for f in &file.rule_files {
        let _ = writeln!(out, "  - {}", scalar(f));
    }
    let interval = super::objectives::duration(TEST_INTERVAL);
    let _ = writeln!(out, "evaluation_interval: {interval}\ntests:");
    for t in &file.tests {
        let _ = writeln!(out, "  # {}", t.name);
        let _ = writeln!(out, "  - interval: {interval}\n    input_series:");
        for (series, values) in &t.series {
            let _ = writeln!(out, "      - series: {}", scalar(series));
            let _ = writeln!(out, "        values: {}", scalar(values));
        }
        out.push_str("    alert_rule_test:\n");
        for a in &t.alerts {
            let _ = writeln!(
                out,
                "      - eval_time: {}\n        alertname: {}",
                super::objectives::duration(a.at),
                scalar(&a.alert)
            );
            if a.expected.is_empty() {
                out.push_str("        exp_alerts: []\n");
                continue;
            }
            out.push_str("        exp_alerts:\n");
            for e in &a.expected {
                out.push_str("          - exp_labels:\n");
                for (k, v) in &e.labels {
                    let _ = writeln!(out, "              {k}: {}", scalar(v));
                }
                map(&mut out, 12, "exp_annotations", &e.annotations);
            }
        }
    }
    out
}

fn comment(header: &str) -> String {
    header.lines().map(|l| format!("# {l}\n")).collect()
}

fn field(out: &mut String, indent: usize, key: &str, value: &str, block: bool) {
    let pad = " ".repeat(indent);
    if block {
        // An explicit indentation when the first line is indented more than the rest.
        let indicator = if value.starts_with(' ') { "2" } else { "" };
        let _ = writeln!(out, "{pad}{key}: |{indicator}-");
        for line in value.lines() {
            let _ = writeln!(out, "{pad}  {line}");
        }
    } else {
        let _ = writeln!(out, "{pad}{key}: {}", scalar(value));
    }
}

fn map(out: &mut String, indent: usize, key: &str, entries: &[(String, String)]) {
    if entries.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{key}:");
    for (k, v) in entries {
        let _ = writeln!(out, "{pad}  {k}: {}", scalar(v));
    }
}

/// A YAML scalar: plain when that reads back as the same string, else
/// double-quoted (JSON's escapes are YAML's).
pub(crate) fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:-+".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/' || c == '.')
        && !s.ends_with(':')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | ".inf" | ".nan"
        );
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_that_could_read_as_something_else_are_quoted() {
        assert_eq!(scalar("warning"), "warning");
        assert_eq!(scalar("pipeline:calls:rate5m"), "pipeline:calls:rate5m");
        assert_eq!(scalar("0+60x30"), "\"0+60x30\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("{{ $value }}"), "\"{{ $value }}\"");
        assert_eq!(scalar("x{a=\"b\"}"), "\"x{a=\\\"b\\\"}\"");
        assert_eq!(scalar(""), "\"\"");
    }
}
