//! `parent = ..`: a `Context` or a reference to one, from any expression, on
//! every shape of stage; the spawned futures are `Send`.

use std::future::Future;

use semtel::WithContext as _;

type Headers = Vec<(String, Vec<u8>)>;

#[semtel::stage(span_kind = consumer, parent = semtel::propagation::extract(&headers))]
async fn consume(headers: Headers) -> usize {
    headers.len()
}

#[semtel::stage(parent = cx)]
fn by_ref(cx: &semtel::Context) {}

#[semtel::stage(parent = cx, fields(messaging.system = "kafka"))]
fn by_value(cx: semtel::Context) {}

#[semtel::stage(parent = *cx)]
fn deref(cx: &semtel::Context) {}

#[semtel::stage(parent = cx)]
fn tail(cx: semtel::Context) -> impl Future<Output = ()> + Send + 'static {
    async move {}
}

struct Consumer;

impl Consumer {
    #[semtel::stage(parent = semtel::propagation::extract(headers))]
    async fn handle(&self, headers: &Headers) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn spawn_all(headers: Headers) {
    fn is_send<T: Send + 'static>(_: T) {}
    let cx = semtel::propagation::extract(&headers);
    is_send(consume(headers.clone()));
    is_send(tail(cx.clone()));
    is_send(async move { by_ref(&cx) }.in_current_context());
    is_send(async {}.with_context(semtel::context::current()));
    is_send(semtel::context::wrap(|| by_value(semtel::Context::new())));
}

fn main() {
    spawn_all(Vec::new());
    deref(&semtel::Context::new());
    let _ = Consumer.handle(&Vec::new());
}
