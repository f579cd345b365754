//! Pipeline runs: one execution of a pipeline, from its start to its end.
//!
//! [`Run::start`] starts a root span `run {pipeline}` (kind internal, with
//! `pipeline.name` and `pipeline.run.id`) and gives a [`Context`] that holds
//! it and the run id as baggage. Made current ([`Run::in_scope`],
//! [`Run::enter`], or [`with_context`](crate::WithContext::with_context)
//! with [`Run::context`] for a future, also across `tokio::spawn`), it
//! makes the stages, `tracing` spans and log records inside children of the
//! run, each carrying `pipeline.run.id`: always, whatever
//! `SEMTEL_BAGGAGE_ATTRIBUTES` lists. The run id is never a metric label
//! nor a resource attribute, as it is new for every run.
//!
//! [`Run::finish`] ends the run span with the outcome: a failed run's span
//! has status error and `error.type`; a run dropped without `finish` ends
//! with its status unset. The span's start and end are the run's, and it
//! sums up the stage calls recorded (sampled) inside that ended before the
//! run: their number (`pipeline.run.stages`), how many failed
//! (`pipeline.run.failures`), and the records they counted, read
//! (`pipeline.run.records_in`) and written (`pipeline.run.records_out`),
//! by `records_in = ..`/`records_out = ..` and through
//! [`semtel::stage::current()`](crate::stage::current).
//!
//! ```
//! use semtel::WithContext as _;
//!
//! #[semtel::stage(pipeline = "orders")]
//! fn extract() -> Vec<u64> {
//!     vec![1, 2, 3]
//! }
//!
//! #[semtel::stage(pipeline = "orders")]
//! async fn load(orders: Vec<u64>) -> usize {
//!     orders.len()
//! }
//!
//! # #[tokio::main] async fn main() {
//! let run = semtel::Run::start("orders", None);
//! let orders = run.in_scope(extract);
//! let task = tokio::spawn(load(orders).with_context(run.context()));
//! let loaded = task.await.unwrap();
//! assert_eq!(loaded, 3);
//! assert_eq!(run.id().len(), 32, "a random id when none is given");
//! run.finish(semtel::run::Outcome::Success);
//! # }
//! ```
//!
//! The run span is a `tracing` span at level INFO: a `RUST_LOG` that
//! filters out INFO spans of the `semtel::run` target leaves runs
//! unrecorded, while their id still reaches what is inside.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use semtel_conventions::pipeline::attribute as attr;

use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::context::Context;
use crate::engine::current::Attached;
use crate::record::RunTally;

/// The attribute (and baggage key) of a run's id.
pub const RUN_ID_KEY: &str = attr::PIPELINE_RUN_ID.name();

/// How a run ended, given to [`Run::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The run did its work.
    Success,
    /// The run failed; `error_type` is the `error.type` of its span (a low
    /// cardinality class of error, such as `timeout` or an error's type).
    Failure {
        /// The class of the error.
        error_type: String,
    },
}

impl Outcome {
    /// A failure of class `error_type`.
    pub fn failure(error_type: impl Into<String>) -> Self {
        Self::Failure {
            error_type: error_type.into(),
        }
    }
}

/// One run of a pipeline; ends its span when finished or dropped (see the
/// [module docs](self)).
#[must_use = "a run's span ends when the run is dropped"]
pub struct Run {
    id: String,
    span: tracing::Span,
    cx: Context,
    tally: Arc<RunTally>,
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// Starts a run of `pipeline` with the id given, or else a random one
    /// (32 hexadecimal digits). Its span's parent is the current context
    /// ([`context::current`](crate::context::current)), a root when none.
    ///
    /// ```
    /// let run = semtel::Run::start("orders", Some("2026-12-02".into()));
    /// assert_eq!(run.id(), "2026-12-02");
    /// ```
    pub fn start(pipeline: &str, id: Option<String>) -> Self {
        let id = id.unwrap_or_else(random_id);
        crate::engine::context::note_run();
        let name = format!("run {pipeline}");
        // A run started inside another has its own id, not the outer one's
        // copied from the baggage.
        let parent = without_run_id(&crate::context::current());
        let span = tracing::info_span!(
            target: "semtel::run",
            "run",
            otel.name = name.as_str(),
            otel.kind = "internal",
            pipeline.name = pipeline,
            pipeline.run.id = id.as_str(),
        );
        // Explicitly: a stage around the run is not `tracing`'s current span.
        let _ = span.set_parent(parent);
        let tally = Arc::new(RunTally::new(&id));
        let cx = crate::baggage::set_in(&span.context(), [(RUN_ID_KEY, id.as_str())])
            .with_value(Arc::clone(&tally));
        Self {
            id,
            span,
            cx,
            tally,
        }
    }

    /// The run's id (`pipeline.run.id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run's context: its span and its id as baggage, to carry into
    /// tasks and threads ([`crate::context`]).
    ///
    /// ```
    /// let run = semtel::Run::start("orders", None);
    /// let cx = run.context();
    /// let id = std::thread::spawn(move || {
    ///     semtel::context::in_scope(&cx, || semtel::baggage::get("pipeline.run.id"))
    /// });
    /// assert_eq!(id.join().unwrap().as_deref(), Some(run.id()));
    /// ```
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    /// Runs `f` now inside the run.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        crate::context::in_scope(&self.cx, f)
    }

    /// Makes the run current on this thread until the guard is dropped
    /// (not across an `.await`: use [`Run::context`] with
    /// [`with_context`](crate::WithContext::with_context)).
    ///
    /// ```
    /// let run = semtel::Run::start("orders", None);
    /// {
    ///     let _inside = run.enter();
    ///     assert_eq!(semtel::baggage::get("pipeline.run.id").as_deref(), Some(run.id()));
    /// }
    /// assert_eq!(semtel::baggage::get("pipeline.run.id"), None);
    /// ```
    pub fn enter(&self) -> RunScope {
        RunScope {
            _attached: Attached::new(&self.cx),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Ends the run with `outcome` on its span.
    ///
    /// ```
    /// use semtel::run::Outcome;
    ///
    /// #[semtel::stage(pipeline = "orders")]
    /// fn load() -> Result<usize, std::io::Error> {
    ///     Err(std::io::Error::other("disk full"))
    /// }
    ///
    /// let run = semtel::Run::start("orders", None);
    /// let outcome = match run.in_scope(load) {
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::failure("std::io::Error"),
    /// };
    /// run.finish(outcome);
    /// ```
    pub fn finish(self, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.span.set_status(opentelemetry::trace::Status::Ok),
            Outcome::Failure { error_type } => {
                self.span.set_attribute("error.type", error_type.clone());
                self.span
                    .set_status(opentelemetry::trace::Status::error(error_type));
            }
        }
        // Dropping `self` ends the span.
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Stages still running inside (a task not awaited) are not counted.
        let t = &self.tally;
        for (key, count) in [
            (attr::PIPELINE_RUN_STAGES, &t.stages),
            (attr::PIPELINE_RUN_FAILURES, &t.failures),
            (attr::PIPELINE_RUN_RECORDS_IN, &t.records_in),
            (attr::PIPELINE_RUN_RECORDS_OUT, &t.records_out),
        ] {
            let n = count.load(Ordering::Relaxed);
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            self.span.set_attribute(key.name(), n);
        }
    }
}

/// A run made current by [`Run::enter`]; leaves it when dropped.
#[derive(Debug)]
#[must_use = "the run is current only while the guard lives"]
pub struct RunScope {
    _attached: Attached,
    // The context is attached to this thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// `cx` without a run id in its baggage.
fn without_run_id(cx: &Context) -> Context {
    use opentelemetry::baggage::{Baggage, BaggageExt as _};
    if cx.baggage().get(RUN_ID_KEY).is_none() {
        return cx.clone();
    }
    let baggage: Baggage = (cx.baggage().iter())
        .filter(|(k, _)| k.as_str() != RUN_ID_KEY)
        .map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone())))
        .collect();
    cx.with_baggage(baggage)
}

/// 128 random bits as 32 hexadecimal digits, from the standard library's
/// randomly keyed hasher (no extra dependency).
fn random_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u64(n);
        h.write_u128(now);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}
