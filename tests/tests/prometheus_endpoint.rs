//! The Prometheus endpoint of a session (`OTEL_METRICS_EXPORTER=prometheus`):
//! an address that cannot be bound is a typed error naming the variables and
//! the address, never a panic; a session serves its meters' metrics in the
//! classic format by default, answers other paths with 404, and stops
//! listening when it shuts down.

mod common;

use std::net::TcpListener;

use opentelemetry::KeyValue;
use semtel_tests::client::http_get;

#[test]
fn an_address_in_use_is_a_typed_error_naming_the_variables_and_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port().to_string();
    let error = common::builder(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", &port),
    ])
    .build()
    .expect_err("the port is taken");
    let semtel::Error::PrometheusBind { address, source } = &error else {
        panic!("not a bind error: {error}");
    };
    assert_eq!(*address, format!("127.0.0.1:{port}"));
    assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("cannot serve Prometheus metrics on 127.0.0.1:{port} (OTEL_EXPORTER_PROMETHEUS_HOST, OTEL_EXPORTER_PROMETHEUS_PORT or Builder::prometheus_addr): ")),
        "{text}"
    );

    let error = common::builder(&[
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "no-such-host.invalid"),
    ])
    .build()
    .expect_err("the host does not resolve");
    assert!(
        error.to_string().contains("on no-such-host.invalid:9464"),
        "{error}"
    );
}

#[test]
fn a_session_serves_its_metrics_and_stops_with_it() {
    let session = common::builder(&[
        ("OTEL_SERVICE_NAME", "endpoint"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "0"),
    ])
    .build()
    .expect("valid configuration");
    let addr = session.prometheus_addr().expect("listening");
    let counter = session
        .meter("endpoint-test")
        .u64_counter("shop.orders")
        .with_unit("{order}")
        .build();
    counter.add(3, &[KeyValue::new("shop.order.kind", "gift \"wrap\"")]);

    let answer = http_get(addr, "/metrics", &[]).expect("scrape");
    assert_eq!(answer.status, 200);
    let body = String::from_utf8(answer.body).expect("UTF-8");
    assert!(
        body.contains("# TYPE shop_orders_total counter\nshop_orders_total{shop_order_kind=\"gift \\\"wrap\\\"\"} 3\n"),
        "{body}"
    );
    assert!(body.contains("# TYPE target_info gauge\n"), "{body}");
    assert_eq!(http_get(addr, "/other", &[]).expect("answer").status, 404);

    let report = session.shutdown();
    assert_eq!(report.lost(), 0, "{report}");
    assert!(http_get(addr, "/metrics", &[]).is_err(), "still listening");
}

/// `Builder::prometheus_addr` wins over the variables, which here name a
/// port already taken: the session listens where the code says, and an
/// empty host set in code is a configuration error naming the method.
#[test]
fn an_address_set_in_code_wins_over_the_variables() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port().to_string();
    let vars = [
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", &port),
    ];
    let session = common::builder(&vars)
        .prometheus_addr("127.0.0.1", 0)
        .build()
        .expect("the address in code is free");
    assert_eq!(session.config().prometheus.port, 0);
    let addr = session.prometheus_addr().expect("listening");
    assert_ne!(addr.port().to_string(), port);
    let counter = session.meter("in-code").u64_counter("shop.orders").build();
    counter.add(2, &[]);
    let answer = http_get(addr, "/metrics", &[]).expect("scrape");
    assert_eq!(answer.status, 200);
    let body = String::from_utf8(answer.body).expect("UTF-8");
    assert!(body.contains("shop_orders_total 2\n"), "{body}");
    let report = session.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    // Set in code and taken: the same typed error.
    let error = common::builder(&vars)
        .prometheus_addr("127.0.0.1", port.parse().expect("a port"))
        .build()
        .expect_err("the port is taken");
    assert!(
        matches!(&error, semtel::Error::PrometheusBind { address, .. } if *address == format!("127.0.0.1:{port}")),
        "{error}"
    );

    let error = common::builder(&vars)
        .prometheus_addr(" ", 9464)
        .build()
        .expect_err("an empty host");
    let semtel::Error::Config(items) = &error else {
        panic!("not a configuration error: {error}");
    };
    assert_eq!(items.len(), 1, "{error}");
    assert_eq!(items[0].variable, "Builder::prometheus_addr");
    assert!(
        error.to_string().contains("a host name or address"),
        "{error}"
    );
}
