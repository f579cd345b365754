//! The rules for semtel's pipeline metrics and its own telemetry, and the
//! objective series they read.
//!
//! Thresholds are series: `semtel:objective:<setting>` holds each value of the
//! objectives file with the labels of its scope (none, `pipeline_name`, or
//! `pipeline_name` and `pipeline_stage_name`), and `pipeline_stage:objective:<setting>`
//! (`pipeline:objective:<setting>` for pipeline settings) resolves the most
//! specific one for every stage (pipeline) seen. Alerts compare against the
//! resolved series. A window cannot be a series (PromQL ranges are literals),
//! so every distinct window value gets its own rule, which keeps the stages
//! whose resolved window equals it.

use super::names::Names;
use super::objectives::{Level, Objectives, Scope, Setting, duration};
use super::rules::{Alert, Group, Rule};
use crate::pipeline::attribute::PipelineIoDirection;

/// The uid of the pipeline overview dashboard, for links in annotations.
pub(crate) const OVERVIEW_UID: &str = "semtel-pipeline-overview";

/// A long window, a short one, and the burn factor both must pass.
pub(crate) type BurnWindows = (&'static str, &'static str, f64);

/// The multi-window burn-rate alerts (Google's SRE workbook, "Alerting on
/// SLOs"): severity, how fast the budget burns, and two pairs of a long
/// and a short window with the burn factor both must pass.
pub(crate) const BURN_ALERTS: [(&str, &str, [BurnWindows; 2]); 2] = [
    ("critical", "fast", [("1h", "5m", 14.4), ("6h", "30m", 6.0)]),
    ("warning", "slowly", [("1d", "2h", 3.0), ("3d", "6h", 1.0)]),
];

/// The ranges the failure ratio is recorded over for burn-rate alerts.
pub(crate) const BURN_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The share of failing points over `range`: `failing` over `total`
/// summed by `by`, zero (not absent) when nothing failed.
pub(crate) fn failure_ratio(by: &str, failing: &str, total: &str, range: &str) -> String {
    format!(
        "(\n    sum by ({by}) (rate({failing}[{range}]))\n  or\n    0 * sum by ({by}) (rate({total}[{range}]))\n)\n/\n  sum by ({by}) (rate({total}[{range}]))"
    )
}

/// One burn-rate alert's condition: the ratio recorded over both windows of
/// either pair above the pair's factor times the error budget. `matching`
/// is the vector matching before the budget (empty for a number).
pub(crate) fn burn_condition(
    ratio: impl Fn(&str) -> String,
    budget: &str,
    matching: &str,
    by: &str,
    pairs: &[BurnWindows],
) -> String {
    pairs
        .iter()
        .map(|(long, short, factor)| {
            let above = |w: &str| format!("{}\n      >{matching} ({factor} * {budget})", ratio(w));
            format!(
                "(\n    {}\n  and on ({by})\n    {}\n)",
                above(long),
                above(short)
            )
        })
        .collect::<Vec<_>>()
        .join(&format!("\nor on ({by})\n"))
}

/// `14.4x over 1h and 5m, 6x over 6h and 30m`.
pub(crate) fn burn_windows_text(pairs: &[BurnWindows]) -> String {
    pairs
        .iter()
        .map(|(l, s, f)| format!("{f}x over {l} and {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The series of a setting as written in the objectives file.
pub(crate) fn setting_series(s: Setting) -> String {
    format!("semtel:objective:{}", s.series())
}

/// The series of a setting resolved per stage (or per pipeline).
pub(crate) fn resolved_series(s: Setting) -> String {
    match s.level() {
        Level::Pipeline => format!("pipeline:objective:{}", s.series()),
        _ => format!("pipeline_stage:objective:{}", s.series()),
    }
}

/// The recorded per-pipeline call rate the stall alerts read.
pub(crate) const PIPELINE_CALLS: &str = "pipeline:calls:rate5m";

/// `semtel-objectives.rules.yml`: the settings and their resolution.
pub(crate) fn objective_groups(n: &Names, o: &Objectives) -> Vec<Group> {
    let mut rules = Vec::new();
    for s in Setting::ALL {
        if s.level() == Level::Global {
            continue;
        }
        for (scope, value) in o.scopes_of(s) {
            let mut labels = Vec::new();
            match scope {
                Scope::Default => {}
                Scope::Pipeline(p) => labels.push((n.pipeline.clone(), p.clone())),
                Scope::Stage(p, st) => {
                    labels.push((n.pipeline.clone(), p.clone()));
                    labels.push((n.stage.clone(), st.clone()));
                }
            }
            rules.push(Rule::Record {
                name: setting_series(s),
                expr: format!("vector({value})"),
                labels,
            });
        }
    }
    for s in Setting::ALL {
        if let Some(expr) = resolution(n, o, s) {
            rules.push(Rule::record(resolved_series(s), expr));
        }
    }
    vec![Group {
        name: "semtel-objectives".to_owned(),
        rules,
    }]
}

/// The most specific value of a setting for every stage (pipeline) seen.
fn resolution(n: &Names, o: &Objectives, s: Setting) -> Option<String> {
    let series = setting_series(s);
    let has = |f: fn(&Scope) -> bool| o.scopes_of(s).any(|(sc, _)| f(sc));
    let (p, st) = (&n.pipeline, &n.stage);
    let mut terms = Vec::new();
    let expr = match s.level() {
        Level::Global => return None,
        Level::Stage => {
            let known = format!("group by ({p}, {st}) ({})", n.calls());
            if has(|sc| matches!(sc, Scope::Stage(..))) {
                terms.push(format!(
                    "  max by ({p}, {st}) ({series}{{{st}!=\"\"}})\nand on ({p}, {st})\n  {known}"
                ));
            }
            if has(|sc| matches!(sc, Scope::Pipeline(_))) {
                terms.push(format!(
                    "  {known}\n* on ({p}) group_left ()\n  max by ({p}) ({series}{{{p}!=\"\", {st}=\"\"}})"
                ));
            }
            if has(|sc| matches!(sc, Scope::Default)) {
                terms.push(format!(
                    "  {known}\n* on () group_left ()\n  max ({series}{{{p}=\"\"}})"
                ));
            }
            terms.join(&format!("\nor on ({p}, {st})\n"))
        }
        Level::Pipeline => {
            let lookback = duration(o.default_of(Setting::StallLookback).unwrap_or(86_400.0));
            let known = format!("group by ({p}) (present_over_time({PIPELINE_CALLS}[{lookback}]))");
            if has(|sc| matches!(sc, Scope::Pipeline(_))) {
                terms.push(format!(
                    "  max by ({p}) ({series}{{{p}!=\"\"}})\nand on ({p})\n  {known}"
                ));
            }
            if has(|sc| matches!(sc, Scope::Default)) {
                terms.push(format!(
                    "  {known}\n* on () group_left ()\n  max ({series}{{{p}=\"\"}})"
                ));
            }
            terms.join(&format!("\nor on ({p})\n"))
        }
    };
    (!expr.is_empty()).then_some(expr)
}

/// The clause keeping the stages (pipelines) whose resolved window is `w`,
/// when the window has more than one value.
fn window_filter(n: &Names, o: &Objectives, s: Setting, w: f64) -> String {
    if o.distinct(s).len() < 2 {
        return String::new();
    }
    let on = match s.level() {
        Level::Pipeline => n.pipeline.clone(),
        _ => n.by_stage(),
    };
    format!("\nand on ({on})\n  {} == {w}", resolved_series(s))
}

fn dashboard_link(n: &Names, stage: bool) -> (String, String) {
    let mut url = format!(
        "/d/{OVERVIEW_UID}?var-pipeline={{{{ $labels.{} }}}}",
        n.pipeline
    );
    if stage {
        url.push_str(&format!("&var-stage={{{{ $labels.{} }}}}", n.stage));
    }
    ("dashboard".to_owned(), url)
}

fn stage_of(n: &Names) -> String {
    format!(
        "stage {{{{ $labels.{} }}}} of pipeline {{{{ $labels.{} }}}}",
        n.stage, n.pipeline
    )
}

fn alert(
    name: &str,
    expr: String,
    for_: Option<f64>,
    labels: &[(&str, &str)],
    annotations: Vec<(String, String)>,
) -> Rule {
    Rule::Alert(Alert {
        name: name.to_owned(),
        expr,
        for_,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        annotations,
    })
}

/// `semtel-pipeline.rules.yml`: recording rules and alerts.
pub(crate) fn pipeline_groups(n: &Names, o: &Objectives) -> Vec<Group> {
    let by = n.by_stage();
    let p = &n.pipeline;
    let calls = n.calls();
    let burn = o.scopes_of(Setting::SuccessRatio).next().is_some();

    let mut records = vec![Rule::record(
        PIPELINE_CALLS,
        format!("sum by ({p}) (rate({calls}[5m]))"),
    )];
    if burn {
        for w in BURN_WINDOWS {
            records.push(Rule::record(
                format!("pipeline_stage:failure_ratio:rate{w}"),
                failure_ratio(&by, &n.failures, &calls, w),
            ));
        }
    }

    let mut alerts = Vec::new();
    for w in o.distinct(Setting::FailureWindow) {
        let d = duration(w);
        alerts.push(alert(
            "PipelineStageFailureRatioHigh",
            format!(
                "(\n    sum by ({by}) (rate({f}[{d}]))\n  /\n    sum by ({by}) (rate({calls}[{d}]))\n)\n> on ({by}) group_left ()\n  {obj}{filter}",
                f = n.failures,
                obj = resolved_series(Setting::FailureRatio),
                filter = window_filter(n, o, Setting::FailureWindow, w),
            ),
            Some(w),
            &[("severity", "warning"), ("window", &d)],
            notes(
    format!(
                        "{{{{ $value | humanizePercentage }}}} of the calls of {} fail",
                        stage_of(n)
                    ),
    format!(
                        "Over {d}, more calls failed than the objective `failure_ratio` allows. The pipeline dashboard shows the failures by `error.type`, and links to the failed calls' traces and logs."
                    ),
    Some(dashboard_link(n, true)),
),
        ));
    }

    let lookback = duration(o.default_of(Setting::StallLookback).unwrap_or(86_400.0));
    for w in o.distinct(Setting::StallWindow) {
        let d = duration(w);
        let filter = window_filter(n, o, Setting::StallWindow, w);
        alerts.push(alert(
            "PipelineStalled",
            format!(
                "group by ({p}) (present_over_time({PIPELINE_CALLS}[{lookback}]))\nunless on ({p})\n  max_over_time({PIPELINE_CALLS}[{d}]) > 0{filter}"
            ),
            None,
            &[("severity", "critical"), ("reason", "no_runs"), ("window", &d)],
            notes(
    format!("Pipeline {{{{ $labels.{p} }}}} ran no stage for {d}"),
    format!(
                        "The pipeline ran stages within {lookback} but none completed in the last {d}: it is idle, stuck or no longer running."
                    ),
    Some(dashboard_link(n, false)),
),
        ));
        let records_of = |dir: PipelineIoDirection| {
            format!(
                "sum by ({p}) (increase({}{{{}=\"{}\"}}[{d}]))",
                n.records,
                n.direction,
                dir.as_str()
            )
        };
        alerts.push(alert(
            "PipelineStalled",
            format!(
                "{} > 0\nand on ({p})\n  {} == 0{filter}",
                records_of(PipelineIoDirection::In),
                records_of(PipelineIoDirection::Out)
            ),
            None,
            &[("severity", "critical"), ("reason", "no_output"), ("window", &d)],
            notes(
    format!(
                        "Pipeline {{{{ $labels.{p} }}}} took {{{{ $value | humanize }}}} records in over {d} and put none out"
                    ),
    format!(
                        "Its stages counted records in, but no stage counted a record out in the last {d}."
                    ),
    Some(dashboard_link(n, false)),
),
        ));
    }

    for w in o.distinct(Setting::DurationWindow) {
        let d = duration(w);
        alerts.push(alert(
            "PipelineStageDurationP99High",
            format!(
                "histogram_quantile(0.99, sum by ({by}, le) (rate({}_bucket[{d}])))\n> on ({by}) group_left ()\n  {}{}",
                n.duration,
                resolved_series(Setting::DurationP99),
                window_filter(n, o, Setting::DurationWindow, w),
            ),
            Some(w),
            &[("severity", "warning"), ("window", &d)],
            notes(
    format!(
                        "The p99 duration of {} is {{{{ $value | humanizeDuration }}}}",
                        stage_of(n)
                    ),
    format!(
                        "Over {d}, one call in a hundred took longer than the objective `duration_p99`. Exemplars on the duration panel lead to slow calls' traces."
                    ),
    Some(dashboard_link(n, true)),
),
        ));
    }

    for w in o.distinct(Setting::LagWindow) {
        let d = duration(w);
        alerts.push(alert(
            "PipelineStageLagGrowing",
            format!(
                "max by ({by}) ({lag})\n> on ({by}) group_left ()\n  {obj}\nand on ({by})\n  max by ({by}) (deriv({lag}[{d}])) > 0{filter}",
                lag = n.lag,
                obj = resolved_series(Setting::Lag),
                filter = window_filter(n, o, Setting::LagWindow, w),
            ),
            Some(w),
            &[("severity", "warning"), ("window", &d)],
            notes(
    format!(
                        "The lag of {} is {{{{ $value | humanizeDuration }}}} and growing",
                        stage_of(n)
                    ),
    format!(
                        "The stage's watermark trails its input by more than the objective `lag`, and the lag grew over the last {d}."
                    ),
    Some(dashboard_link(n, true)),
),
        ));
    }

    for w in o.distinct(Setting::DeadLetterWindow) {
        let d = duration(w);
        alerts.push(alert(
            "PipelineStageDeadLettersGrowing",
            format!(
                "sum by ({by}) (increase({}[{d}]))\n> on ({by}) group_left ()\n  {}{}",
                n.dead_letters,
                resolved_series(Setting::DeadLetters),
                window_filter(n, o, Setting::DeadLetterWindow, w),
            ),
            None,
            &[("severity", "warning"), ("window", &d)],
            notes(
    format!(
                        "{} sent {{{{ $value | humanize }}}} records to its dead letters in {d}",
                        capitalized_stage_of(n)
                    ),
    "More records went to the dead-letter destination than the objective `dead_letters` allows.".to_owned(),
    Some(dashboard_link(n, true)),
),
        ));
    }

    if burn {
        let budget = format!("(1 - {})", resolved_series(Setting::SuccessRatio));
        let matching = format!(" on ({by}) group_left ()");
        for (severity, speed, pairs) in BURN_ALERTS {
            alerts.push(alert(
                "PipelineStageErrorBudgetBurn",
                burn_condition(
                    |w| format!("pipeline_stage:failure_ratio:rate{w}"),
                    &budget,
                    &matching,
                    &by,
                    &pairs,
                ),
                None,
                &[("severity", severity)],
                notes(
    format!(
                            "{} burns its error budget {speed}: {{{{ $value | humanizePercentage }}}} of its calls fail",
                            capitalized_stage_of(n)
                        ),
    format!(
                            "At this rate the objective `success_ratio` is missed (multi-window burn rates {}).",
                            burn_windows_text(&pairs)
                        ),
    Some(dashboard_link(n, true)),
),
            ));
        }
    }

    alerts.push(telemetry_lost(n, o));

    vec![
        Group {
            name: "semtel-pipeline-records".to_owned(),
            rules: records,
        },
        Group {
            name: "semtel-pipeline-alerts".to_owned(),
            rules: alerts,
        },
    ]
}

/// An alert's annotations: summary, description and, for stages and
/// pipelines, a link to the overview.
fn notes(
    summary: String,
    description: String,
    link: Option<(String, String)>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("summary".to_owned(), summary),
        ("description".to_owned(), description),
    ];
    out.extend(link);
    out
}

fn capitalized_stage_of(n: &Names) -> String {
    let s = stage_of(n);
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// The labels telemetry loss is reported by.
pub(crate) fn loss_labels(n: &Names) -> String {
    format!(
        "job, instance, signal, {}, {}",
        n.component_type, n.error_type
    )
}

/// Telemetry semtel dropped (a processor's `error.type`, such as `queue_full`)
/// or failed to export (an exporter's `error.type`), per signal.
pub(crate) fn loss_expr(n: &Names, range: &str) -> String {
    let by = loss_labels(n);
    let mut parts = Vec::new();
    for s in &n.sdk {
        for m in s.processed.iter().chain(std::iter::once(&s.exported)) {
            parts.push(format!(
                "  sum by ({by}) (label_replace(increase({m}{{{e}!=\"\"}}[{range}]), \"signal\", \"{sig}\", \"\", \"\"))",
                e = n.error_type,
                sig = s.signal
            ));
        }
    }
    format!("(\n{}\n)", parts.join("\nor\n"))
}

fn telemetry_lost(n: &Names, o: &Objectives) -> Rule {
    let d = duration(o.default_of(Setting::TelemetryLossWindow).unwrap_or(600.0));
    alert(
        "SemtelTelemetryLost",
        format!("{} > 0", loss_expr(n, &d)),
        None,
        &[("severity", "warning")],
        notes(
    format!(
                    "{{{{ $labels.job }}}} lost {{{{ $value | humanize }}}} {{{{ $labels.signal }}}} in {d} ({{{{ $labels.{} }}}})",
                    n.error_type
                ),
    "semtel dropped telemetry (a full queue) or failed to export it: the traces, logs or metrics of this process are incomplete. Its own metrics under `otel.sdk.*` and the shutdown report say where.".to_owned(),
    None,
),
    )
}
