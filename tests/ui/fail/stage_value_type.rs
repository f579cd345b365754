//! A value computed at run time is checked against the attribute's type in
//! the registry, as a literal is, and the error names the attribute.

#[semtel::stage(fields(
    server.port = port,
    server.address = host,
    aspnetcore.request.is_unhandled = unhandled,
    http.request.method = code,
    container.image.tags = tag,
))]
fn connect(port: &str, host: u16, unhandled: Option<&str>, code: i32, tag: &str) {}

#[semtel::stage(fields(server.port = name.as_str()))]
async fn serve(name: String) {}

fn main() {}
