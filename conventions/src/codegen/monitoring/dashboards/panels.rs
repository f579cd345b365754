//! The pieces dashboards are built of: panels, queries, data links to
//! Tempo and Loki, template variables and the dashboard around them.

use super::{LOGS, METRICS, TRACES};
use serde_json::{Value, json};

pub(super) fn ds(kind: &str, uid: &str) -> Value {
    json!({ "type": kind, "uid": uid })
}

/// Panels laid out left to right, top to bottom, on Grafana's 24-column grid.
pub(super) struct Layout {
    pub(super) panels: Vec<Value>,
    id: u64,
    x: u64,
    y: u64,
    row_height: u64,
}

impl Layout {
    pub(super) fn new() -> Self {
        Self {
            panels: Vec::new(),
            id: 0,
            x: 0,
            y: 0,
            row_height: 0,
        }
    }

    fn next_line(&mut self) {
        self.y += self.row_height;
        self.x = 0;
        self.row_height = 0;
    }

    pub(super) fn row(&mut self, title: &str) {
        self.next_line();
        self.id += 1;
        self.panels.push(json!({
            "id": self.id,
            "type": "row",
            "title": title,
            "collapsed": false,
            "panels": [],
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": self.y },
        }));
        self.y += 1;
    }

    pub(super) fn add(&mut self, w: u64, h: u64, mut panel: Value) {
        if self.x + w > 24 {
            self.next_line();
        }
        self.id += 1;
        panel["id"] = json!(self.id);
        panel["gridPos"] = json!({ "h": h, "w": w, "x": self.x, "y": self.y });
        self.x += w;
        self.row_height = self.row_height.max(h);
        self.panels.push(panel);
    }
}

pub(super) fn target(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "refId": ref_id,
        "datasource": ds("prometheus", METRICS),
        "expr": expr,
        "legendFormat": legend,
        "range": true,
    })
}

pub(super) fn with_exemplars(mut t: Value) -> Value {
    t["exemplar"] = json!(true);
    t
}

pub(super) fn timeseries(title: &str, description: &str, unit: &str, targets: Vec<Value>) -> Value {
    json!({
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": ds("prometheus", METRICS),
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": { "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never" },
                "links": [],
            },
            "overrides": [
                {
                    "matcher": { "id": "byRegexp", "options": "^objective.*" },
                    "properties": [
                        { "id": "custom.lineStyle", "value": { "fill": "dash", "dash": [10, 10] } },
                        { "id": "color", "value": { "mode": "fixed", "fixedColor": "red" } },
                        { "id": "custom.fillOpacity", "value": 0 },
                    ],
                },
            ],
        },
        "options": {
            "legend": { "displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"] },
            "tooltip": { "mode": "multi", "sort": "desc" },
        },
    })
}

/// Percent-encodes a URL part, leaving `${...}` placeholders for Grafana to fill.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    let mut rest = s;
    while !rest.is_empty() {
        if rest.starts_with("${")
            && let Some(end) = rest.find('}')
        {
            out.push_str(&rest[..=end]);
            rest = &rest[end + 1..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        if c.is_ascii_alphanumeric() || "-._~".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A data link that opens a query in Explore.
fn explore_link(title: &str, datasource: &str, query: &Value) -> Value {
    let panes = json!({
        "semtel": {
            "datasource": datasource,
            "queries": [query],
            "range": { "from": "${__from}", "to": "${__to}" },
        }
    });
    json!({
        "title": title,
        "url": format!("/explore?schemaVersion=1&orgId=1&panes={}", encode(&panes.to_string())),
        "targetBlank": false,
    })
}

/// A label of the clicked series, for data links.
fn field_label(label: &str) -> String {
    format!("${{__field.labels.{label}:percentencode}}")
}

/// Links from a series of one stage to its traces in Tempo and its logs in Loki.
pub(super) fn stage_links(pipeline: &str, stage: &str) -> Vec<Value> {
    let traceql = format!(
        "{{span.{} = \"{}\" && span.{} = \"{}\"}}",
        crate::pipeline::attribute::PIPELINE_NAME.name(),
        field_label(pipeline),
        crate::pipeline::attribute::PIPELINE_STAGE_NAME.name(),
        field_label(stage),
    );
    let failed = format!("{} && status = error}}", traceql.trim_end_matches('}'));
    let logql = format!(
        "{{service_name=~\".+\"}} | {stage} = `{}`",
        field_label(stage)
    );
    let tempo = |q: &str| {
        json!({
            "refId": "A",
            "datasource": ds("tempo", TRACES),
            "queryType": "traceql",
            "query": q,
            "limit": 20,
        })
    };
    vec![
        explore_link("Traces of this stage (Tempo)", TRACES, &tempo(&traceql)),
        explore_link(
            "Failed calls of this stage (Tempo)",
            TRACES,
            &tempo(&failed),
        ),
        explore_link(
            "Logs of this stage (Loki)",
            LOGS,
            &json!({ "refId": "A", "datasource": ds("loki", LOGS), "expr": logql }),
        ),
    ]
}

pub(super) fn links(mut panel: Value, links: Vec<Value>) -> Value {
    panel["fieldConfig"]["defaults"]["links"] = Value::Array(links);
    panel
}

pub(super) fn datasource_variable(name: &str, label: &str, kind: &str, uid: &str) -> Value {
    json!({
        "name": name,
        "label": label,
        "type": "datasource",
        "query": kind,
        "current": { "text": uid, "value": uid },
        "hide": 0,
        "refresh": 1,
        "regex": "",
    })
}

pub(super) fn query_variable(name: &str, label: &str, query: &str) -> Value {
    json!({
        "name": name,
        "label": label,
        "type": "query",
        "datasource": ds("prometheus", METRICS),
        "query": { "query": query, "refId": name },
        "definition": query,
        "refresh": 2,
        "multi": true,
        "includeAll": true,
        "allValue": ".*",
        "current": { "text": ["All"], "value": ["$__all"] },
        "sort": 1,
        "hide": 0,
    })
}

pub(super) fn dashboard(
    uid: &str,
    title: &str,
    description: &str,
    variables: Vec<Value>,
    panels: Vec<Value>,
) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["semtel"],
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": { "from": "now-1h", "to": "now" },
        "timezone": "browser",
        "annotations": { "list": [{
            "builtIn": 1,
            "datasource": { "type": "grafana", "uid": "-- Grafana --" },
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }] },
        "templating": { "list": variables },
        "links": [{ "title": "semtel", "type": "dashboards", "tags": ["semtel"], "asDropdown": true }],
        "panels": panels,
    })
}
