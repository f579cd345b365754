//! Async stages: `async fn`, methods, `impl Future` and async-trait's shape.

use std::future::Future;
use std::pin::Pin;

#[derive(Debug, semtel::Telemetry)]
pub enum FetchError {
    #[telemetry(error_type = "timeout")]
    TimedOut,
    Refused { code: u16 },
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[semtel::stage(pipeline = "orders", kind = source, span_kind = client, records_out = ret.len(),
    bytes_in = url.len(), bytes_out = ret.len())]
async fn fetch(url: &str) -> Result<Vec<u8>, FetchError> {
    if url.is_empty() {
        return Err(FetchError::TimedOut);
    }
    nested().await?;
    Ok(url.as_bytes().to_vec())
}

#[semtel::stage]
async fn nested() -> Result<(), FetchError> {
    Ok(())
}

#[semtel::stage(records_in = rows.len())]
async fn unit(rows: Vec<u32>) {
    drop(rows);
}

#[semtel::stage]
fn returns_future(n: u32) -> impl Future<Output = Result<u32, FetchError>> {
    async move { if n > 0 { Ok(n) } else { Err(FetchError::Refused { code: 1 }) } }
}

pub trait Source {
    fn read<'a>(&'a self, n: u32) -> Pin<Box<dyn Future<Output = Result<u32, FetchError>> + Send + 'a>>;
}

pub struct Kafka;

impl Source for Kafka {
    // The shape `#[async_trait]` gives a method before `#[stage]` sees it.
    #[semtel::stage(span_kind = consumer)]
    fn read<'a>(&'a self, n: u32) -> Pin<Box<dyn Future<Output = Result<u32, FetchError>> + Send + 'a>> {
        Box::pin(async move {
            let _this = self;
            Ok(n)
        })
    }
}

pub struct Client {
    base: String,
}

impl Client {
    #[semtel::stage(fields(server.address = self.base.as_str()))]
    async fn get(&self, path: &str) -> Result<String, FetchError> {
        Ok(format!("{}{path}", self.base))
    }

    #[semtel::stage]
    async fn take(mut self) -> String {
        self.base.push('/');
        self.base
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let _ = assert_send(fetch("x"));
    let _ = assert_send(unit(vec![]));
    let _ = assert_send(returns_future(1));
    let _ = assert_send(Kafka.read(1));
    let c = Client { base: "b".into() };
    let _ = c.get("p");
    let _ = assert_send(c.take());
}
