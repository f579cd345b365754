//! Grafana dashboards: the pipeline overview, and one dashboard with a panel
//! for each metric of a user's registry.
//!
//! Panels query the datasources through datasource variables (`metrics`,
//! `traces`, `logs`) whose defaults are the uids `deploy/` provisions, so the
//! same JSON works against another stack (Grafana Cloud) by picking its
//! datasources. Panels by stage carry data links to the stage's traces in
//! Tempo and its logs in Loki.

use super::names::Names;
use super::objectives::Setting;
use super::pipeline_rules::resolved_series;
use super::registry_rules::{group_labels, prom_name};
use crate::codegen::registry::{Metric, Registry};
use crate::model::Instrument;
use crate::prometheus::label_name;
use serde_json::{Value, json};

mod panels;

use panels::{
    Layout, dashboard, datasource_variable, ds, links, query_variable, stage_links, target,
    timeseries, with_exemplars,
};

/// The uid of the provisioned Prometheus (or Mimir) datasource.
pub const PROMETHEUS_UID: &str = "prometheus";
/// The uid of the provisioned Tempo datasource.
pub const TEMPO_UID: &str = "tempo";
/// The uid of the provisioned Loki datasource.
pub const LOKI_UID: &str = "loki";

const METRICS: &str = "${metrics}";
const TRACES: &str = "${traces}";
const LOGS: &str = "${logs}";
const RATE: &str = "$__rate_interval";

fn common_variables() -> Vec<Value> {
    vec![
        datasource_variable("metrics", "Metrics", "prometheus", PROMETHEUS_UID),
        datasource_variable("traces", "Traces", "tempo", TEMPO_UID),
        datasource_variable("logs", "Logs", "loki", LOKI_UID),
    ]
}

/// The pipeline overview.
pub(crate) fn overview(n: &Names, uid: &str, description: &str) -> Value {
    let (p, s, e, dir) = (&n.pipeline, &n.stage, &n.error_type, &n.direction);
    let by = n.by_stage();
    let sel = format!("{{{p}=~\"$pipeline\", {s}=~\"$stage\"}}");
    let stage_legend = format!("{{{{{p}}}}} / {{{{{s}}}}}");
    let stage_links = || stage_links(p, s);
    let objective = |setting: Setting| {
        target(
            "Z",
            &format!("{}{sel}", resolved_series(setting)),
            &format!("objective {stage_legend}"),
        )
    };
    let mut l = Layout::new();

    l.row("Alerts");
    l.add(
        24,
        6,
        json!({
            "type": "table",
            "title": "Firing alerts",
            "description": "Alerts of the generated rules that fire now, for the pipelines selected (and semtel's own, which have no pipeline).",
            "datasource": ds("prometheus", METRICS),
            "targets": [{
                "refId": "A",
                "datasource": ds("prometheus", METRICS),
                "expr": format!("ALERTS{{alertstate=\"firing\", {p}=~\"$pipeline|\"}}"),
                "format": "table",
                "instant": true,
                "range": false,
            }],
            "fieldConfig": { "defaults": {}, "overrides": [] },
            "options": { "showHeader": true },
            "transformations": [{ "id": "organize", "options": { "excludeByName": { "Time": true, "Value": true, "__name__": true, "alertstate": true } } }],
        }),
    );

    l.row("Throughput");
    l.add(
        8,
        8,
        links(
            timeseries(
                "Stage calls",
                "Calls of each stage per second (the count of `pipeline.stage.duration`).",
                "ops",
                vec![target(
                    "A",
                    &format!("sum by ({by}) (rate({}{sel}[{RATE}]))", n.calls()),
                    &stage_legend,
                )],
            ),
            stage_links(),
        ),
    );
    l.add(8, 8, links(timeseries(
        "Records in and out",
        "Records each stage read and wrote per second (`pipeline.records` by `pipeline.io.direction`).",
        "cps",
        vec![target(
            "A",
            &format!("sum by ({by}, {dir}) (rate({}{sel}[{RATE}]))", n.records),
            &format!("{stage_legend} {{{{{dir}}}}}"),
        )],
    ), stage_links()));
    l.add(
        8,
        8,
        links(
            timeseries(
                "Bytes in and out",
                "Bytes each stage read and wrote per second (`pipeline.bytes`).",
                "Bps",
                vec![target(
                    "A",
                    &format!("sum by ({by}, {dir}) (rate({}{sel}[{RATE}]))", n.bytes),
                    &format!("{stage_legend} {{{{{dir}}}}}"),
                )],
            ),
            stage_links(),
        ),
    );

    l.row("Failures");
    l.add(12, 8, links(timeseries(
        "Failure ratio by error.type",
        "The share of each stage's calls that failed, by `error.type`, against the stage's objective (dashed).",
        "percentunit",
        vec![
            target(
                "A",
                &format!(
                    "sum by ({by}, {e}) (rate({}{sel}[{RATE}]))\n/ on ({by}) group_left ()\nsum by ({by}) (rate({}{sel}[{RATE}]))",
                    n.failures,
                    n.calls()
                ),
                &format!("{stage_legend} {{{{{e}}}}}"),
            ),
            objective(Setting::FailureRatio),
        ],
    ), stage_links()));
    l.add(
        6,
        8,
        links(
            timeseries(
                "Retries",
                "Operations each stage retried per second (`pipeline.retries`), by `error.type`.",
                "ops",
                vec![target(
                    "A",
                    &format!("sum by ({by}, {e}) (rate({}{sel}[{RATE}]))", n.retries),
                    &format!("{stage_legend} {{{{{e}}}}}"),
                )],
            ),
            stage_links(),
        ),
    );
    l.add(6, 8, links(timeseries(
        "Dead letters",
        "Records each stage sent to a dead-letter destination per second (`pipeline.dead_letters`).",
        "cps",
        vec![target(
            "A",
            &format!("sum by ({by}, {e}) (rate({}{sel}[{RATE}]))", n.dead_letters),
            &format!("{stage_legend} {{{{{e}}}}}"),
        )],
    ), stage_links()));

    l.row("Latency and load");
    let quantile = |q: &str| {
        format!(
            "histogram_quantile({q}, sum by ({by}, le) (rate({}_bucket{sel}[{RATE}])))",
            n.duration
        )
    };
    l.add(12, 9, links(timeseries(
        "Stage duration p50 / p95 / p99",
        "Quantiles of `pipeline.stage.duration`, with exemplars: a point links to the trace of a call that took that long. Dashed: the p99 objective.",
        "s",
        vec![
            target("A", &quantile("0.5"), &format!("p50 {stage_legend}")),
            target("B", &quantile("0.95"), &format!("p95 {stage_legend}")),
            with_exemplars(target("C", &quantile("0.99"), &format!("p99 {stage_legend}"))),
            objective(Setting::DurationP99),
        ],
    ), stage_links()));
    l.add(
        6,
        9,
        links(
            timeseries(
                "In flight",
                "Stage calls running now (`pipeline.stage.active`).",
                "short",
                vec![target(
                    "A",
                    &format!("sum by ({by}) ({}{sel})", n.active),
                    &stage_legend,
                )],
            ),
            stage_links(),
        ),
    );
    l.add(6, 9, links(timeseries(
        "Lag",
        "How far each stage trails its input (`pipeline.lag`, the watermark delay; the largest partition), against the stage's objective (dashed).",
        "s",
        vec![
            target("A", &format!("max by ({by}) ({}{sel})", n.lag), &stage_legend),
            objective(Setting::Lag),
        ],
    ), stage_links()));

    l.row("Traces, logs and services");
    l.add(12, 9, json!({
        "type": "table",
        "title": "Failed stage calls",
        "description": "Recent traces with a failed call of the selected stages (Tempo, TraceQL).",
        "datasource": ds("tempo", TRACES),
        "targets": [{
            "refId": "A",
            "datasource": ds("tempo", TRACES),
            "queryType": "traceql",
            "tableType": "traces",
            "limit": 20,
            "query": format!(
                "{{span.{} =~ \"$pipeline\" && span.{} =~ \"$stage\" && status = error}}",
                crate::pipeline::attribute::PIPELINE_NAME.name(),
                crate::pipeline::attribute::PIPELINE_STAGE_NAME.name()
            ),
        }],
        "fieldConfig": { "defaults": {}, "overrides": [] },
        "options": { "showHeader": true },
    }));
    l.add(12, 9, json!({
        "type": "logs",
        "title": "Stage failure logs",
        "description": "The log records semtel writes when a stage call fails (Loki; `pipeline.stage.name` is structured metadata). A trace's logs, the body's `tracing` events included, are one click away from the trace.",
        "datasource": ds("loki", LOGS),
        "targets": [{
            "refId": "A",
            "datasource": ds("loki", LOGS),
            "expr": format!("{{service_name=~\".+\"}} | {s} =~ `$stage` | {s} != ``"),
        }],
        "options": { "showTime": true, "wrapLogMessage": true, "enableLogDetails": true, "sortOrder": "Descending" },
    }));
    l.add(24, 10, json!({
        "type": "nodeGraph",
        "title": "Service map",
        "description": "Services, databases and queues from the stages' span kinds and `db.system.name` / `messaging.system` (Tempo's service graphs).",
        "datasource": ds("tempo", TRACES),
        "targets": [{ "refId": "A", "datasource": ds("tempo", TRACES), "queryType": "serviceMap" }],
    }));

    l.row("semtel's own telemetry");
    let mut lost = Vec::new();
    let mut exported = Vec::new();
    let mut queues = Vec::new();
    let mut refs = ('A'..='Z').map(|c| c.to_string());
    for sig in &n.sdk {
        for m in sig.processed.iter().chain(std::iter::once(&sig.exported)) {
            lost.push(target(
                &refs.next().unwrap_or_default(),
                &format!(
                    "sum by (job, {}, {e}) (rate({m}{{{e}!=\"\"}}[{RATE}]))",
                    n.component_type
                ),
                &format!(
                    "{{{{job}}}} {} {{{{{}}}}} {{{{{e}}}}}",
                    sig.signal, n.component_type
                ),
            ));
        }
        exported.push(target(
            &refs.next().unwrap_or_default(),
            &format!("sum by (job) (rate({}{{{e}=\"\"}}[{RATE}]))", sig.exported),
            &format!("{{{{job}}}} {}", sig.signal),
        ));
        if let (Some(size), Some(cap)) = (&sig.queue_size, &sig.queue_capacity) {
            queues.push(target(
                &refs.next().unwrap_or_default(),
                &format!(
                    "sum by (job, instance, {c}) ({size})\n/\nsum by (job, instance, {c}) ({cap})",
                    c = n.component_name
                ),
                &format!("{{{{job}}}} {{{{{}}}}}", n.component_name),
            ));
        }
    }
    l.add(8, 8, timeseries(
        "Telemetry lost",
        "Spans and logs semtel dropped (a processor's `error.type`, such as `queue_full`) and spans, logs and metric points it failed to export, per second (`otel.sdk.*`). Anything here means incomplete traces, logs or metrics.",
        "cps",
        lost,
    ));
    l.add(8, 8, timeseries(
        "Telemetry exported",
        "Spans, logs and metric points semtel exported per second (`otel.sdk.exporter.*.exported`).",
        "cps",
        exported,
    ));
    l.add(8, 8, timeseries(
        "Export queue fill",
        "How full semtel's export queues are (`otel.sdk.processor.*.queue.size` over capacity).",
        "percentunit",
        queues,
    ));

    let mut variables = common_variables();
    variables.push(query_variable(
        "pipeline",
        "Pipeline",
        &format!("label_values({}, {p})", n.calls()),
    ));
    variables.push(query_variable(
        "stage",
        "Stage",
        &format!("label_values({}{{{p}=~\"$pipeline\"}}, {s})", n.calls()),
    ));
    dashboard(uid, "semtel: pipelines", description, variables, l.panels)
}

/// A dashboard with a panel for each metric of a user's registry.
pub(crate) fn registry(r: &Registry, uid: &str, description: &str) -> Value {
    let pipeline = label_name(crate::pipeline::attribute::PIPELINE_NAME.name()).unwrap_or_default();
    let stage =
        label_name(crate::pipeline::attribute::PIPELINE_STAGE_NAME.name()).unwrap_or_default();
    let error_type = label_name(crate::attribute::ERROR_TYPE.name()).unwrap_or_default();
    let has = |m: &Metric, label: &str| {
        m.attributes
            .iter()
            .any(|(id, _)| label_name(id).as_deref() == Some(label))
    };
    let mut l = Layout::new();
    l.row(&format!("The `{}` registry", r.name));
    for m in &r.metrics {
        let prom = prom_name(m);
        let mut matchers = Vec::new();
        if has(m, &pipeline) {
            matchers.push(format!("{pipeline}=~\"$pipeline\""));
        }
        if has(m, &stage) {
            matchers.push(format!("{stage}=~\"$stage\""));
        }
        let sel = if matchers.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", matchers.join(", "))
        };
        let mut by = group_labels(m);
        if has(m, &error_type) && m.instrument != Instrument::Histogram {
            by.push(error_type.clone());
        }
        let legend = by
            .iter()
            .map(|b| format!("{{{{{b}}}}}"))
            .collect::<Vec<_>>()
            .join(" ");
        let by = by.join(", ");
        let title = format!("{} ({})", m.name, m.unit);
        let (unit, targets) = match m.instrument {
            Instrument::Counter => (
                if m.unit == "By" { "Bps" } else { "cps" },
                vec![target(
                    "A",
                    &format!("sum by ({by}) (rate({prom}{sel}[{RATE}]))"),
                    &legend,
                )],
            ),
            Instrument::UpDownCounter => (
                grafana_unit(&m.unit),
                vec![target(
                    "A",
                    &format!("sum by ({by}) ({prom}{sel})"),
                    &legend,
                )],
            ),
            Instrument::Gauge => (
                grafana_unit(&m.unit),
                vec![target(
                    "A",
                    &format!("max by ({by}) ({prom}{sel})"),
                    &legend,
                )],
            ),
            Instrument::Histogram => {
                let q = |q: &str| {
                    format!(
                        "histogram_quantile({q}, sum by ({by}, le) (rate({prom}_bucket{sel}[{RATE}])))"
                    )
                };
                (
                    grafana_unit(&m.unit),
                    vec![
                        target("A", &q("0.5"), &format!("p50 {legend}")),
                        target("B", &q("0.95"), &format!("p95 {legend}")),
                        with_exemplars(target("C", &q("0.99"), &format!("p99 {legend}"))),
                    ],
                )
            }
        };
        let description = format!(
            "{} `{}`: {}, as `{prom}`.",
            m.brief,
            m.name,
            m.instrument.as_str()
        );
        let mut panel = timeseries(&title, description.trim(), unit, targets);
        if has(m, &pipeline) && has(m, &stage) {
            panel = links(panel, stage_links(&pipeline, &stage));
        }
        l.add(12, 8, panel);
    }
    let mut variables = common_variables();
    if r.metrics.iter().any(|m| has(m, &pipeline)) {
        variables.push(query_variable(
            "pipeline",
            "Pipeline",
            &format!("label_values({pipeline})"),
        ));
    }
    if r.metrics.iter().any(|m| has(m, &stage)) {
        variables.push(query_variable(
            "stage",
            "Stage",
            &format!("label_values({stage})"),
        ));
    }
    dashboard(
        uid,
        &format!("semtel: {}", r.name),
        description,
        variables,
        l.panels,
    )
}

/// Grafana's unit for a UCUM unit.
fn grafana_unit(unit: &str) -> &'static str {
    match unit {
        "By" => "bytes",
        "1" => "percentunit",
        "%" => "percent",
        "s" => "s",
        "ms" => "ms",
        "us" => "µs",
        "ns" => "ns",
        "min" => "m",
        "h" => "h",
        "d" => "d",
        _ => "short",
    }
}
