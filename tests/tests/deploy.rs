//! `deploy/`: the generated rules, unit tests and dashboards are exactly what
//! the generator makes from the registries and `deploy/objectives.yaml`;
//! promtool accepts every rule file and passes every unit test (the
//! generated ones and `tests/promtool/`); every alert fires in a test and
//! stays quiet in another; dashboards are well formed, their PromQL parses
//! and names only metrics the registries define; the stack's files (compose,
//! Alloy, Tempo, Loki, Prometheus, Grafana provisioning) parse and refer to
//! one another consistently.
//!
//! promtool comes from Debian's `prometheus` package (`.ci/run` installs it);
//! under CI these tests fail without it. Regenerate after a change with
//! `cargo run -p semtel-conventions --features codegen -- monitoring --registry examples/registry --out deploy`.

use semtel_conventions::codegen::{Monitoring, Objectives, monitoring, yaml_to_json};
use semtel_tests::{alloy, grafana, prometheus};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The command the committed files' headers name.
const COMMAND: &str = "`semtel-conventions monitoring --registry examples/registry --out deploy`";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_owned()
}

fn deploy() -> PathBuf {
    root().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    yaml_to_json(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    out.sort();
    out
}

/// The strings of a YAML list.
fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn generator() -> Monitoring {
    Monitoring::new()
        .registry(root().join("examples/registry"))
        .out(deploy())
        .command(COMMAND)
}

/// A fresh directory under the target's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn generated_files_match_the_registries_and_objectives() {
    let rendered = generator().render().unwrap_or_else(|e| panic!("{e}"));
    let mut stale = Vec::new();
    for f in &rendered {
        let path = deploy().join(&f.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.contents.as_str()) {
            stale.push(f.path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/ is out of date ({}): run `cargo run -p semtel-conventions --features codegen -- \
         monitoring --registry examples/registry --out deploy` from the checkout and review the diff",
        stale.join(", ")
    );
    // And nothing generated is left over from a registry or metric that is gone.
    let expected: BTreeSet<PathBuf> = rendered.iter().map(|f| deploy().join(&f.path)).collect();
    for (dir, ext) in [
        (monitoring::RULES_DIR, ".yml"),
        (monitoring::TESTS_DIR, ".yml"),
        (monitoring::DASHBOARDS_DIR, ".json"),
    ] {
        for f in files(&deploy().join(dir), ext) {
            assert!(
                expected.contains(&f),
                "{} is not generated any more: remove it",
                f.display()
            );
        }
    }
    for f in &rendered {
        let text = &f.contents;
        assert!(
            !text.contains(&*root().to_string_lossy()),
            "{} names a machine path",
            f.path.display()
        );
        assert!(
            text.contains("Do not edit."),
            "{} has no generated header",
            f.path.display()
        );
    }
}

#[test]
fn promtool_accepts_every_rule_file() {
    let Some(promtool) = prometheus::require("promtool") else {
        return;
    };
    let rules = files(&deploy().join(monitoring::RULES_DIR), ".rules.yml");
    assert!(rules.len() >= 3, "{rules:?}");
    let args: Vec<String> = rules.iter().map(|p| p.display().to_string()).collect();
    let mut argv = vec!["check", "rules"];
    argv.extend(args.iter().map(String::as_str));
    let out = prometheus::promtool(&promtool, &argv, &root()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.matches("SUCCESS").count(), rules.len(), "{out}");
}

#[test]
fn promtool_unit_tests_pass() {
    let Some(promtool) = prometheus::require("promtool") else {
        return;
    };
    let mut tests = files(&deploy().join(monitoring::TESTS_DIR), ".test.yml");
    tests.extend(files(&root().join("tests/promtool"), ".test.yml"));
    assert!(tests.len() >= 2, "{tests:?}");
    let args: Vec<String> = tests.iter().map(|p| p.display().to_string()).collect();
    let mut argv = vec!["test", "rules"];
    argv.extend(args.iter().map(String::as_str));
    let out = prometheus::promtool(&promtool, &argv, &root()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.matches("SUCCESS").count(), tests.len(), "{out}");
}

/// Alert names of the rule files, each with how many rules define it.
fn alerts_of(rule_files: &[PathBuf]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in rule_files {
        for g in yaml(f)["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                if let Some(a) = r["alert"].as_str() {
                    *out.entry(a.to_owned()).or_default() += 1;
                }
            }
        }
    }
    out
}

#[test]
fn every_alert_fires_in_a_test_and_stays_quiet_in_another() {
    let alerts = alerts_of(&files(&deploy().join(monitoring::RULES_DIR), ".rules.yml"));
    for required in [
        "PipelineStageFailureRatioHigh",
        "PipelineStalled",
        "PipelineStageDurationP99High",
        "PipelineStageLagGrowing",
        "PipelineStageDeadLettersGrowing",
        "PipelineStageErrorBudgetBurn",
        "SemtelTelemetryLost",
        "OrdersValidatedFailureRatioHigh",
        "OrdersCommitDurationP99High",
        "OrdersBacklogHigh",
    ] {
        assert!(
            alerts.contains_key(required),
            "no `{required}` alert in {alerts:?}"
        );
    }
    let mut tests = files(&deploy().join(monitoring::TESTS_DIR), ".test.yml");
    tests.extend(files(&root().join("tests/promtool"), ".test.yml"));
    let (mut fired, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for f in &tests {
        for t in yaml(f)["tests"].as_array().into_iter().flatten() {
            for check in t["alert_rule_test"].as_array().into_iter().flatten() {
                let name = check["alertname"].as_str().unwrap_or_default().to_owned();
                match check["exp_alerts"].as_array() {
                    Some(a) if !a.is_empty() => fired.insert(name),
                    _ => quiet.insert(name),
                };
            }
        }
    }
    for a in alerts.keys() {
        assert!(fired.contains(a), "no test shows `{a}` firing");
        assert!(quiet.contains(a), "no test shows `{a}` quiet");
    }
}

/// The provisioned datasources: uid to type.
fn datasources() -> BTreeMap<String, String> {
    let file = deploy().join("grafana/provisioning/datasources/semtel.yaml");
    yaml(&file)["datasources"]
        .as_array()
        .expect("a datasources list")
        .iter()
        .map(|d| {
            (
                d["uid"]
                    .as_str()
                    .expect("every datasource has a uid")
                    .to_owned(),
                d["type"]
                    .as_str()
                    .expect("every datasource has a type")
                    .to_owned(),
            )
        })
        .collect()
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    files(&deploy().join(monitoring::DASHBOARDS_DIR), ".json")
        .into_iter()
        .map(|p| {
            let d = grafana::load(&p);
            (p, d)
        })
        .collect()
}

/// The uid a datasource reference resolves to: a provisioned uid, or the
/// default of a datasource variable.
fn resolve<'a>(uid: &'a str, dashboard: &'a Value) -> Option<&'a str> {
    match uid.strip_prefix("${").and_then(|u| u.strip_suffix('}')) {
        Some(var) => grafana::variables(dashboard)
            .into_iter()
            .find(|v| v["name"] == var && v["type"] == "datasource")
            .and_then(|v| v["current"]["value"].as_str()),
        None => Some(uid),
    }
}

#[test]
fn dashboards_are_well_formed() {
    let provisioned = datasources();
    let all = dashboards();
    assert!(all.len() >= 2, "{all:?}");
    let mut uids = BTreeSet::new();
    for (path, d) in &all {
        let name = path.display();
        assert!(
            uids.insert(d["uid"].as_str().unwrap_or_default().to_owned()),
            "{name}: duplicate uid"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: no title"
        );
        for v in grafana::variables(d) {
            if v["type"] == "datasource" {
                let uid = v["current"]["value"].as_str().unwrap_or_default();
                assert_eq!(
                    provisioned.get(uid).map(String::as_str),
                    v["query"].as_str(),
                    "{name}: variable `{}` defaults to `{uid}`, not a provisioned datasource of its type",
                    v["name"]
                );
            }
        }
        let mut ids = BTreeSet::new();
        let mut cells: Vec<(u64, u64, u64, u64, String)> = Vec::new();
        for p in grafana::panels(d) {
            let title = p["title"].as_str().unwrap_or_default().to_owned();
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: panel `{title}` has no id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().unwrap_or(99),
                g["y"].as_u64().unwrap_or(0),
                g["w"].as_u64().unwrap_or(0),
                g["h"].as_u64().unwrap_or(0),
            );
            assert!(
                w > 0 && h > 0 && x + w <= 24,
                "{name}: panel `{title}` lies off the grid: {g}"
            );
            for (ox, oy, ow, oh, other) in &cells {
                let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
                assert!(!overlap, "{name}: panels `{title}` and `{other}` overlap");
            }
            cells.push((x, y, w, h, title.clone()));
            if p["type"] == "row" {
                continue;
            }
            let ds = p["datasource"]["uid"].as_str().unwrap_or_default();
            let resolved = resolve(ds, d).unwrap_or_else(|| {
                panic!("{name}: panel `{title}`: `{ds}` names no datasource variable")
            });
            assert!(
                provisioned.contains_key(resolved),
                "{name}: panel `{title}`: datasource `{resolved}` is not provisioned"
            );
            let targets = p["targets"].as_array().map(Vec::len).unwrap_or_default();
            assert!(targets > 0, "{name}: panel `{title}` has no query");
            for link in p["fieldConfig"]["defaults"]["links"]
                .as_array()
                .into_iter()
                .flatten()
            {
                check_link(&format!("{name}: panel `{title}`"), link, &provisioned);
            }
        }
        for q in grafana::queries(d) {
            assert!(
                !q.expr.trim().is_empty(),
                "{name}: panel `{}` query {} is empty",
                q.panel,
                q.ref_id
            );
            let resolved = resolve(&q.datasource, d).unwrap_or_default();
            let ty = provisioned.get(resolved).map(String::as_str);
            let expected = match q.kind {
                grafana::Kind::Prometheus => "prometheus",
                grafana::Kind::Tempo => "tempo",
                grafana::Kind::Loki => "loki",
                grafana::Kind::Other => "",
            };
            assert_eq!(
                ty,
                Some(expected),
                "{name}: panel `{}` query {} datasource `{}`",
                q.panel,
                q.ref_id,
                q.datasource
            );
            match q.kind {
                grafana::Kind::Loki => assert!(
                    q.expr.starts_with('{'),
                    "{name}: LogQL without a stream selector: {}",
                    q.expr
                ),
                grafana::Kind::Tempo if q.expr.starts_with('{') => {
                    assert_eq!(
                        q.expr.matches('{').count(),
                        q.expr.matches('}').count(),
                        "{}",
                        q.expr
                    );
                }
                _ => {}
            }
        }
    }
}

/// A data link to Explore: its `panes` JSON, placeholders filled, parses and
/// names a provisioned datasource.
fn check_link(at: &str, link: &Value, provisioned: &BTreeMap<String, String>) {
    let url = link["url"].as_str().unwrap_or_default();
    let panes = url
        .split_once("panes=")
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{at}: link `{url}` opens no Explore pane"));
    let filled = grafana::substitute(
        panes,
        &[
            ("traces", "tempo"),
            ("logs", "loki"),
            ("metrics", "prometheus"),
        ],
    );
    let mut bytes = Vec::new();
    let raw = filled.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 3 <= raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap_or("zz");
            bytes.push(
                u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("{at}: bad escape in {url}")),
            );
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let json: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{at}: the link's panes are not JSON ({e}): {url}"));
    let pane = json
        .as_object()
        .and_then(|o| o.values().next())
        .unwrap_or_else(|| panic!("{at}: no pane in {json}"));
    let uid = pane["datasource"].as_str().unwrap_or_default();
    assert!(
        provisioned.contains_key(uid),
        "{at}: link to datasource `{uid}`"
    );
    let query = &pane["queries"][0];
    assert!(
        query["query"].is_string() || query["expr"].is_string(),
        "{at}: link without a query: {pane}"
    );
}

/// Metric names a PromQL expression selects: identifiers that are not
/// functions, keywords, label names, strings or durations.
fn selected_metrics(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 25] = [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
        // Aggregations, which `by (...)` may separate from their `(`.
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth_braces = 0;
    let mut skip_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '`' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' => {
                depth_braces += 1;
                i += 1;
            }
            '}' => {
                depth_braces -= 1;
                i += 1;
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            ')' if skip_list => {
                skip_list = false;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j] == ' ' {
                    j += 1;
                }
                let next = chars.get(j).copied();
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&word.as_str())
                {
                    skip_list = next == Some('(');
                    continue;
                }
                if depth_braces > 0
                    || skip_list
                    || next == Some('(')
                    || KEYWORDS.contains(&word.as_str())
                {
                    continue;
                }
                out.push(word);
            }
            _ => i += 1,
        }
    }
    out
}

/// Every metric name the registries define, as Prometheus names it, with
/// histogram series, and every name the rule files record.
fn known_metrics() -> BTreeSet<String> {
    let mut known = BTreeSet::from(["ALERTS".to_owned()]);
    let user = semtel_conventions::codegen::Builder::new()
        .registry(root().join("examples/registry"))
        .read()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut add = |name: String| {
        for suffix in ["", "_bucket", "_count", "_sum"] {
            known.insert(format!("{name}{suffix}"));
        }
    };
    for def in semtel_conventions::metrics() {
        add(semtel_conventions::prometheus::metric_name_of(def));
    }
    for m in &user.metrics {
        let ty = semtel_conventions::prometheus::MetricType::of(m.instrument);
        add(semtel_conventions::prometheus::metric_name(
            &m.name, &m.unit, ty,
        ));
    }
    for f in files(&deploy().join(monitoring::RULES_DIR), ".rules.yml") {
        for g in yaml(&f)["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                if let Some(name) = r["record"].as_str() {
                    known.insert(name.to_owned());
                }
            }
        }
    }
    known
}

/// PromQL of the dashboards (variables replaced), the variables' selectors,
/// and the Tempo datasource's metric queries, each with where it is from.
fn all_promql() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, d) in dashboards() {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for q in grafana::queries(&d)
            .into_iter()
            .filter(|q| q.kind == grafana::Kind::Prometheus)
        {
            out.push((
                format!("{file}: panel `{}` {}", q.panel, q.ref_id),
                grafana::substitute(&q.expr, &[]),
            ));
        }
        for v in grafana::variables(&d)
            .into_iter()
            .filter(|v| v["type"] == "query")
        {
            let q = v["definition"].as_str().unwrap_or_default();
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{file}: variable query `{q}` is not label_values(...)"));
            let selector = match inner.rsplit_once(',') {
                Some((series, _label)) => series.trim().to_owned(),
                // label_values(label): every series with the label.
                None => format!("{{{}!=\"\"}}", inner.trim()),
            };
            out.push((
                format!("{file}: variable `{}`", v["name"]),
                grafana::substitute(&selector, &[]),
            ));
        }
    }
    let ds = yaml(&deploy().join("grafana/provisioning/datasources/semtel.yaml"));
    for d in ds["datasources"].as_array().into_iter().flatten() {
        for q in d["jsonData"]["tracesToMetrics"]["queries"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let text = q["query"]
                .as_str()
                .unwrap_or_default()
                .replace("$$__tags", "pipeline_name=\"x\"");
            out.push((format!("datasource `{}`: `{}`", d["uid"], q["name"]), text));
        }
    }
    out
}

#[test]
fn dashboard_promql_parses_and_selects_only_known_metrics() {
    let queries = all_promql();
    assert!(queries.len() > 20, "{}", queries.len());
    let known = known_metrics();
    for (at, expr) in &queries {
        for m in selected_metrics(expr) {
            assert!(
                known.contains(&m),
                "{at}: `{m}` is no metric of the registries (as Prometheus names them) and no recorded rule:\n{expr}"
            );
        }
    }
    let Some(promtool) = prometheus::require("promtool") else {
        return;
    };
    // promtool parses PromQL offline as the expressions of recording rules.
    let mut file = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        file.push_str(&format!(
            "      - record: q{i}\n        expr: {}\n",
            serde_json::to_string(expr).unwrap()
        ));
    }
    let dir = scratch("promql");
    std::fs::write(dir.join("queries.yml"), &file).unwrap();
    let result = prometheus::promtool(&promtool, &["check", "rules", "queries.yml"], &dir);
    if let Err(e) = result {
        let listing: Vec<String> = queries
            .iter()
            .enumerate()
            .map(|(i, (at, q))| format!("q{i}: {at}: {q}"))
            .collect();
        panic!("{e}\n{}", listing.join("\n"));
    }
}

#[test]
fn metric_selectors_are_found_in_promql() {
    assert_eq!(
        selected_metrics(
            "sum by (a, b) (rate(x_total{a=~\"$p\"}[5m])) / on (a) group_left () y > 0 and z{b=\"}\"}"
        ),
        ["x_total", "y", "z"]
    );
    assert_eq!(
        selected_metrics("histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m])))"),
        ["h_bucket"]
    );
}

#[test]
fn the_stack_files_parse_and_agree() {
    let d = deploy();
    // Compose: every service, pinned images, bind mounts that exist, OTLP ports.
    let compose = yaml(&d.join("compose.yaml"));
    let services = compose["services"].as_object().expect("services");
    for s in ["alloy", "tempo", "loki", "prometheus", "grafana"] {
        assert!(
            services.contains_key(s),
            "compose.yaml has no `{s}` service"
        );
    }
    for (name, file) in [
        ("compose.yaml", &compose),
        ("compose.cloud.yaml", &yaml(&d.join("compose.cloud.yaml"))),
    ] {
        for (svc, s) in file["services"].as_object().expect("services") {
            let image = s["image"].as_str().unwrap_or_default();
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
            assert!(
                !tag.is_empty() && tag != "latest",
                "{name}: `{svc}` image `{image}` is not pinned"
            );
            for v in s["volumes"].as_array().into_iter().flatten() {
                let v = v.as_str().unwrap_or_default();
                if let Some(src) = v.strip_prefix("./") {
                    let src = src.split(':').next().unwrap_or_default();
                    assert!(
                        d.join(src).exists(),
                        "{name}: `{svc}` mounts ./{src}, which does not exist"
                    );
                }
            }
        }
    }
    let ports = strings(&compose["services"]["alloy"]["ports"]);
    assert!(
        ports.contains(&"4317:4317") && ports.contains(&"4318:4318"),
        "{ports:?}"
    );
    let prom_args = strings(&compose["services"]["prometheus"]["command"]);
    for flag in [
        "--web.enable-otlp-receiver",
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
    ] {
        assert!(prom_args.contains(&flag), "prometheus lacks {flag}");
    }
    let mounts = |svc: &str| strings(&compose["services"][svc]["volumes"]);
    assert!(mounts("prometheus").contains(&"./prometheus/rules:/etc/prometheus/rules:ro"));
    assert!(mounts("grafana").contains(&"./grafana/dashboards:/var/lib/grafana/dashboards:ro"));

    // Prometheus loads the generated rules.
    let prom = yaml(&d.join("prometheus/prometheus.yml"));
    assert_eq!(prom["rule_files"][0], "/etc/prometheus/rules/*.rules.yml");

    // Grafana: the dashboards provider reads the mounted folder; every
    // correlation link names a provisioned datasource.
    let provider = yaml(&d.join("grafana/provisioning/dashboards/semtel.yaml"));
    assert_eq!(
        provider["providers"][0]["options"]["path"],
        "/var/lib/grafana/dashboards"
    );
    let provisioned = datasources();
    let ds = yaml(&d.join("grafana/provisioning/datasources/semtel.yaml"));
    let mut links = 0;
    for source in ds["datasources"].as_array().unwrap() {
        let j = &source["jsonData"];
        let mut uids: Vec<&Value> = vec![
            &j["tracesToLogsV2"]["datasourceUid"],
            &j["tracesToMetrics"]["datasourceUid"],
            &j["serviceMap"]["datasourceUid"],
            &j["lokiSearch"]["datasourceUid"],
        ];
        uids.extend(
            j["exemplarTraceIdDestinations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| &e["datasourceUid"]),
        );
        uids.extend(
            j["derivedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| &e["datasourceUid"]),
        );
        for uid in uids.into_iter().filter_map(Value::as_str) {
            assert!(
                provisioned.contains_key(uid),
                "datasource `{}` links to `{uid}`",
                source["uid"]
            );
            links += 1;
        }
    }
    // exemplars -> Tempo, Tempo -> Loki, metrics and service map, Tempo's Loki search, Loki -> Tempo.
    assert_eq!(links, 6);
    assert_eq!(
        ds["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"][0]["name"],
        "trace_id"
    );

    // Tempo: the metrics generator's processors, written to this Prometheus.
    let tempo = yaml(&d.join("tempo/tempo.yaml"));
    let processors = &tempo["overrides"]["defaults"]["metrics_generator"]["processors"];
    for p in ["service-graphs", "span-metrics"] {
        assert!(
            processors.as_array().unwrap().iter().any(|v| v == p),
            "tempo lacks {p}"
        );
    }
    assert_eq!(
        tempo["metrics_generator"]["storage"]["remote_write"][0]["url"],
        "http://prometheus:9090/api/v1/write"
    );
    let peers = &tempo["metrics_generator"]["processor"]["service_graphs"]["peer_attributes"];
    for a in ["db.system.name", "messaging.system"] {
        assert!(
            peers.as_array().unwrap().iter().any(|v| v == a),
            "service graphs without {a} nodes"
        );
    }
    // Loki keeps log attributes (trace_id, the stage) as structured metadata.
    assert_eq!(
        yaml(&d.join("loki/loki.yaml"))["limits_config"]["allow_structured_metadata"],
        true
    );
    // The objectives file reads.
    Objectives::read(d.join("objectives.yaml")).unwrap_or_else(|e| panic!("{e}"));

    let Some(promtool) = prometheus::require("promtool") else {
        return;
    };
    prometheus::promtool(
        &promtool,
        &["check", "config", "prometheus/prometheus.yml"],
        &d,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_alloy_configs_are_well_formed_and_wired() {
    for (file, exporters) in [
        (
            "config.alloy",
            [
                ("traces", "otelcol.exporter.otlp.tempo.input"),
                ("logs", "otelcol.exporter.otlphttp.loki.input"),
                ("metrics", "otelcol.exporter.otlphttp.prometheus.input"),
            ],
        ),
        (
            "grafana-cloud.alloy",
            [
                ("traces", "otelcol.exporter.otlphttp.grafana_cloud.input"),
                ("logs", "otelcol.exporter.otlphttp.grafana_cloud.input"),
                ("metrics", "otelcol.exporter.otlphttp.grafana_cloud.input"),
            ],
        ),
    ] {
        let path = deploy().join("alloy").join(file);
        let config =
            alloy::parse(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let components = config.components();
        // Every reference names a declared component and one of its exports.
        for b in &config.blocks {
            for r in b.references() {
                let (id, export) = r
                    .rsplit_once('.')
                    .unwrap_or_else(|| panic!("{file}: reference `{r}`"));
                assert!(
                    components.iter().any(|c| c == id),
                    "{file}: `{r}` refers to no component"
                );
                assert!(["input", "handler"].contains(&export), "{file}: `{r}`");
            }
        }
        // receiver -> memory limiter -> batch -> one exporter per signal.
        let output = |name: &str, signal: &str| -> Vec<String> {
            let b = config
                .component(name, "default")
                .unwrap_or_else(|| panic!("{file}: no {name} \"default\""));
            match b.block("output").and_then(|o| o.attribute(signal)) {
                Some(alloy::Expr::List(items)) => items
                    .iter()
                    .map(|i| match i {
                        alloy::Expr::Reference(r) => r.clone(),
                        other => panic!("{file}: {other:?}"),
                    })
                    .collect(),
                other => panic!("{file}: {name} output {signal}: {other:?}"),
            }
        };
        for (signal, exporter) in exporters {
            assert_eq!(
                output("otelcol.receiver.otlp", signal),
                ["otelcol.processor.memory_limiter.default.input"]
            );
            assert_eq!(
                output("otelcol.processor.memory_limiter", signal),
                ["otelcol.processor.batch.default.input"]
            );
            assert_eq!(
                output("otelcol.processor.batch", signal),
                [exporter],
                "{file} {signal}"
            );
        }
        let endpoint = |name: &str, label: &str| -> alloy::Expr {
            config
                .component(name, label)
                .and_then(|b| b.block("client"))
                .and_then(|c| c.attribute("endpoint"))
                .cloned()
                .unwrap_or(alloy::Expr::Null)
        };
        if file == "config.alloy" {
            assert_eq!(
                endpoint("otelcol.exporter.otlp", "tempo"),
                alloy::Expr::Str("tempo:4317".into())
            );
            assert_eq!(
                endpoint("otelcol.exporter.otlphttp", "loki"),
                alloy::Expr::Str("http://loki:3100/otlp".into())
            );
            assert_eq!(
                endpoint("otelcol.exporter.otlphttp", "prometheus"),
                alloy::Expr::Str("http://prometheus:9090/api/v1/otlp".into())
            );
        } else {
            // Credentials and endpoint from the environment, none in the file.
            let auth = config
                .component("otelcol.auth.basic", "grafana_cloud")
                .expect("basic auth");
            for arg in ["username", "password"] {
                assert!(
                    matches!(auth.attribute(arg), Some(alloy::Expr::Call(f, _)) if f == "sys.env"),
                    "{arg} must come from sys.env"
                );
            }
            assert!(
                matches!(endpoint("otelcol.exporter.otlphttp", "grafana_cloud"), alloy::Expr::Call(f, _) if f == "sys.env")
            );
        }
    }
}

#[test]
fn no_secret_is_written_into_deploy() {
    let mut stack = vec![deploy()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = read(&path);
            for (i, _) in text.match_indices("glc_") {
                let token: String = text[i + 4..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                assert!(
                    token.len() < 8,
                    "{} holds what looks like a Grafana Cloud token",
                    path.display()
                );
            }
            assert!(
                !text.contains("Authorization=Basic "),
                "{} holds an Authorization header",
                path.display()
            );
        }
    }
}

#[test]
fn a_users_registry_gets_rules_that_promtool_accepts_and_passes() {
    let dir = scratch("shop");
    std::fs::write(
        dir.join("objectives.yaml"),
        "defaults:\n  failure_window: 2m\nmetrics:\n  shop.orders:\n    failure_ratio: 0.2\n    success_ratio: 0.99\n",
    )
    .unwrap();
    let written = Monitoring::new()
        .registry(root().join("conventions/tests/fixtures/shop"))
        .out(&dir)
        .generate()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        written
            .iter()
            .any(|p| p.ends_with("prometheus/tests/shop.test.yml")),
        "{written:?}"
    );
    // The objectives file was there: it is read, not rewritten.
    assert!(read(&dir.join("objectives.yaml")).starts_with("defaults:\n  failure_window: 2m"));
    let rules = read(&dir.join("prometheus/rules/shop.rules.yml"));
    assert!(
        rules.contains("alert: ShopOrdersFailureRatioHigh"),
        "{rules}"
    );
    assert!(
        rules.contains("alert: ShopOrdersErrorBudgetBurn"),
        "{rules}"
    );
    assert!(rules.contains("sum by (pipeline_stage_name, shop_order_kind) (rate(shop_orders_total{error_type!=\"\"}[2m]))"), "{rules}");
    let dashboard = grafana::load(dir.join("grafana/dashboards/semtel-shop.json"));
    assert_eq!(grafana::queries(&dashboard).len(), 1);
    // Generating again changes nothing.
    let again = Monitoring::new()
        .registry(root().join("conventions/tests/fixtures/shop"))
        .out(&dir)
        .generate()
        .unwrap();
    assert!(again.is_empty(), "{again:?}");

    let Some(promtool) = prometheus::require("promtool") else {
        return;
    };
    prometheus::promtool(
        &promtool,
        &[
            "check",
            "rules",
            "prometheus/rules/shop.rules.yml",
            "prometheus/rules/semtel-pipeline.rules.yml",
        ],
        &dir,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = prometheus::promtool(
        &promtool,
        &["test", "rules", "prometheus/tests/shop.test.yml"],
        &dir,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn the_objectives_file_is_written_once_when_missing() {
    let dir = scratch("template");
    let written = Monitoring::new().out(&dir).generate().unwrap();
    let file = dir.join(monitoring::OBJECTIVES_FILE);
    assert!(written.contains(&file), "{written:?}");
    assert_eq!(Objectives::read(&file).unwrap(), Objectives::default());
    std::fs::write(&file, "defaults:\n  failure_ratio: 0.2\n").unwrap();
    Monitoring::new().out(&dir).generate().unwrap();
    assert_eq!(read(&file), "defaults:\n  failure_ratio: 0.2\n");
    let rules = read(&dir.join("prometheus/rules/semtel-objectives.rules.yml"));
    assert!(rules.contains("vector(0.2)"), "{rules}");
}

#[test]
fn objectives_for_a_metric_no_registry_has_are_an_error() {
    let o = Objectives::parse(
        "metrics:\n  shop.order:\n    failure_ratio: 0.2\n",
        "objectives.yaml",
    )
    .unwrap();
    let e = Monitoring::new()
        .registry(root().join("conventions/tests/fixtures/shop"))
        .objectives(o)
        .render()
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "objectives.yaml:2:3: objectives for unknown metric `shop.order`, did you mean `shop.orders`?"
    );
    let e = Monitoring::new()
        .objectives_file(root().join("no/such/objectives.yaml"))
        .generate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("no output directory"), "{e}");
}

#[test]
fn nothing_is_written_when_a_registry_has_problems() {
    let dir = scratch("bad");
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::write(
        registry.join("bad.yaml"),
        "groups:\n  - id: metric.bad\n    type: metric\n    metric_name: bad\n    instrument: countr\n    unit: \"1\"\n",
    )
    .unwrap();
    let out = dir.join("out");
    let e = Monitoring::new()
        .registry(&registry)
        .out(&out)
        .generate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown instrument `countr`"), "{e}");
    assert!(!out.exists(), "written despite the error");
}
