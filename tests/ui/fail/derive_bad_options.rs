#[derive(semtel::Telemetry)]
#[telemetry(prefix = "order.", crate = semtel, colour = "blue")]
struct Order {
    #[telemetry(skip, name = "messaging.destination.name")]
    a: u64,
    #[telemetry(flatten, redact)]
    b: u64,
    #[telemetry(redact = "rot13")]
    c: u64,
    #[telemetry(nme = "server.address")]
    d: u64,
    #[telemetry]
    e: u64,
}

#[derive(semtel::Telemetry)]
#[telemetry(prefix = "status")]
enum Status {
    #[telemetry(error_typ = "x")]
    New,
}

#[derive(semtel::Telemetry)]
union Bits {
    a: u32,
}

fn main() {}
