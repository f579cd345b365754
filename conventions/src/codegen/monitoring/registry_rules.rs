//! Rules for the metrics of a user's registry, chosen by their shape, and
//! `promtool` unit tests for each alert.
//!
//! - a counter (or histogram) with an `error.type` attribute: the share of
//!   its points with `error.type` set, `<Metric>FailureRatioHigh` above
//!   `failure_ratio`, and burn-rate alerts when `success_ratio` is declared;
//! - a histogram in a time unit (or with `p99` declared): `<Metric>P99High`;
//! - a gauge or up-down counter with `max` declared: `<Metric>High`.
//!
//! Series are summed by the metric's required attributes and its
//! `pipeline.name` and `pipeline.stage.name`, as labels.

use super::humanize;
use super::objectives::{MetricSetting, Objectives, Setting, duration};
use super::pipeline_rules::{
    BURN_ALERTS, BURN_WINDOWS, burn_condition, burn_windows_text, failure_ratio as ratio_expr,
};
use super::rules::{Alert, AlertCheck, Expected, Group, Rule, TEST_INTERVAL, TestCase};
use crate::codegen::registry::{Metric, Registry};
use crate::model::{Instrument, RequirementLevel};
use crate::prometheus::{MetricType, label_name, metric_name};

/// How a metric is summed and alerted on.
struct Plan<'a> {
    metric: &'a Metric,
    /// Its Prometheus name (for a histogram, the base name).
    prom: String,
    /// The labels it is summed by.
    by: Vec<String>,
    error_type: Option<String>,
    /// Seconds per unit, for a time unit.
    seconds: Option<f64>,
    /// The dashboard to link to.
    dashboard: String,
}

/// `OrdersValidated` from `orders.validated`.
pub(crate) fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Seconds per unit of a UCUM time unit.
pub(crate) fn seconds_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    })
}

/// The labels a registry metric is summed by: its required attributes and
/// the pipeline's name and stage, never `error.type`; `job` when none.
pub(crate) fn group_labels(m: &Metric) -> Vec<String> {
    let pipeline = [
        crate::pipeline::attribute::PIPELINE_NAME.name(),
        crate::pipeline::attribute::PIPELINE_STAGE_NAME.name(),
    ];
    let mut by: Vec<String> = m
        .attributes
        .iter()
        .filter(|(id, level)| {
            id != crate::attribute::ERROR_TYPE.name()
                && (*level == RequirementLevel::Required || pipeline.contains(&id.as_str()))
        })
        .filter_map(|(id, _)| label_name(id))
        .collect();
    if by.is_empty() {
        by.push("job".to_owned());
    }
    by
}

/// The Prometheus name of a registry metric.
pub(crate) fn prom_name(m: &Metric) -> String {
    metric_name(&m.name, &m.unit, MetricType::of(m.instrument))
}

impl<'a> Plan<'a> {
    fn new(metric: &'a Metric, dashboard: &str) -> Self {
        let error_type = metric
            .attributes
            .iter()
            .any(|(id, _)| id == crate::attribute::ERROR_TYPE.name())
            .then(|| label_name(crate::attribute::ERROR_TYPE.name()).unwrap_or_default());
        Self {
            metric,
            prom: prom_name(metric),
            by: group_labels(metric),
            error_type,
            seconds: seconds_per(&metric.unit),
            dashboard: format!("/d/{dashboard}"),
        }
    }

    fn by(&self) -> String {
        self.by.join(", ")
    }

    /// The series that counts every point (`_count` of a histogram).
    fn total(&self) -> String {
        match self.metric.instrument {
            Instrument::Histogram => format!("{}_count", self.prom),
            _ => self.prom.clone(),
        }
    }

    fn labels_text(&self) -> String {
        self.by
            .iter()
            .map(|l| format!("{l}={{{{ $labels.{l} }}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The same text with the test's label values in.
    fn labels_filled(&self) -> String {
        self.by
            .iter()
            .map(|l| format!("{l}={TEST_VALUE}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A selector of the test series, with more matchers.
    fn test_series(&self, name: &str, extra: &[(&str, &str)]) -> String {
        let mut parts: Vec<String> = self
            .by
            .iter()
            .map(|l| format!("{l}=\"{TEST_VALUE}\""))
            .collect();
        parts.extend(extra.iter().map(|(k, v)| format!("{k}=\"{v}\"")));
        format!("{name}{{{}}}", parts.join(", "))
    }

    fn expected_labels(&self, severity: &str) -> Vec<(String, String)> {
        let mut l: Vec<(String, String)> = self
            .by
            .iter()
            .map(|k| (k.clone(), TEST_VALUE.to_owned()))
            .collect();
        l.push(("severity".to_owned(), severity.to_owned()));
        l.sort();
        l
    }

    /// A value in the metric's unit, as the annotation prints it.
    fn value_template(&self) -> String {
        if self.metric.unit == "s" {
            "{{ $value | humanizeDuration }}".to_owned()
        } else {
            format!(
                "{{{{ $value | humanize }}}}{}",
                unit_text(&self.metric.unit)
            )
        }
    }

    fn value_text(&self, v: f64) -> String {
        if self.metric.unit == "s" {
            humanize::duration(v)
        } else {
            format!("{}{}", humanize::humanize(v), unit_text(&self.metric.unit))
        }
    }

    /// An alert with the annotations every registry alert has; `summary`
    /// gets the value's template and the labels' templates.
    fn alert(
        &self,
        name: &str,
        expr: String,
        for_: Option<f64>,
        severity: &str,
        summary: &dyn Fn(&str, &str) -> String,
        description: &str,
    ) -> Rule {
        Rule::Alert(Alert {
            name: name.to_owned(),
            expr,
            for_,
            labels: vec![("severity".to_owned(), severity.to_owned())],
            annotations: vec![
                (
                    "summary".to_owned(),
                    summary(&self.value_template(), &self.labels_text()),
                ),
                ("description".to_owned(), description.to_owned()),
                ("dashboard".to_owned(), self.dashboard.clone()),
            ],
        })
    }

    /// The alert a test expects, `value` as the summary prints it.
    fn expected(
        &self,
        severity: &str,
        summary: &dyn Fn(&str, &str) -> String,
        value: &str,
        description: &str,
    ) -> Expected {
        Expected {
            labels: self.expected_labels(severity),
            annotations: vec![
                ("dashboard".to_owned(), self.dashboard.clone()),
                ("description".to_owned(), description.to_owned()),
                ("summary".to_owned(), summary(value, &self.labels_filled())),
            ],
        }
    }

    fn ratio(&self, range: &str) -> String {
        let total = self.total();
        let e = self.error_type.as_deref().unwrap_or_default();
        ratio_expr(&self.by(), &format!("{total}{{{e}!=\"\"}}"), &total, range)
    }
}

/// ` order` for `{order}`, ` ms` for `ms`, nothing for `1`.
fn unit_text(unit: &str) -> String {
    let u = unit.trim_start_matches('{').trim_end_matches('}');
    if u.is_empty() || u == "1" {
        String::new()
    } else {
        format!(" {u}")
    }
}

/// The value of every summed-by label in generated tests.
const TEST_VALUE: &str = "test";

/// A share of failing points for tests: exact in binary fractions of a thousand.
fn failing_share(above: f64) -> Option<f64> {
    [0.5, 0.75, 0.9, 0.99, 0.999]
        .into_iter()
        .find(|f| *f > above)
}

/// The rules for a user's registry, with their unit tests.
pub(crate) fn registry_groups(
    r: &Registry,
    o: &Objectives,
    dashboard: &str,
) -> (Vec<Group>, Vec<TestCase>) {
    let mut records = Vec::new();
    let mut alerts = Vec::new();
    let mut tests = Vec::new();
    for m in &r.metrics {
        let plan = Plan::new(m, dashboard);
        let setting = |s: MetricSetting| o.metric(&m.name, s);
        if plan.error_type.is_some()
            && matches!(m.instrument, Instrument::Counter | Instrument::Histogram)
        {
            let threshold = setting(MetricSetting::FailureRatio)
                .or_else(|| o.default_of(Setting::FailureRatio))
                .unwrap_or(0.05);
            let window = setting(MetricSetting::FailureWindow)
                .or_else(|| o.default_of(Setting::FailureWindow))
                .unwrap_or(300.0);
            failure_ratio(&plan, threshold, window, &mut alerts, &mut tests);
            if let Some(objective) = setting(MetricSetting::SuccessRatio) {
                burn_rate(&plan, objective, &mut records, &mut alerts, &mut tests);
            }
        }
        if m.instrument == Instrument::Histogram {
            let declared = setting(MetricSetting::P99);
            let threshold = declared.or_else(|| {
                let secs = o.default_of(Setting::DurationP99)?;
                Some(secs / plan.seconds?)
            });
            if let Some(threshold) = threshold {
                let window = setting(MetricSetting::P99Window)
                    .or_else(|| o.default_of(Setting::DurationWindow))
                    .unwrap_or(300.0);
                p99(&plan, threshold, window, &mut alerts, &mut tests);
            }
        }
        if matches!(m.instrument, Instrument::Gauge | Instrument::UpDownCounter)
            && let Some(max) = setting(MetricSetting::Max)
        {
            let window = setting(MetricSetting::MaxWindow)
                .or_else(|| o.default_of(Setting::DurationWindow))
                .unwrap_or(300.0);
            high(&plan, max, window, &mut alerts, &mut tests);
        }
    }
    let mut groups = Vec::new();
    if !records.is_empty() {
        groups.push(Group {
            name: format!("{}-records", r.name),
            rules: records,
        });
    }
    if !alerts.is_empty() {
        groups.push(Group {
            name: format!("{}-alerts", r.name),
            rules: alerts,
        });
    }
    (groups, tests)
}

/// Series long enough for an alert over `window` held for `for_` to fire.
fn test_length(window: f64, for_: f64) -> (usize, f64) {
    let at = window + for_ + 3.0 * TEST_INTERVAL;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, positive
    let samples = (at / TEST_INTERVAL).ceil() as usize + 1;
    (samples, at)
}

/// Two cases at `at`: failing series with the alerts expected, healthy
/// series with none.
fn cases(
    alert: &str,
    at: f64,
    failing: (String, Vec<(String, String)>, Vec<Expected>),
    healthy: (String, Vec<(String, String)>),
) -> [TestCase; 2] {
    [
        TestCase {
            name: format!("{alert}: {}", failing.0),
            series: failing.1,
            alerts: vec![AlertCheck {
                at,
                alert: alert.to_owned(),
                expected: failing.2,
            }],
        },
        TestCase {
            name: format!("{alert}: {}", healthy.0),
            series: healthy.1,
            alerts: vec![AlertCheck {
                at,
                alert: alert.to_owned(),
                expected: Vec::new(),
            }],
        },
    ]
}

/// Failing and healthy points of a metric with `error.type`, per interval.
fn failing_series(plan: &Plan<'_>, failing: u64, ok: u64, steps: usize) -> Vec<(String, String)> {
    let (total, e) = (plan.total(), plan.error_type.clone().unwrap_or_default());
    vec![
        (
            plan.test_series(&total, &[(&e, "failed")]),
            format!("0+{failing}x{steps}"),
        ),
        (plan.test_series(&total, &[]), format!("0+{ok}x{steps}")),
    ]
}

fn failure_ratio(
    plan: &Plan<'_>,
    threshold: f64,
    window: f64,
    alerts: &mut Vec<Rule>,
    tests: &mut Vec<TestCase>,
) {
    let name = format!("{}FailureRatioHigh", camel(&plan.metric.name));
    let d = duration(window);
    let (by, total) = (plan.by(), plan.total());
    let e = plan.error_type.clone().unwrap_or_default();
    let summary = |v: &str, labels: &str| format!("{v} of {} failed ({labels})", plan.metric.name);
    let description = format!(
        "Over {d}, more than {} of the points of `{}` had `error.type` set (objective `failure_ratio`).",
        humanize::percentage(threshold),
        plan.metric.name
    );
    alerts.push(plan.alert(
        &name,
        format!(
            "sum by ({by}) (rate({total}{{{e}!=\"\"}}[{d}]))\n/\nsum by ({by}) (rate({total}[{d}]))\n> {threshold}"
        ),
        Some(window),
        "warning",
        &|_, labels| summary("{{ $value | humanizePercentage }}", labels),
        &description,
    ));
    let Some(share) = failing_share(threshold) else {
        return;
    };
    let (samples, at) = test_length(window, window);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a share of a thousand
    let failing = (share * 1000.0).round() as u64;
    let expected = plan.expected(
        "warning",
        &summary,
        &humanize::percentage(share),
        &description,
    );
    tests.extend(cases(
        &name,
        at,
        (
            format!("{failing} of 1000 points failing fire"),
            failing_series(plan, failing, 1000 - failing, samples - 1),
            vec![expected],
        ),
        (
            "no failing points".to_owned(),
            failing_series(plan, 0, 1000, samples - 1),
        ),
    ));
}

fn burn_rate(
    plan: &Plan<'_>,
    objective: f64,
    records: &mut Vec<Rule>,
    alerts: &mut Vec<Rule>,
    tests: &mut Vec<TestCase>,
) {
    let name = format!("{}ErrorBudgetBurn", camel(&plan.metric.name));
    let record = |w: &str| format!("{}:failure_ratio:rate{w}", plan.prom);
    for w in BURN_WINDOWS {
        records.push(Rule::record(record(w), plan.ratio(w)));
    }
    let share = failing_share(1.0 - objective).unwrap_or(0.999);
    let mut expected = Vec::new();
    for (severity, speed, pairs) in BURN_ALERTS {
        let summary = |v: &str, labels: &str| {
            format!(
                "{} burns its error budget {speed}: {v} failed ({labels})",
                plan.metric.name
            )
        };
        let description = format!(
            "At this rate the objective `success_ratio` ({}) of `{}` is missed (multi-window burn rates {}).",
            humanize::percentage(objective),
            plan.metric.name,
            burn_windows_text(&pairs)
        );
        alerts.push(plan.alert(
            &name,
            burn_condition(
                record,
                &format!("(1 - {objective})"),
                "",
                &plan.by(),
                &pairs,
            ),
            None,
            severity,
            &|_, labels| summary("{{ $value | humanizePercentage }}", labels),
            &description,
        ));
        if pairs.iter().any(|(_, _, f)| share > f * (1.0 - objective)) {
            expected.push(plan.expected(
                severity,
                &summary,
                &humanize::percentage(share),
                &description,
            ));
        }
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a share of a thousand
    let failing = (share * 1000.0).round() as u64;
    tests.extend(cases(
        &name,
        70.0 * 60.0,
        (
            format!("{failing} of 1000 points failing burn the budget"),
            failing_series(plan, failing, 1000 - failing, 80),
            expected,
        ),
        (
            "no failing points".to_owned(),
            failing_series(plan, 0, 1000, 80),
        ),
    ));
}

fn p99(
    plan: &Plan<'_>,
    threshold: f64,
    window: f64,
    alerts: &mut Vec<Rule>,
    tests: &mut Vec<TestCase>,
) {
    let name = format!("{}P99High", camel(&plan.metric.name));
    let d = duration(window);
    let summary =
        |v: &str, labels: &str| format!("The p99 of {} is {v} ({labels})", plan.metric.name);
    let description = format!(
        "Over {d}, one point in a hundred of `{}` was above the objective `p99` ({}).",
        plan.metric.name,
        plan.value_text(threshold)
    );
    alerts.push(plan.alert(
        &name,
        format!(
            "histogram_quantile(0.99, sum by ({}, le) (rate({}_bucket[{d}])))\n> {threshold}",
            plan.by(),
            plan.prom
        ),
        Some(window),
        "warning",
        &summary,
        &description,
    ));
    // Every point in one bucket `(0, le]`: the p99 is 0.99 * le.
    #[allow(clippy::cast_possible_truncation)] // a decimal exponent
    let exponent = (threshold / 0.99).log10().floor() as i32 + 1;
    let slow: f64 = format!("1e{exponent}").parse().unwrap_or(10.0);
    let fast = threshold / 10.0;
    let (samples, at) = test_length(window, window);
    let bucket = format!("{}_bucket", plan.prom);
    let histogram = |le: f64| {
        vec![
            (
                plan.test_series(&bucket, &[("le", &format!("{le}"))]),
                format!("0+60x{}", samples - 1),
            ),
            (
                plan.test_series(&bucket, &[("le", "+Inf")]),
                format!("0+60x{}", samples - 1),
            ),
        ]
    };
    let expected = plan.expected(
        "warning",
        &summary,
        &plan.value_text(0.99 * slow),
        &description,
    );
    tests.extend(cases(
        &name,
        at,
        (
            format!("every point at most {slow} fires"),
            histogram(slow),
            vec![expected],
        ),
        (
            format!("every point at most {fast} stays quiet"),
            histogram(fast),
        ),
    ));
}

fn high(plan: &Plan<'_>, max: f64, window: f64, alerts: &mut Vec<Rule>, tests: &mut Vec<TestCase>) {
    let name = format!("{}High", camel(&plan.metric.name));
    let d = duration(window);
    let summary = |v: &str, labels: &str| format!("{} is {v} ({labels})", plan.metric.name);
    let description = format!(
        "For {d}, `{}` stayed above the objective `max` ({}).",
        plan.metric.name,
        plan.value_text(max)
    );
    alerts.push(plan.alert(
        &name,
        format!("max by ({}) ({}) > {max}", plan.by(), plan.prom),
        Some(window),
        "warning",
        &summary,
        &description,
    ));
    let above = if max > 0.0 { max * 2.0 } else { 1.0 };
    let (samples, at) = test_length(0.0, window);
    let series = |v: f64| {
        vec![(
            plan.test_series(&plan.prom, &[]),
            format!("{v}+0x{}", samples - 1),
        )]
    };
    let expected = plan.expected("warning", &summary, &plan.value_text(above), &description);
    tests.extend(cases(
        &name,
        at,
        (format!("{above} fires"), series(above), vec![expected]),
        (format!("{max} stays quiet"), series(max)),
    ));
}
