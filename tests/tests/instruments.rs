//! Typed instruments of a user's registry (`semtel::instrument`), over OTLP:
//! made from the example pipeline's generated descriptors, their metrics
//! arrive with the registry's name, unit and instrument, and, recorded
//! inside a stage (sync, and async across awaits on a multi-thread
//! runtime), with the stage's labels that the registry lists for the metric
//! (and no others, so the live check against the official, pipeline and
//! example registries is clean), the caller's attributes on top. With
//! telemetry off they record nothing and do not panic. One test: the
//! instruments use `init`'s global meter provider.

mod common;

use semtel::conventions::attribute::{ERROR_TYPE, MESSAGING_DESTINATION_NAME};
use semtel::conventions::metric::JVM_CPU_RECENT_UTILIZATION;
use semtel::instrument::{Attribute, Counter, Gauge, Histogram, UpDownCounter};
use semtel_examples::conventions::attribute::{ORDERS_ORDER_CURRENCY, OrdersOrderCurrency};
use semtel_examples::conventions::metric::{
    ORDERS_BACKLOG, ORDERS_COMMIT_DURATION, ORDERS_VALIDATED,
};
use semtel_tests::record::{NumberPoint, Snapshot};
use semtel_tests::{LiveCheck, Receiver, attr_str};

static VALIDATED: Counter<u64> = Counter::new(ORDERS_VALIDATED);
static COMMIT: Histogram<f64> = Histogram::new(ORDERS_COMMIT_DURATION);
static BACKLOG: UpDownCounter<i64> = UpDownCounter::new(ORDERS_BACKLOG);
/// Any generated gauge: one of the official registry.
static UTILIZATION: Gauge<f64> = Gauge::new(JVM_CPU_RECENT_UTILIZATION);

/// `orders.validated` lists `pipeline.name` and `pipeline.stage.name` (not
/// `pipeline.stage.kind`), `error.type` and the currency.
#[semtel::stage(pipeline = "orders", kind = transform)]
fn validate(amounts: &[f64]) -> usize {
    let mut valid = 0;
    for &amount in amounts {
        if amount > 0.0 {
            VALIDATED.add(1, &[]);
            valid += 1;
        } else {
            VALIDATED.add(1, &[Attribute::new(ERROR_TYPE, "invalid_amount")]);
        }
    }
    let eur = Attribute::new(ORDERS_ORDER_CURRENCY, &OrdersOrderCurrency::Eur);
    VALIDATED.add(5, &[eur, Attribute::new(ERROR_TYPE, &None::<&str>)]);
    valid
}

/// `orders.commit.duration` lists `pipeline.name` and `db.system.name`
/// (a literal field of the stage), not `pipeline.stage.name`.
#[semtel::stage(pipeline = "orders", kind = sink, fields(db.system.name = "sqlite"))]
async fn commit(seconds: f64) {
    tokio::task::yield_now().await;
    COMMIT.record(seconds, &[]);
    tokio::task::yield_now().await;
    COMMIT.record(f64::NAN, &[]); // not recorded
}

/// More stages than an instrument binds without a lock (8): each gets its
/// own labels.
macro_rules! many_stages {
    ($($name:ident = $n:literal),+) => {
        $(
            #[semtel::stage(pipeline = "orders")]
            fn $name() {
                VALIDATED.add($n, &[]);
            }
        )+
        const MANY: &[(fn(), &str, f64)] = &[$(($name, stringify!($name), $n as f64)),+];
    };
}

many_stages!(
    many_1 = 1,
    many_2 = 2,
    many_3 = 3,
    many_4 = 4,
    many_5 = 5,
    many_6 = 6,
    many_7 = 7,
    many_8 = 8,
    many_9 = 9,
    many_10 = 10
);

/// Every instrument, with values that are not recorded among them.
fn record_everything() {
    VALIDATED.add(u64::MAX, &[]);
    COMMIT.record(f64::INFINITY, &[]);
    BACKLOG.add(-1, &[]);
    UTILIZATION.record(0.5, &[]);
}

fn points(snap: &Snapshot, name: &str) -> Vec<NumberPoint> {
    snap.metric(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .number_points()
}

/// The attribute keys of a point, sorted.
fn keys(attributes: &[semtel_tests::proto::tonic::common::v1::KeyValue]) -> Vec<&str> {
    let mut keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn typed_instruments_record_the_registrys_metrics_with_the_stages_labels() {
    // Telemetry off: nothing happens, inside or outside a stage.
    record_everything();
    assert_eq!(validate(&[1.0]), 1);

    let rx = Receiver::start();
    let endpoint = rx.http_endpoint();
    let guard = common::builder(&[
        ("OTEL_SERVICE_NAME", "instruments"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .init()
    .expect("first init in this process");

    assert_eq!(validate(&[10.0, -1.0, 3.5]), 2);
    for (stage, _, _) in MANY {
        stage();
        stage();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let tasks: Vec<_> = [0.1, 0.2, 0.4]
            .map(|s| tokio::spawn(commit(s)))
            .into_iter()
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    drop(rt);
    // Outside a stage: the caller's attributes only.
    let topic = Attribute::new(MESSAGING_DESTINATION_NAME, "orders");
    BACKLOG.add(3, std::slice::from_ref(&topic));
    BACKLOG.add(-1, &[topic]);
    UTILIZATION.record(0.25, &[]);
    UTILIZATION.record(f64::NAN, &[]);
    let report = guard.shutdown();
    assert_eq!(report.lost(), 0, "{report}");

    let snap = rx.expect(common::WAIT, "the instruments' metrics", |s| {
        [
            "orders.validated",
            "orders.commit.duration",
            "orders.backlog",
        ]
        .iter()
        .all(|m| s.metric(m).is_some())
    });

    // Name, unit and instrument are the registry's.
    for (name, unit, kind, monotonic) in [
        ("orders.validated", "{order}", "sum", Some(true)),
        ("orders.commit.duration", "s", "histogram", None),
        ("orders.backlog", "{message}", "sum", Some(false)),
        ("jvm.cpu.recent_utilization", "1", "gauge", None),
    ] {
        let m = snap.metric(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(
            (m.unit(), m.kind(), m.is_monotonic()),
            (unit, kind, monotonic),
            "{name}"
        );
    }

    let all_validated = points(&snap, "orders.validated");
    for (_, name, n) in MANY {
        let found: Vec<_> = (all_validated.iter())
            .filter(|p| attr_str(&p.attributes, "pipeline.stage.name") == Some(name))
            .map(|p| p.value)
            .collect();
        assert_eq!(found, [2.0 * n], "{name}");
    }
    let validated: Vec<_> = (all_validated.into_iter())
        .filter(|p| {
            !MANY
                .iter()
                .any(|(_, name, _)| attr_str(&p.attributes, "pipeline.stage.name") == Some(name))
        })
        .collect();
    let stage = ["pipeline.name", "pipeline.stage.name"];
    let plain: Vec<_> = validated
        .iter()
        .filter(|p| keys(&p.attributes) == stage)
        .collect();
    assert_eq!(plain.len(), 1, "{validated:?}");
    assert_eq!(
        attr_str(&plain[0].attributes, "pipeline.name"),
        Some("orders")
    );
    assert_eq!(
        attr_str(&plain[0].attributes, "pipeline.stage.name"),
        Some("validate")
    );
    assert_eq!(plain[0].value, 2.0);
    let rejected: Vec<_> = validated
        .iter()
        .filter(|p| attr_str(&p.attributes, "error.type") == Some("invalid_amount"))
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        keys(&rejected[0].attributes),
        ["error.type", "pipeline.name", "pipeline.stage.name"]
    );
    assert_eq!(rejected[0].value, 1.0);
    let by_currency: Vec<_> = validated
        .iter()
        .filter(|p| attr_str(&p.attributes, "orders.order.currency") == Some("EUR"))
        .collect();
    assert_eq!(by_currency.len(), 1);
    assert_eq!(by_currency[0].value, 5.0);
    assert_eq!(
        validated.len(),
        3,
        "nothing recorded with telemetry off: {validated:?}"
    );

    let commit = snap.metric("orders.commit.duration").expect("commit");
    let [point] = commit.histogram_points() else {
        panic!("one attribute set: {:?}", commit.histogram_points());
    };
    assert_eq!(keys(&point.attributes), ["db.system.name", "pipeline.name"]);
    assert_eq!(
        attr_str(&point.attributes, "db.system.name"),
        Some("sqlite")
    );
    assert_eq!(point.count, 3, "NaN and infinity are not recorded");
    assert!((point.sum.expect("a sum") - 0.7).abs() < 1e-9);
    assert_eq!(
        point.explicit_bounds.first(),
        Some(&0.0005),
        "seconds' buckets"
    );

    let backlog = points(&snap, "orders.backlog");
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(keys(&backlog[0].attributes), ["messaging.destination.name"]);
    assert_eq!(backlog[0].value, 2.0);
    let utilization = points(&snap, "jvm.cpu.recent_utilization");
    assert_eq!(utilization.len(), 1);
    assert_eq!(utilization[0].value, 0.25);

    let mut check = LiveCheck::new().registry(&semtel_examples::conventions::REGISTRY);
    check.assert_clean(&snap);
    for name in [
        "orders.validated",
        "orders.commit.duration",
        "orders.backlog",
    ] {
        assert!(check.checked_metrics().contains(name), "{name} not checked");
    }
}
