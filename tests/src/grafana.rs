//! Reading Grafana dashboards: panels, their queries, and Grafana's
//! variables replaced so that a query can run against Prometheus directly.
//!
//! ```no_run
//! use semtel_tests::grafana::{self, Kind};
//!
//! let d = grafana::load("deploy/grafana/dashboards/semtel-pipeline-overview.json");
//! for q in grafana::queries(&d).iter().filter(|q| q.kind == Kind::Prometheus) {
//!     let promql = grafana::substitute(&q.expr, &[("pipeline", "orders"), ("stage", ".*")]);
//!     // POST promql to Prometheus's /api/v1/query ...
//!     # let _ = promql;
//! }
//! ```

use serde_json::Value;
use std::path::Path;

/// The datasource type a query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PromQL.
    Prometheus,
    /// TraceQL or a Tempo query type (service map).
    Tempo,
    /// LogQL.
    Loki,
    /// Anything else.
    Other,
}

/// One query of one panel.
#[derive(Debug, Clone)]
pub struct Query {
    /// The panel's title.
    pub panel: String,
    /// The panel's id.
    pub panel_id: u64,
    /// The target's `refId`.
    pub ref_id: String,
    /// The datasource uid (or `${variable}`) the target names, else its panel's.
    pub datasource: String,
    /// The datasource type.
    pub kind: Kind,
    /// `expr` (Prometheus, Loki) or `query` (Tempo), or the `queryType` when
    /// there is no text (Tempo's service map).
    pub expr: String,
}

/// Reads a dashboard's JSON.
///
/// # Panics
/// When the file cannot be read or is not JSON: the message names the file.
#[must_use]
pub fn load(path: impl AsRef<Path>) -> Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every panel, those inside collapsed rows included, rows themselves too.
#[must_use]
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// The dashboard's template variables.
#[must_use]
pub fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

fn kind(datasource: &Value, dashboard: &Value) -> Kind {
    let ty = datasource["type"].as_str().map(str::to_owned).or_else(|| {
        // A bare `${var}`: the type is the variable's plugin.
        let uid = datasource["uid"].as_str()?;
        let name = uid.trim_start_matches("${").trim_end_matches('}');
        variables(dashboard)
            .into_iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["query"].as_str().map(str::to_owned))
    });
    match ty.as_deref() {
        Some("prometheus") => Kind::Prometheus,
        Some("tempo") => Kind::Tempo,
        Some("loki") => Kind::Loki,
        _ => Kind::Other,
    }
}

/// Every target of every panel.
#[must_use]
pub fn queries(dashboard: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let ds = if t["datasource"].is_object() {
                &t["datasource"]
            } else {
                &p["datasource"]
            };
            let expr = t["expr"]
                .as_str()
                .or_else(|| t["query"].as_str())
                .or_else(|| t["queryType"].as_str())
                .unwrap_or_default();
            out.push(Query {
                panel: p["title"].as_str().unwrap_or_default().to_owned(),
                panel_id: p["id"].as_u64().unwrap_or_default(),
                ref_id: t["refId"].as_str().unwrap_or_default().to_owned(),
                datasource: ds["uid"].as_str().unwrap_or_default().to_owned(),
                kind: kind(ds, dashboard),
                expr: expr.to_owned(),
            });
        }
    }
    out
}

/// Replaces Grafana's variables in a query: the given ones, then
/// `$__rate_interval` and `$__interval` by `1m`, and every other remaining
/// `$name` / `${name}` / `${name:format}` by `.*` (what "All" means for the
/// dashboards' multi-value variables).
#[must_use]
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let builtins = [
        ("__rate_interval", "1m"),
        ("__interval", "1m"),
        ("__range", "1h"),
    ];
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, after) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').unwrap_or(braced.len());
            let name = braced[..end].split(':').next().unwrap_or_default();
            (name, &braced[(end + 1).min(braced.len())..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let value = values
            .iter()
            .chain(builtins.iter())
            .find(|(n, _)| *n == name)
            .map_or(".*", |(_, v)| v);
        out.push_str(value);
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::substitute;

    #[test]
    fn variables_are_replaced() {
        assert_eq!(
            substitute(
                "rate(x{p=~\"$pipeline\", s=~\"${stage}\"}[$__rate_interval])",
                &[("pipeline", "orders")]
            ),
            "rate(x{p=~\"orders\", s=~\".*\"}[1m])"
        );
        assert_eq!(substitute("${stage:regex} costs $5", &[]), ".* costs .*");
        assert_eq!(substitute("a $ b", &[]), "a $ b");
    }
}
