//! Values of every type that fits an attribute's registry type, in `#[stage]`
//! fields and in the derive: integers of any width for `int`, floats and
//! integers for `double`, strings and enums of strings for `string` and enum
//! attributes, `Option`s of them, slices for arrays.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::{Array, Value};
use semtel::Telemetry;
use semtel::conventions::attribute::{CpythonGcGeneration, HttpRequestMethod};

#[derive(Clone, Copy, semtel::Telemetry)]
enum Method {
    Get,
}

#[derive(semtel::Telemetry)]
struct Request<'a, P> {
    #[telemetry(name = "server.port")]
    port: u16,
    #[telemetry(name = "client.port")]
    client_port: Option<u32>,
    #[telemetry(name = "network.peer.port")]
    peer_port: P,
    #[telemetry(name = "http.response.status_code")]
    status: i32,
    #[telemetry(name = "server.address")]
    host: &'a str,
    #[telemetry(name = "url.full")]
    url: Cow<'a, str>,
    #[telemetry(name = "url.path")]
    path: Arc<str>,
    #[telemetry(name = "url.scheme")]
    scheme: Option<String>,
    #[telemetry(name = "http.request.method")]
    method: HttpRequestMethod,
    #[telemetry(name = "http.request.method_original")]
    original: Method,
    #[telemetry(name = "aspnetcore.request.is_unhandled")]
    unhandled: bool,
    #[telemetry(name = "aws.dynamodb.provisioned_read_capacity")]
    capacity: f32,
    #[telemetry(name = "aws.dynamodb.provisioned_write_capacity")]
    write_capacity: u32,
    #[telemetry(name = "container.image.tags")]
    tags: Vec<&'a str>,
    #[telemetry(name = "cpython.gc.generation")]
    generation: CpythonGcGeneration,
}

#[semtel::stage(fields(
    server.port = port,
    client.port = Some(port),
    network.peer.port = peer as u64,
    http.response.status_code = status,
    server.address = host,
    url.full = url,
    url.path = Arc::<str>::from(host),
    url.scheme = None::<String>,
    http.request.method = HttpRequestMethod::Get,
    http.request.method_original = method,
    aspnetcore.request.is_unhandled = unhandled,
    aws.dynamodb.provisioned_read_capacity = 0.5f32,
    aws.dynamodb.provisioned_write_capacity = peer,
    container.image.tags = tags,
    cpython.gc.generation = CpythonGcGeneration::Generation0,
))]
fn serve(
    port: u16,
    peer: u32,
    status: &i32,
    host: &str,
    url: &String,
    method: &Method,
    unhandled: Option<bool>,
    tags: &[&str],
) {
}

// An enum attribute is open: any string is a value.
#[semtel::stage(fields(http.request.method = verb))]
async fn route(verb: String) {}

fn main() {
    let r = Request {
        port: 8080,
        client_port: Some(5000),
        peer_port: 6000u64,
        status: 200,
        host: "example.com",
        url: Cow::Borrowed("https://example.com/a"),
        path: Arc::from("/a"),
        scheme: None,
        method: HttpRequestMethod::Post,
        original: Method::Get,
        unhandled: false,
        capacity: 1.5,
        write_capacity: 2,
        tags: vec!["v1", "latest"],
        generation: CpythonGcGeneration::Generation1,
    };
    let a = r.attributes();
    assert_eq!(a.get("server.port"), Some(&Value::I64(8080)));
    assert_eq!(a.get("client.port"), Some(&Value::I64(5000)));
    assert_eq!(a.get("network.peer.port"), Some(&Value::I64(6000)));
    assert_eq!(a.get("http.response.status_code"), Some(&Value::I64(200)));
    assert_eq!(a.get("server.address"), Some(&Value::from("example.com")));
    assert_eq!(a.get("url.path"), Some(&Value::from("/a")));
    assert_eq!(a.get("url.scheme"), None);
    assert_eq!(a.get("http.request.method"), Some(&Value::from("POST")));
    assert_eq!(a.get("http.request.method_original"), Some(&Value::from("get")));
    assert_eq!(a.get("aspnetcore.request.is_unhandled"), Some(&Value::Bool(false)));
    assert_eq!(
        a.get("aws.dynamodb.provisioned_read_capacity"),
        Some(&Value::F64(1.5))
    );
    assert_eq!(
        a.get("aws.dynamodb.provisioned_write_capacity"),
        Some(&Value::F64(2.0))
    );
    assert_eq!(
        a.get("container.image.tags"),
        Some(&Value::Array(Array::String(vec!["v1".into(), "latest".into()])))
    );
    assert_eq!(a.get("cpython.gc.generation"), Some(&Value::I64(1)));
    assert_eq!(a.len(), 14);

    serve(443, 7, &404, "h", &String::from("u"), &Method::Get, Some(true), &["t"]);
    let _ = route(String::from("PURGE"));
}
