//! `#[derive(Telemetry)]` on structs, tuple structs, enums and generics.

use std::borrow::Cow;
use std::sync::Arc;

mod my_registry {
    use semtel::conventions::model::AttributeKey;
    pub const CUSTOMER: AttributeKey<String> = AttributeKey::new("acme.customer");
}

#[derive(semtel::Telemetry)]
#[telemetry(prefix = "order")]
pub struct Order {
    id: u64,
    amount: f64,
    paid: bool,
    lines: Vec<u32>,
    tags: [&'static str; 2],
    label: Cow<'static, str>,
    shared: Arc<str>,
    grade: char,
    note: Option<String>,
    #[telemetry(name = "messaging.destination.name")]
    topic: String,
    #[telemetry(key = my_registry::CUSTOMER)]
    customer: String,
    #[telemetry(unchecked = "acme.region")]
    region: &'static str,
    #[telemetry(redact)]
    email: String,
    #[telemetry(redact = "hash")]
    user: String,
    #[telemetry(flatten)]
    source: Source,
    #[telemetry(skip)]
    payload: Vec<u8>,
    status: Status,
    r#type: u8,
}

#[derive(semtel::Telemetry)]
pub struct Source {
    #[telemetry(name = "server.address")]
    host: String,
    #[telemetry(name = "server.port")]
    port: u16,
}

#[derive(Clone, Copy, semtel::Telemetry)]
pub enum Status {
    New,
    #[telemetry(rename = "in-flight")]
    InFlight,
    HTTPFailed,
}

#[derive(semtel::Telemetry)]
#[telemetry(prefix = "pair")]
pub struct Pair(u32, #[telemetry(skip)] String);

#[derive(semtel::Telemetry)]
#[telemetry(prefix = "batch")]
pub struct Batch<'a, T, S: semtel::Telemetry> {
    size: T,
    name: &'a str,
    #[telemetry(flatten)]
    inner: S,
}

#[derive(semtel::Telemetry)]
pub enum Empty {}

#[derive(semtel::Telemetry)]
pub enum Generic<T> {
    A(T),
    B { t: T },
}

#[derive(semtel::Telemetry)]
pub struct Unit;

fn main() {
    use semtel::{ErrorType, Telemetry, TelemetryValue};
    let o = Order {
        id: 1,
        amount: 2.0,
        paid: true,
        lines: vec![1],
        tags: ["a", "b"],
        label: "l".into(),
        shared: "s".into(),
        grade: 'a',
        note: None,
        topic: "t".into(),
        customer: "c".into(),
        region: "eu",
        email: "e".into(),
        user: "u".into(),
        source: Source { host: "h".into(), port: 1 },
        payload: vec![],
        status: Status::InFlight,
        r#type: 1,
    };
    let a = o.attributes();
    assert!(a.get("order.id").is_some());
    assert!(a.get("order.type").is_some());
    assert!(a.get("server.port").is_some());
    assert_eq!(a.get("order.note"), None);
    assert_eq!(Status::HTTPFailed.error_type(), "http_failed");
    assert!(Status::New.telemetry_value().is_some());
    let _ = Pair(1, String::new()).attributes();
    let b = Batch { size: 3u8, name: "n", inner: Unit };
    let _ = b.attributes();
    let _ = Generic::A(1).error_type();
    let _ = Generic::B { t: 1 }.error_type();
    let _ = Unit.attributes();
}
