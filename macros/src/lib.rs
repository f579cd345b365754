//! Procedural macros for [semtel](https://docs.rs/semtel): [`macro@stage`] and
//! [`derive@Telemetry`].
//!
//! Users depend on `semtel`, which re-exports these macros; expansions call the
//! runtime only through `::semtel::__private`. Attribute names are checked at
//! compile time against the official semantic conventions (v1.42.0) and
//! semtel's `pipeline.` registry.
//!
//! # Feature flags
//!
//! - `experimental` (forwarded from `semtel`'s `experimental`): allows official
//!   attributes that are not yet stable. Without it, naming one is an error
//!   that says which feature enables it.
#![warn(missing_docs)]

mod ast;
mod attr;
mod errors;
mod expand;
mod fallback;
mod symbol;
mod valid;

use proc_macro::TokenStream;

use errors::Errors;

/// Instruments a pipeline stage: each call gets a span, the stage metrics of
/// the `pipeline.` conventions and, for `Result` returns, error recording.
///
/// ```
/// #[semtel::stage(pipeline = "orders", kind = sink, span_kind = client,
///     fields(db.system.name = "sqlite", db.collection.name = table),
///     records_in = rows.len())]
/// fn load(table: &str, rows: &[u32]) -> Result<(), std::io::Error> {
///     Ok(())
/// }
/// # load("orders", &[1, 2]).unwrap();
/// ```
///
/// Per call:
///
/// - a span named after the stage (`name`, default the function name) with
///   `pipeline.name`, `pipeline.stage.name`, `pipeline.stage.kind`, the span
///   kind and the `fields` you name. `tracing` events and spans inside the
///   stage are its children, log records carry its trace and span ids, and a
///   stage called inside another stage nests. The span is recorded by semtel's
///   own span engine, not as a `tracing` span: it follows the sampler
///   (`OTEL_TRACES_SAMPLER`), not `RUST_LOG`, and continues whatever trace is
///   current when it starts (a `tracing` span, another stage, a context
///   carried into a task or thread with `semtel::context`, or a context you
///   attached, e.g. one [extracted] from a message's headers), or the
///   context given as `parent`. Field
///   expressions are evaluated only when the span is sampled. A sync stage's
///   span is current from the call to its return (field expressions included);
///   an async stage's while its future is polled;
/// - the `pipeline.stage.duration` histogram, the `pipeline.stage.active`
///   in-flight gauge, the `pipeline.records` counters (`records_in`,
///   `records_out`) and the `pipeline.bytes` counters (`bytes_in`,
///   `bytes_out`), from the global meter provider; the body adds to them,
///   and counts retries, dead letters and lag, through
///   `semtel::stage::current()`;
/// - when the function returns `Result` (any type whose last path segment is
///   `Result`: `Result`, `io::Result`, `anyhow::Result`) and the value is
///   `Err`: span status Error, an `exception` event, `error.type` on the span,
///   the duration histogram and the `pipeline.stage.failures` counter. The
///   error is returned unchanged. `error.type` is the error's
///   [`ErrorType`](https://docs.rs/semtel/latest/semtel/trait.ErrorType.html)
///   (derive [`Telemetry`](derive@Telemetry) on an error enum) or else its type
///   name; a `std::io::Error` (an `io::Result` stage) has its kind in snake
///   case (`timed_out`, `not_found`). The returned error's own type decides:
///   one that wraps an I/O error is recorded by its own `ErrorType` or type
///   name. The error must implement `Display`;
/// - when the body panics (sync or `async`): the same failure, with
///   `error.type` `panic` and, when the panic's payload is a string
///   (`panic!`'s message), that message on the `exception` event. The panic
///   continues unchanged to whatever catches it (a thread pool, a task
///   runtime), and the in-flight gauge counts the call ended. A panic in a
///   field expression, and an `async` call dropped by a panic unwinding
///   around it, end the call the same way, without the message.
///
/// **Arguments are never recorded unless named**, in `fields(..)` or
/// `record(..)`: unlike `#[tracing::instrument]`, nothing leaks by default.
///
/// Works on free functions and methods, sync and `async`, generic functions,
/// `impl Trait` arguments, functions returning `async move { .. }` and
/// async-trait's `Box::pin(async move { .. })`. In an `async` stage the span
/// is current on each poll and the duration runs from the first poll to
/// completion.
///
/// [extracted]: https://docs.rs/semtel/latest/semtel/propagation/fn.extract.html
///
/// # `name = "..."`
///
/// The span name and `pipeline.stage.name`; default the function name.
///
/// ```
/// #[semtel::stage(name = "load-orders")]
/// fn load() {}
/// # load();
/// ```
///
/// # `pipeline = "..."`
///
/// `pipeline.name`, on the span and the stage metrics. The registry requires
/// it on the stage metrics: without it, a stage's pipeline is the name of the
/// crate it is in (`CARGO_PKG_NAME`).
///
/// ```
/// #[semtel::stage(pipeline = "orders")]
/// fn parse() {}
/// # parse();
/// ```
///
/// # `kind = source | transform | sink`
///
/// `pipeline.stage.kind`, on the span and the stage metrics.
///
/// ```
/// #[semtel::stage(kind = source)]
/// fn read() {}
/// # read();
/// ```
///
/// # `span_kind = internal | client | server | producer | consumer`
///
/// The OpenTelemetry span kind (default internal). Use `client` for database
/// and HTTP calls, `producer` and `consumer` for Kafka, so that service
/// graphs (Tempo, Jaeger) draw the edge.
///
/// ```
/// #[semtel::stage(span_kind = producer, fields(server.address = "kafka-1"))]
/// fn publish() {}
/// # publish();
/// ```
///
/// # `fields(name = expr, ...)`
///
/// Span attributes; the values are expressions over the arguments. Three ways
/// to name one:
///
/// - a dotted semantic-convention id, `db.system.name = "sqlite"` (or a string,
///   `"db.system.name" = ..`), looked up at compile time: an unknown name is an
///   error with the closest known name, a value of the wrong type (a literal,
///   or an expression of another type) is an error naming the attribute's
///   type, an unknown enum literal is an error listing the known values (enums
///   are open: a string computed at run time may be any value), a deprecated
///   name is a warning naming its replacement, and an experimental one needs
///   feature `experimental`;
/// - `[path::KEY] = expr`: a key of a registry you generated with
///   `semtel-conventions` (an `AttributeKey<T>`); the compiler checks the key
///   and that the value fits `T` (plain value types and arrays);
/// - `unchecked("acme.priority") = expr`: a custom name outside every
///   registry, explicitly.
///
/// A literal `db.system.name`, `db.collection.name`, `messaging.system` or
/// `messaging.destination.name` also goes on the stage's metrics
/// (`pipeline.stage.duration`, `pipeline.records`, …), as semtel's registry
/// asks of database and messaging stages; a value computed at run time
/// stays on the span only, so the metrics keep a bounded set of series.
///
/// ```
/// # mod my_registry { pub const ORDER_ID: semtel::conventions::model::AttributeKey<String> =
/// #     semtel::conventions::model::AttributeKey::new("acme.order.id"); }
/// #[semtel::stage(fields(
///     db.collection.name = table,
///     [my_registry::ORDER_ID] = order_id,
///     unchecked("acme.priority") = 3,
/// ))]
/// fn store(table: &str, order_id: &str) {}
/// # store("orders", "o-1");
/// ```
///
/// The values a registry type takes (a `None` leaves the attribute out):
///
/// | type | values |
/// |---|---|
/// | `int` | integers of any width; an enum of integers generated from a registry |
/// | `double` | `f64`, `f32`, integers (widened) |
/// | `string` | `&str`, `String`, `Cow<str>`, `Arc<str>`, `char`; an enum that derives [`Telemetry`](derive@Telemetry) or is generated from a registry (`semtel::conventions::attribute::DbSystemName`) |
/// | `boolean` | `bool` |
/// | `string[]`, `int[]`, ... | slices, arrays and `Vec`s of the above |
/// | enum | the values of its members' type (`string` or `int`) |
/// | `any` | any value `Telemetry` can export |
///
/// and `Option`s of them, and references to them.
///
/// ```compile_fail,E0277
/// #[semtel::stage(fields(server.port = port))]
/// fn connect(port: &str) {} // error: attribute `server.port` takes an `int` value, found `&str`
/// ```
///
/// # `record(arg, ...)`
///
/// Adds all the attributes of arguments that implement
/// [`Telemetry`](derive@Telemetry).
///
/// A key set more than once on a call (in `fields(..)`, by `record(..)` or
/// by two `record(..)` arguments) is exported once, as OTLP requires, with
/// the value set last: `fields(..)` in the order written, then `record(..)`
/// in the order written, so `record(..)` wins over `fields(..)`.
///
/// ```
/// #[derive(semtel::Telemetry)]
/// struct Batch {
///     #[telemetry(name = "server.address")]
///     topic: String,
/// }
///
/// #[semtel::stage(record(batch))]
/// fn consume(batch: &Batch) {}
/// # consume(&Batch { topic: "orders".into() });
/// ```
///
/// # `records_in = expr`
///
/// Counts records read (`pipeline.records` with `pipeline.io.direction = in`),
/// from an expression over the arguments, evaluated before the body.
///
/// ```
/// #[semtel::stage(records_in = rows.len())]
/// fn transform(rows: Vec<u32>) -> Vec<u32> { rows }
/// # transform(vec![1]);
/// ```
///
/// # `records_out = expr`
///
/// Counts records written, from an expression that may use `ret`: a reference
/// to the `Ok` value of a `Result` (nothing is counted on `Err`), or to the
/// return value.
///
/// A stage has a `pipeline.records` series for each direction it declares
/// and none for the others: a stage with neither argument exports no
/// `pipeline.records`.
///
/// ```
/// #[semtel::stage(records_out = ret.len())]
/// fn fetch() -> Result<Vec<u32>, std::io::Error> { Ok(vec![1, 2]) }
/// # fetch().unwrap();
/// ```
///
/// # `bytes_in = expr`
///
/// Counts bytes read (`pipeline.bytes` with `pipeline.io.direction = in`),
/// from an expression over the arguments, evaluated before the body, as
/// `records_in`.
///
/// ```
/// #[semtel::stage(records_in = 1, bytes_in = body.len())]
/// fn parse(body: &[u8]) -> usize { body.len() }
/// # parse(b"a,1");
/// ```
///
/// # `bytes_out = expr`
///
/// Counts bytes written, from an expression that may use `ret`, as
/// `records_out` (nothing is counted on `Err`).
///
/// ```
/// #[semtel::stage(bytes_out = ret.len())]
/// fn render() -> Result<String, std::fmt::Error> { Ok("a,1\n".to_owned()) }
/// # render().unwrap();
/// ```
///
/// # `links = expr`
///
/// Links the span to each `semtel::Context` of an iterator, e.g. the
/// contexts a batch consumer extracts from its messages' headers with
/// `semtel::propagation`.
///
/// ```
/// #[semtel::stage(span_kind = consumer, links = contexts.iter().cloned())]
/// fn consume_batch(contexts: &[semtel::Context]) {}
/// # consume_batch(&[]);
/// ```
///
/// # `parent = expr`
///
/// The span's parent: a `semtel::Context` (or a reference to one), e.g. the
/// context a consumer [extracted] from a message's headers, in place of the
/// span current when the call starts. Evaluated when the call starts (for
/// an `async fn`, at its first poll), only when telemetry is on. A context
/// without a span (a message that carried none) leaves the parent as it
/// would be without `parent`. Nothing needs attaching, so it suits async
/// consumers, whose tasks cannot hold an attached context across `.await`.
///
/// ```
/// struct Message {
///     headers: Vec<(String, Vec<u8>)>,
///     payload: Vec<u8>,
/// }
///
/// #[semtel::stage(
///     pipeline = "orders",
///     span_kind = consumer,
///     parent = semtel::propagation::extract(&message.headers),
/// )]
/// async fn handle(message: Message) -> usize {
///     message.payload.len()
/// }
/// # let _ = handle(Message { headers: Vec::new(), payload: Vec::new() });
/// ```
///
/// # `result = false`
///
/// Leaves a `Result` return alone: no error recording (and no `Display`
/// bound on the error).
///
/// ```
/// struct NotDisplay;
/// #[semtel::stage(result = false)]
/// fn check() -> Result<(), NotDisplay> { Ok(()) }
/// # let _ = check();
/// ```
///
/// # `crate = path`
///
/// The path to `semtel`, for crates that re-export it.
///
/// ```
/// # mod reexport { pub use semtel; }
/// #[semtel::stage(crate = reexport::semtel)]
/// fn run() {}
/// # run();
/// ```
#[proc_macro_attribute]
pub fn stage(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = proc_macro2::TokenStream::from(item.clone());
    let mut errors = Errors::default();
    let args = attr::StageArgs::parse_all(args.into(), &mut errors);
    let func: syn::ItemFn = match syn::parse(item) {
        Ok(f) => f,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                "`#[stage]` applies to functions and methods with a body",
            ));
            return fallback::stage(item2, errors.to_compile_error()).into();
        }
    };
    let model = ast::StageFn::from_item(&func);
    let plan = valid::check_stage(&args, &model, &mut errors);
    if !errors.is_empty() {
        return fallback::stage(item2, errors.to_compile_error()).into();
    }
    expand::stage(&args, &model, &plan).into()
}

/// Derives `semtel::Telemetry` for a struct (its fields become attributes),
/// or `semtel::TelemetryValue`, `semtel::ErrorType` and
/// `semtel::conventions::model::StringEnum` for an enum.
///
/// ```
/// #[derive(semtel::Telemetry)]
/// #[telemetry(prefix = "order")]
/// struct Order {
///     id: u64,                                  // order.id
///     #[telemetry(name = "server.address")]
///     topic: String,
///     #[telemetry(redact)]
///     email: String,                            // exported as "[redacted]"
///     note: Option<String>,                     // left out when None
///     #[telemetry(skip)]
///     payload: Vec<u8>,
/// }
/// ```
///
/// Field values map to OpenTelemetry values: integers, floats, `bool`,
/// strings (`String`, `&str`, `Cow<str>`, `Arc<str>`, `char`), slices, arrays
/// and `Vec`s of them, and fieldless enums that derive `Telemetry`. Another
/// type is a compile error on that field saying what to do.
///
/// # Struct options
///
/// ## `#[telemetry(prefix = "...")]`
///
/// A field with no name of its own is exported as `<prefix>.<field name>`
/// (`<prefix>.<index>` in a tuple struct). The prefix declares your own
/// namespace: these names are not looked up in the conventions. Without a
/// prefix, every field must be named, flattened or skipped (a compile error
/// says so), so that no attribute is exported under an accidental name.
///
/// ## `#[telemetry(crate = path)]`
///
/// The path to `semtel`, for crates that re-export it.
///
/// # Field options
///
/// ## `#[telemetry(name = "...")]`
///
/// A semantic-convention id, checked as in [`macro@stage`]'s `fields`:
/// unknown names are an error with the closest known name, deprecated ones a
/// warning naming the replacement, experimental ones need feature
/// `experimental`, and the field's type must fit the attribute's type (see
/// the table under [`macro@stage`]'s `fields`): a `String` field named
/// `server.port` is an error, ``attribute `server.port` takes an `int`
/// value, found `String` ``.
///
/// ```compile_fail,E0277
/// #[derive(semtel::Telemetry)]
/// struct Target {
///     #[telemetry(name = "server.port")]
///     port: String,
/// }
/// ```
///
/// ## `#[telemetry(key = path::KEY)]`
///
/// A key of a registry you generated with `semtel-conventions`: the compiler
/// checks the path.
///
/// ## `#[telemetry(unchecked = "...")]`
///
/// A custom name outside every registry, explicitly.
///
/// ## `#[telemetry(skip)]`
///
/// Not exported.
///
/// ## `#[telemetry(redact)]`, `#[telemetry(redact = "hash")]`
///
/// The value never leaves the process: `redact` exports the marker
/// `[redacted]`; `redact = "hash"` exports `h:` and a keyed hash (random key
/// per process), so equal values can be correlated within one run but not
/// looked up or reversed. Either is a string whatever the field's type, so
/// a redacted field's type is not checked against its attribute's.
///
/// ## `#[telemetry(flatten)]`
///
/// The field is itself `Telemetry`: its attributes are added.
///
/// ```
/// #[derive(semtel::Telemetry)]
/// struct Source {
///     #[telemetry(name = "server.address")]
///     topic: String,
/// }
///
/// #[derive(semtel::Telemetry)]
/// #[telemetry(prefix = "batch")]
/// struct Batch<T> {
///     #[telemetry(flatten)]
///     source: Source,
///     size: T, // `T: TelemetryValue` is added to the impl's bounds
/// }
/// ```
///
/// # Enums
///
/// An enum exports a low-cardinality string, its variant name in snake case
/// (`TimedOut` → `timed_out`), usable as a field of a `Telemetry` struct and
/// as the value of a `string` or enum attribute (it implements
/// `semtel::conventions::model::StringEnum`). It also gets `ErrorType`, so an error enum returned from a
/// [`macro@stage`] gives `error.type` its variant name on the span, the
/// metrics and the logs. Variants may carry data.
///
/// ## `#[telemetry(rename = "...")]`
///
/// The exported value of a variant.
///
/// ## `#[telemetry(error_type = "...")]`
///
/// The `error.type` of a variant.
///
/// ```
/// #[derive(Debug, semtel::Telemetry)]
/// enum LoadError {
///     #[telemetry(error_type = "timeout")]
///     TimedOut,
///     Rejected { code: u16 },
/// }
/// # impl std::fmt::Display for LoadError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// # }
/// ```
#[proc_macro_derive(Telemetry, attributes(telemetry))]
pub fn derive_telemetry(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let mut errors = Errors::default();
    let Some(model) = ast::Input::from_syn(&input, &mut errors) else {
        return fallback::derive(&input, None, errors.to_compile_error()).into();
    };
    let plan = valid::check_derive(&model, &mut errors);
    if !errors.is_empty() {
        return fallback::derive(&input, model.attrs.krate.get(), errors.to_compile_error()).into();
    }
    expand::derive(&model, &plan).into()
}
