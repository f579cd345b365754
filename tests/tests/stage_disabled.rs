//! Stages with telemetry off (no `init()` anywhere in this test binary, so
//! no session is live in the process): the function's own behaviour, every
//! attribute expression form included. An async stage then awaits its body
//! as it is, without a guard; these tests check that path returns what the
//! plain function returns, early returns and `?` included.

#[derive(Debug, PartialEq, semtel::Telemetry)]
enum LoadError {
    #[telemetry(error_type = "empty")]
    Empty,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[semtel::stage(
    pipeline = "disabled",
    records_in = rows.len(),
    records_out = *ret,
    fields(db.operation.name = op)
)]
async fn load(mut rows: Vec<u32>, op: &str) -> Result<usize, LoadError> {
    if rows.is_empty() {
        return Err(LoadError::Empty);
    }
    check(rows.len()).await?;
    rows.push(0);
    Ok(rows.len())
}

#[semtel::stage]
async fn check(n: usize) -> Result<(), LoadError> {
    if n > 2 { Err(LoadError::Empty) } else { Ok(()) }
}

struct Sink {
    written: Vec<u32>,
}

impl Sink {
    #[semtel::stage(records_in = rows.len())]
    async fn write(&mut self, rows: &[u32]) -> usize {
        self.written.extend_from_slice(rows);
        self.written.len()
    }
}

/// Polls `fut` on this thread until it is ready (its futures never wait).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1000 {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("a future here is ready within 1,000 polls");
}

#[test]
fn async_stages_return_what_their_bodies_return_when_telemetry_is_off() {
    assert!(!semtel::__private::active(), "no session in this binary");
    assert_eq!(block_on(load(vec![], "insert")), Err(LoadError::Empty));
    assert_eq!(block_on(load(vec![7], "insert")), Ok(2));
    assert_eq!(
        block_on(load(vec![1, 2, 3], "insert")),
        Err(LoadError::Empty)
    );
    let mut sink = Sink { written: vec![] };
    assert_eq!(block_on(sink.write(&[1, 2])), 2);
    assert_eq!(block_on(sink.write(&[3])), 3);
    assert_eq!(sink.written, [1, 2, 3]);
}
