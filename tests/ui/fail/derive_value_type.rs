//! `#[telemetry(name = "...")]` checks the field's type against the
//! attribute's, with the messages of `#[stage]`'s `fields`.

#[derive(semtel::Telemetry)]
struct Target {
    #[telemetry(name = "server.port")]
    port: String,
    #[telemetry(name = "server.address")]
    host: u16,
    #[telemetry(name = "http.request.method")]
    method: u16,
    #[telemetry(name = "aspnetcore.request.is_unhandled")]
    unhandled: Option<String>,
    #[telemetry(name = "container.image.tags")]
    tags: Vec<u32>,
}

// A generic field is checked where the type is known.
#[derive(semtel::Telemetry)]
struct Endpoint<T> {
    #[telemetry(name = "server.port")]
    port: T,
}

fn main() {
    let e = Endpoint { port: String::from("8080") };
    let _ = semtel::Telemetry::attributes(&e);
}
