//! Instrumentation of the libraries a pipeline does its I/O with, each
//! behind a cargo feature of `semtel` (all off by default), emitting what
//! the current semantic conventions say for the library's family: a client
//! span per operation, named and attributed by the conventions (names from
//! [`semtel::conventions`](crate::conventions)), and the family's duration
//! histogram with the bucket boundaries the conventions recommend
//! ([`boundaries`]).
//!
//! | feature | module | instruments |
//! |---|---|---|
//! | `tokio-postgres` | `postgres` | a wrapped `tokio_postgres::Client` |
//! | `sqlx` | `sqlx` | sqlx's own query events, turned into spans |
//! | `reqwest-middleware` | `reqwest` | a middleware for `reqwest_middleware::ClientBuilder` |
//! | `log` | `log` | records of the `log` crate, as OTLP log records |
//! | `aws-sdk` | `aws` | an interceptor for any AWS SDK client's config |
//! | `rdkafka` | `kafka` | a send function and producer context, a consumer context |
//!
//! ```toml
//! semtel = { version = "0.1", features = ["tokio-postgres", "reqwest-middleware", "log", "rdkafka", "aws-sdk"] }
//! ```
//!
//! # What each library emits alone, and with semtel
//!
//! | library | alone | with the feature |
//! |---|---|---|
//! | tokio-postgres | no spans, no metrics (a few DEBUG `log` records) | a CLIENT span per query, execute, prepare, batch and transaction, named `SELECT orders` (`{db.operation.name} {db.collection.name}`, else the operation, else `postgresql`), with `db.system.name=postgresql`, `db.namespace`, `db.operation.name`, `db.collection.name` (when the statement names one table), `db.query.text` (literals replaced by `?`, bound values never), `db.response.returned_rows`, `server.address`, `server.port`; on failure an error status, `error.type` and `db.response.status_code` set to the SQLSTATE; `db.client.operation.duration` |
//! | sqlx | one DEBUG *event* per statement once it is done (`summary`, the retired `db.statement`, empty for a short statement, `rows_affected`, `rows_returned`, `elapsed`, `elapsed_secs`): no span, no `db.system.name`, no parent for the time it took | a CLIENT span per statement from its start to its end, under the span or stage that ran it, with the `db.*` and `server.*` attributes above (system, database and server from a pool given to `sqlx::register`); for statements run in `sqlx::traced`, on failure an error status, `error.type` and `db.response.status_code` set to the SQLSTATE (sqlx's event is the same after a failure); `db.client.operation.duration`; the event is not also exported as a log |
//! | reqwest | nothing (with reqwest-tracing: an INFO span with `http.request.method`, `url.scheme`, `server.address`, `server.port` as a string, `user_agent.original`, `error.message`; no duration metric; its context injection needs an OpenTelemetry version other than 0.33) | a CLIENT span per attempt named `GET`, with `http.request.method` (`_OTHER` and `http.request.method_original` for other methods), `url.full` without credentials or signature values, `server.address`, `server.port`, `http.response.status_code`, `network.protocol.version`, `http.request.resend_count` on retries, `error.type` (`404`, `timeout`, `connection_refused`, …) and an error status for a status of 400 or more or no response; the W3C `traceparent` (and `baggage`) injected into the request; `http.client.request.duration` |
//! | log | records to whichever logger is set, without trace context | OTLP log records with severity, target, body, `code.file.path`, `code.line.number`, and the trace and span ids of the innermost stage or span; filtered by the `RUST_LOG` directives like `tracing` events |
//! | AWS SDK | DEBUG `tracing` spans per call, named `S3.PutObject` with `rpc.service`, `rpc.method`, `rpc.system` and an `sdk_invocation_id`, then the orchestrator's `apply_configuration`, `try_op`, `try_attempt`, … (none a CLIENT span, no `cloud.region`, request id, bucket or error code); OpenTelemetry metrics only through the separate `aws-smithy-observability-otel` crate, built on an older OpenTelemetry version | a CLIENT span per call (retries included) named `S3.PutObject`, with `rpc.system=aws-api`, `rpc.service`, `rpc.method`, `cloud.region`, `aws.request_id`, `aws.extended_request_id`, per-service attributes from the input (`aws.s3.bucket`, `aws.s3.key`, `aws.dynamodb.table_names`, `aws.sqs.queue.url`, …), `server.address`, `server.port`, `http.response.status_code`, `http.request.resend_count`; on failure an error status and `error.type` set to the service's error code (`NoSuchBucket`); `rpc.client.call.duration`; at the default filter, that span is the SDK's own operation span, with one `try_attempt` span per attempt under it (its status code, `http.request.resend_count`, a failed attempt's `error.type`) and `lazy_load_identity` when credentials load; the SDK's other spans and DEBUG events stay off |
//! | rdkafka | no spans, no metrics, no context propagation (librdkafka's statistics as a JSON callback, `log` records) | a PRODUCER span `send orders` per record from the send to its delivery report, with `messaging.system=kafka`, `messaging.operation.type=send`, `messaging.operation.name`, `messaging.destination.name`, `messaging.destination.partition.id` and `messaging.kafka.offset` from the report, `server.address`/`server.port` (the first bootstrap broker, also on the metrics) and `messaging.client.id` (`client.id`), `messaging.kafka.message.key` (UTF-8 keys; `without_message_key()` leaves it out), `messaging.kafka.message.tombstone`, `error.type` (`topic_authorization_failed`, `message_timed_out`, …) and an error status when not delivered; the W3C `traceparent` (and `baggage`) added to the record's own headers; a CONSUMER span `process orders` per message that continues the producer's trace, or per batch linking every message's context (up to the link limit), with `messaging.consumer.group.name`, partition, offset, `messaging.batch.message_count`; `messaging.client.sent.messages`, `messaging.client.operation.duration`, `messaging.client.consumed.messages`, `messaging.process.duration`; consumer lag per partition as `pipeline.backlog` of a stage you name |
//!
//! # Library spans and the default filter
//!
//! `tracing` spans of other libraries (reqwest-tracing, tower-http, the
//! AWS SDK's `aws_smithy_*` and `aws_sdk_*`) are exported like yours. The
//! default filter turns off only the crates semtel's exporters use
//! (`opentelemetry*`, `tonic`, `tower`, `h2`, `hyper`, `hyper_util`,
//! `reqwest`), matched by crate name exactly: `tower` is off, `tower_http`
//! is not. A `RUST_LOG` directive that names one of them turns it back on.
//! Libraries keep their own levels, with one exception: with the `aws-sdk`
//! feature, three of the AWS SDK's DEBUG spans pass a filter of `info` or
//! more (the operation span, as the call's CLIENT span, `try_attempt` and
//! `lazy_load_identity`), unless `RUST_LOG` names one of the SDK's crates
//! (module `aws`); the SDK's other spans and its events keep their levels.
//!
//! # Your own clients
//!
//! Every integration builds on [`Operation`], which is public (feature
//! `integrations`, which each integration's feature turns on) so that a
//! client semtel does not cover can be instrumented the same way.
//! Integration spans are `tracing` spans: stages, your own spans and logs
//! inside them nest under them, and they follow `RUST_LOG` (at INFO, with
//! targets `semtel::integrations::<module>`). Their duration metrics are
//! recorded by the session current on the thread (under [`init`](crate::init),
//! the global one).

mod attrs;
#[cfg(feature = "aws-sdk")]
pub mod aws;
mod buckets;
mod hub;
#[cfg(feature = "rdkafka")]
pub mod kafka;
mod layer;
#[cfg(feature = "log")]
pub mod log;
#[cfg(feature = "log")]
mod log_filter;
mod operation;
#[cfg(feature = "tokio-postgres")]
pub mod postgres;
#[cfg(feature = "reqwest-middleware")]
pub mod reqwest;
#[cfg(any(feature = "tokio-postgres", feature = "sqlx"))]
mod sql;
#[cfg(feature = "sqlx")]
pub mod sqlx;

pub use buckets::boundaries;
pub(crate) use hub::Hub;
pub(crate) use layer::HubLayer;
pub use operation::Operation;
