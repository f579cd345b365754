use super::*;
fn err(text: &str) -> String {
    match Objectives::parse(text, "o.yaml") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted: {text}"),
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("5m"), Some(300.0));
    assert_eq!(parse_duration("1h30m"), Some(5400.0));
    assert_eq!(parse_duration("250ms"), Some(0.25));
    assert_eq!(parse_duration("1d"), Some(86_400.0));
    for bad in [
        "",
        "5",
        "m",
        "30m1h",
        "5mm",
        "-5m",
        "1.5h",
        "99999999999999999s",
        "5 m",
    ] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
    assert_eq!(duration(300.0), "5m");
    assert_eq!(duration(5400.0), "1h30m");
    assert_eq!(duration(0.25), "250ms");
    assert_eq!(duration(90.0), "1m30s");
    assert_eq!(duration(86_400.0), "1d");
}

#[test]
fn defaults_and_overrides() {
    let o = Objectives::parse(
            "defaults:\n  failure_ratio: 0.1\npipelines:\n  p:\n    stall_window: 1h\n    stages:\n      s:\n        duration_p99: 250ms\n",
            "o.yaml",
        )
        .unwrap();
    assert_eq!(o.default_of(Setting::FailureRatio), Some(0.1));
    assert_eq!(o.default_of(Setting::FailureWindow), Some(300.0));
    assert_eq!(
        o.at(&Scope::Pipeline("p".into()), Setting::StallWindow),
        Some(3600.0)
    );
    assert_eq!(
        o.at(&Scope::Stage("p".into(), "s".into()), Setting::DurationP99),
        Some(0.25)
    );
    assert_eq!(o.distinct(Setting::StallWindow), [900.0, 3600.0]);
    assert_eq!(o.default_of(Setting::SuccessRatio), None);
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let e = err(
        "defaults:\n  failure_ratoi: 0.1\n  failure_ratio: 1\n  failure_window: 0s\npipelines:\n  p:\n    stages:\n      s:\n        stall_window: 1h\n    stall_lookback: 2d\n",
    );
    assert!(
        e.contains(
            "o.yaml:2:3: unknown key `failure_ratoi` in `defaults`, did you mean `failure_ratio`?"
        ),
        "{e}"
    );
    assert!(e.contains("o.yaml:3:18: invalid value `1` for `failure_ratio`: expected a number from 0 up to (not including) 1"), "{e}");
    assert!(
        e.contains("o.yaml:4:19: invalid value `0s` for `failure_window`"),
        "{e}"
    );
    assert!(e.contains("`stall_window` is set in `defaults` or per pipeline, not per stage (found in stage `s` of pipeline `p`)"), "{e}");
    assert!(
        e.contains("`stall_lookback` is set in `defaults` only"),
        "{e}"
    );
}

#[test]
fn absurd_values_are_refused() {
    for v in ["-1", "NaN", "inf", "1e400", "0x10", "yes", "\"\"", "[1]"] {
        let e = err(&format!("defaults:\n  dead_letters: {v}\n"));
        assert!(e.contains("dead_letters"), "{v}: {e}");
    }
    for v in ["0", "1", "1.5", "-0.5"] {
        let e = err(&format!("defaults:\n  success_ratio: {v}\n"));
        assert!(e.contains("between 0 and 1"), "{v}: {e}");
    }
    for v in ["31d", "1500ms", "0s", "18446744073709551616s"] {
        let e = err(&format!("defaults:\n  failure_window: {v}\n"));
        assert!(e.contains("from `1s` to `30d`"), "{v}: {e}");
    }
    assert!(
        err("defaults:\n  stall_window: 2d\n").contains("`stall_lookback` (1d) must be longer")
    );
    assert!(err("{{{").contains("invalid YAML"));
    assert!(err("pipelines: 3\n").contains("`pipelines` must be a mapping"));
}

#[test]
fn the_template_reads_as_the_defaults() {
    assert_eq!(
        Objectives::parse(&template(), "t.yaml").unwrap(),
        Objectives::default()
    );
    let uncommented: String = template()
        .lines()
        .filter_map(|l| l.strip_prefix("  # ").filter(|l| !l.starts_with(' ')))
        .map(|l| format!("  {l}\n"))
        .collect();
    let all = Objectives::parse(&format!("defaults:\n{uncommented}"), "t.yaml").unwrap();
    assert_eq!(all.default_of(Setting::SuccessRatio), Some(0.99));
    assert_eq!(all.default_of(Setting::StallWindow), Some(900.0));
}
