//! Smoke test of the rotel-agent harness. Fails (does not skip) when rotel-agent
//! is not installed: `python3 -m pip install rotel`.

use std::time::Duration;

use semtel_tests::client::{GrpcOptions, export_traces_grpc};
use semtel_tests::fixtures::{self, CHILD_ID, PARENT_ID, TRACE_ID};
use semtel_tests::rotel_debug::printed_attr;
use semtel_tests::{Rotel, RotelDebug};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn rotel_prints_a_span_received_over_grpc() {
    let rotel = Rotel::start().unwrap_or_else(|e| panic!("{e}"));
    export_traces_grpc(
        &rotel.grpc_endpoint(),
        fixtures::traces("rotel-smoke", "smoke-parent", "smoke-child"),
        &GrpcOptions::default(),
    )
    .expect("export to rotel over gRPC");
    // rotel prints a span over several writes: wait for its last attribute,
    // not only its name.
    let output = rotel.expect_output(WAIT, "span smoke-child with its attributes", |out| {
        RotelDebug::parse(out)
            .span("smoke-child")
            .is_some_and(|c| printed_attr(&c.attributes, "records").is_some())
    });
    assert!(output.contains("Name           : smoke-child"), "{output}");

    let parsed = RotelDebug::parse(&output);
    let child = parsed.span("smoke-child").unwrap();
    assert_eq!(child.trace_id, TRACE_ID);
    assert_eq!(child.span_id, CHILD_ID);
    assert_eq!(child.parent_id, PARENT_ID);
    assert_eq!(
        printed_attr(&child.resource, "service.name"),
        Some("rotel-smoke")
    );
    assert_eq!(printed_attr(&child.attributes, "records"), Some("Int(3)"));
}

#[test]
fn rotel_is_killed_by_pid_on_drop() {
    let rotel = Rotel::start().unwrap_or_else(|e| panic!("{e}"));
    let addr = rotel.grpc_addr();
    assert!(rotel.pid().is_some());
    drop(rotel);
    let refused = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5));
    assert!(refused.is_err(), "rotel still listening after drop");
}
