//! The AWS SDK for Rust: an interceptor (the SDK's `Intercept` API) that
//! makes every call of any service client a CLIENT span by the AWS SDK
//! conventions and records `rpc.client.call.duration` (feature `aws-sdk`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use aws_sdk_s3::config::{BehaviorVersion, Region};
//! use semtel::integrations::aws::Interceptor;
//!
//! let config = aws_sdk_s3::Config::builder()
//!     .behavior_version(BehaviorVersion::latest())
//!     .region(Region::new("eu-west-1"))
//!     .interceptor(Interceptor::new())
//!     .build();
//! let s3 = aws_sdk_s3::Client::from_conf(config);
//! // A span `S3.GetObject`: rpc.system=aws-api, rpc.service=S3,
//! // rpc.method=GetObject, aws.s3.bucket, aws.s3.key, cloud.region,
//! // aws.request_id, aws.extended_request_id, server.address, server.port,
//! // http.response.status_code.
//! let object = s3.get_object().bucket("orders").key("2024/06/01.csv").send().await?;
//! # Ok(()) }
//! ```
//!
//! Any service's `config::Builder` takes it the same way, and so does a
//! per-call override
//! (`.customize().config_override(aws_sdk_s3::Config::builder().interceptor(..))`).
//! With `aws_config`'s shared configuration, add it to each service's
//! builder: `aws_sdk_s3::config::Builder::from(&sdk_config).interceptor(..)`
//! (`SdkConfig` itself takes no interceptors).
//!
//! # What a call records
//!
//! One span per call, from its start to its end, retries included (the
//! SDK's own operation span, see below): its
//! name is `{Service}.{Operation}` and `http.request.resend_count` says how
//! many times the request was sent again. `http.response.status_code` and
//! the request ids are those of the last attempt. A failed call has an error
//! status and `error.type`: the service's error code (`NoSuchBucket`,
//! `ThrottlingException`), else the HTTP status code, else `timeout`, the
//! I/O error's kind (`connection_refused`), `response` (an answer that did
//! not parse) or `_OTHER`. The trace context is not injected into AWS
//! requests: the AWS conventions do not ask for it (the SDK sends X-Ray's
//! own header when it runs in Lambda).
//!
//! Per-service attributes come from the operation's input, read through
//! the SDK's input capture (`CapturedTelemetryAttributes`, which the
//! interceptor turns on for the members it needs, as capture-only: the SDK's
//! own metrics do not get them): S3's `Bucket`, `Key`, `CopySource` and
//! `UploadId`; DynamoDB's `TableName` (as `aws.dynamodb.table_names`, with
//! `db.system.name=aws.dynamodb`), `IndexName`, `ProjectionExpression` and
//! `ExclusiveStartTableName`; SQS's `QueueUrl`; SNS's `TopicArn`; Kinesis's
//! `StreamName`; Step Functions' `stateMachineArn` and `activityArn`;
//! Secrets Manager's `SecretId` when it is an ARN; Lambda's event source
//! mapping `UUID`. Services generated before the SDK had input capture give
//! the other attributes only.
//!
//! # The duration metric and the conventions' two generations
//!
//! The AWS SDK span convention of the registry still names `rpc.system`
//! (`aws-api`) and `rpc.service`, both deprecated in the RPC registry, and
//! `rpc.method` as the bare operation (`PutObject`): the span has exactly
//! those. `rpc.client.call.duration` follows the current RPC metric
//! convention instead: `rpc.system.name=aws-api`, `rpc.method` fully
//! qualified as that convention asks (`S3/PutObject`, so that the same
//! operation name in two services stays two series), `server.address`,
//! `server.port` and `error.type`.
//!
//! # The SDK's own spans
//!
//! The SDK wraps each call in `tracing` spans of its own, all DEBUG: the
//! generated client's operation span (`S3.PutObject`, with `rpc.*` fields
//! and an internal `sdk_invocation_id`), then the orchestrator's
//! `apply_configuration`, `try_op`, `serialization`, `try_attempt` (one per
//! attempt), `lazy_load_identity` (when credentials are loaded),
//! `orchestrate_endpoint`, `deserialization`, `finally_attempt`, … With
//! this feature, semtel's default filter lets three of them through, the
//! ones that say something about a call; the rest are bookkeeping of a few
//! microseconds each. Under the caller's span or stage:
//!
//! ```text
//! S3.GetObject         CLIENT: the SDK's operation span, with this interceptor's attributes
//! ├── try_attempt      http.response.status_code=503, error.type=SlowDown, error status
//! │   └── lazy_load_identity   the client's first call: its credentials loaded
//! └── try_attempt      http.response.status_code=200, http.request.resend_count=1
//! ```
//!
//! The operation span is the call's span: exported as a CLIENT span,
//! without `sdk_invocation_id` (its span id does that job), and the
//! interceptor records its attributes, status and duration onto it rather
//! than opening a second span of the same name (an interceptor runs inside
//! the SDK's future and cannot wrap it, so only the SDK's span can be the
//! attempts' parent). An attempt's span gets its response's status code,
//! `http.request.resend_count` from the second attempt on, and for a
//! failed attempt an error status and `error.type` (a retried throttle
//! shows as a failed attempt under a successful call). Without the
//! interceptor, the operation span still is a CLIENT span with its `rpc.*`
//! attributes.
//!
//! A `RUST_LOG` that names one of the SDK's crates (`aws_sdk_s3=…`,
//! `aws_smithy_runtime=…`) gives the SDK's spans the levels it says, and
//! one quieter than `info` everywhere (`warn`) turns them off:
//! `RUST_LOG=info,aws_smithy_runtime=info` exports this interceptor's own
//! CLIENT span per call, under the caller's span or stage, and no attempts;
//! `RUST_LOG=info,aws_sdk_s3=debug,aws_smithy_runtime=debug` exports every
//! span of the SDK, the operation span still the one CLIENT span of the
//! call. The SDK's DEBUG events stay off unless the filter names them.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::telemetry::{CapturedTelemetryAttributes, RequestedTelemetryAttributes};
use opentelemetry::Value;
use semtel_conventions::attribute;

use super::Operation;

mod input;
mod spans;

pub(crate) use spans::{DefaultFilter, SdkSpans};

/// The value of `rpc.system` and `rpc.system.name` for AWS SDK calls.
const AWS_API: &str = "aws-api";

/// The interceptor (see the [module docs](self)). It keeps no state of its
/// own: a call's span lives in that call's config bag, so one interceptor
/// serves any number of clients and concurrent calls.
///
/// ```
/// use aws_sdk_s3::config::{BehaviorVersion, Region};
/// use semtel::integrations::aws::Interceptor;
///
/// let interceptor = Interceptor::new();
/// let s3 = aws_sdk_s3::Config::builder()
///     .behavior_version(BehaviorVersion::latest())
///     .region(Region::new("eu-west-1"))
///     .interceptor(interceptor.clone())
///     .build();
/// let another = aws_sdk_s3::Config::builder() // any client, any service
///     .behavior_version(BehaviorVersion::latest())
///     .interceptor(interceptor)
///     .build();
/// assert_eq!(s3.interceptors().count(), 1);
/// # let _ = another;
/// ```
#[derive(Debug, Clone)]
pub struct Interceptor {
    /// The input members to capture, made once: a call whose client asks
    /// for none (the usual case) gets a clone (reference counts only).
    requested: RequestedTelemetryAttributes,
}

impl Default for Interceptor {
    fn default() -> Self {
        let mut requested = RequestedTelemetryAttributes::default();
        requested.capture_only(input::MEMBERS);
        Self { requested }
    }
}

impl Interceptor {
    /// The interceptor, capturing the input members the conventions name.
    ///
    /// ```
    /// let config = aws_sdk_s3::Config::builder()
    ///     .interceptor(semtel::integrations::aws::Interceptor::new())
    ///     .build();
    /// assert_eq!(config.interceptors().count(), 1);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

/// One call in progress, kept in its config bag between the hooks.
#[derive(Debug)]
struct Call {
    op: Option<Operation>,
    /// Whether the span has its `{Service}.{Operation}` name yet.
    named: bool,
    /// Whether `cloud.region` was looked for.
    region_read: bool,
}

impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

impl Call {
    /// Names the span and sets the `rpc.*` attributes once the operation's
    /// metadata is in the bag (it comes with the operation's configuration,
    /// after the client interceptors' first hook).
    fn name(&mut self, cfg: &ConfigBag) {
        if self.named {
            return;
        }
        let (Some(op), Some(meta)) = (self.op.as_mut(), cfg.load::<Metadata>()) else {
            return;
        };
        self.named = true;
        let service = meta.service();
        let method = meta.name();
        if !op.is_adopted() {
            // (The SDK's operation span has its name and these fields.)
            op.span()
                .record("otel.name", format!("{service}.{method}").as_str());
            #[allow(
                deprecated,
                reason = "the AWS SDK span convention still names `rpc.system` and `rpc.service`"
            )]
            op.set(attribute::RPC_SYSTEM, AWS_API)
                .set(attribute::RPC_SERVICE, service);
            op.set(attribute::RPC_METHOD, method);
        }
        op.set_metric_value(attribute::RPC_SYSTEM_NAME.name(), Value::from(AWS_API))
            .set_metric_value(
                attribute::RPC_METHOD.name(),
                Value::from(format!("{service}/{method}")),
            );
        if let Some(captured) = cfg.load::<CapturedTelemetryAttributes>() {
            input::set_attributes(op, service, captured);
        }
    }
}

#[aws_smithy_runtime_api::client::interceptors::dyn_dispatch_hint]
impl Intercept for Interceptor {
    fn name(&self) -> &'static str {
        "semtel::integrations::aws::Interceptor"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Before the operation's own interceptors, which capture the input
        // members requested by then. Capture-only: the SDK's metrics do not
        // get them. (A per-call override that requests members of its own
        // is below this layer and loses to it; the client's requests are
        // kept.)
        match cfg.load::<RequestedTelemetryAttributes>() {
            None => {
                cfg.interceptor_state().store_put(self.requested.clone());
            }
            Some(theirs) => {
                let missing: Vec<&str> = input::MEMBERS
                    .iter()
                    .copied()
                    .filter(|m| !theirs.should_capture(m))
                    .collect();
                if !missing.is_empty() {
                    let mut requested = theirs.clone();
                    requested.capture_only(missing);
                    cfg.interceptor_state().store_put(requested);
                }
            }
        }
        if cfg.load::<Call>().is_some() {
            // Added twice (the client's config and a per-call override):
            // one span for the call.
            return Ok(());
        }
        let op = spans::start_call();
        cfg.interceptor_state().store_put(Call {
            op: Some(op),
            named: false,
            region_read: false,
        });
        Ok(())
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // `name` reads the bag while the call is borrowed from it.
        if let Some(mut call) = take_call(cfg) {
            call.name(cfg);
            cfg.interceptor_state().store_put(call);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let region = cfg
            .load::<aws_smithy_types::endpoint::Endpoint>()
            .and_then(signing_region);
        let Some(call) = cfg.get_mut_from_interceptor_state::<Call>() else {
            return Ok(());
        };
        let region_read = std::mem::replace(&mut call.region_read, true);
        let Some(op) = call.op.as_mut() else {
            return Ok(());
        };
        if !region_read {
            op.set(attribute::CLOUD_REGION, &region);
        }
        if let Ok(uri) = context.request().uri().parse::<http::Uri>() {
            let port = uri.port_u16().or(match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            });
            op.set(attribute::SERVER_ADDRESS, &uri.host())
                .set(attribute::SERVER_PORT, &port.map(i64::from));
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Still inside the attempt's span, which ends before
        // `read_after_attempt`.
        let status = context.response().status().as_u16();
        let error = context
            .output_or_error()
            .err()
            .map(|e| error_type(e, Some(status)));
        spans::attempt_outcome(Some(status), error.as_deref());
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else {
            return Ok(());
        };
        let Some(op) = cfg
            .get_mut_from_interceptor_state::<Call>()
            .and_then(|c| c.op.as_mut())
        else {
            return Ok(());
        };
        let headers = response.headers();
        let request_id = ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
            .iter()
            .find_map(|h| headers.get(*h));
        op.set(
            attribute::HTTP_RESPONSE_STATUS_CODE,
            &i64::from(response.status().as_u16()),
        )
        .set(attribute::AWS_REQUEST_ID, &request_id)
        .set(
            attribute::AWS_EXTENDED_REQUEST_ID,
            &headers.get("x-amz-id-2"),
        );
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut call) = take_call(cfg) else {
            return Ok(());
        };
        // A call that failed before serialization is named here.
        call.name(cfg);
        let Some(mut op) = call.op.take() else {
            return Ok(());
        };
        // The SDK's own count, which each attempt sets.
        let attempts = cfg
            .load::<RequestAttempts>()
            .map_or(0, RequestAttempts::attempts);
        if attempts > 1 {
            op.set(
                attribute::HTTP_REQUEST_RESEND_COUNT,
                &i64::from(attempts - 1),
            );
        }
        if let Some(Err(error)) = context.output_or_error() {
            let status = context.response().map(|r| r.status().as_u16());
            op.fail(&error_type(error, status), None);
        }
        op.finish();
        Ok(())
    }
}

/// Takes the call out of the bag (the caller puts it back if it goes on).
fn take_call(cfg: &mut ConfigBag) -> Option<Call> {
    let call = cfg.get_mut_from_interceptor_state::<Call>()?;
    let taken = Call {
        op: call.op.take(),
        named: call.named,
        region_read: call.region_read,
    };
    cfg.interceptor_state().unset::<Call>();
    Some(taken)
}

/// The region the request is signed for, from the resolved endpoint's auth
/// schemes.
fn signing_region(endpoint: &aws_smithy_types::endpoint::Endpoint) -> Option<String> {
    use aws_smithy_types::Document;
    let from_scheme = endpoint
        .auth_schemes()
        .iter()
        .find_map(|s| match s.get("signingRegion") {
            Some(Document::String(r)) => Some(r.clone()),
            _ => None,
        });
    from_scheme.or_else(|| match endpoint.properties().get("authSchemes") {
        Some(Document::Array(schemes)) => schemes.iter().find_map(|s| match s {
            Document::Object(o) => match o.get("signingRegion") {
                Some(Document::String(r)) => Some(r.clone()),
                _ => None,
            },
            _ => None,
        }),
        _ => None,
    })
}

/// A low-cardinality `error.type` for a failed call.
fn error_type(
    error: &OrchestratorError<aws_smithy_runtime_api::client::interceptors::context::Error>,
    status: Option<u16>,
) -> String {
    if let Some(e) = error.as_operation_error() {
        // The error is type-erased here; the SDK's generated errors show
        // their code first (`NoSuchKey: …`, `unhandled error (NoSuchBucket)`).
        if let Some(code) = error_code(&e.to_string()) {
            return code.to_owned();
        }
    }
    if error.is_timeout_error() {
        return "timeout".to_owned();
    }
    if let Some(c) = error.as_connector_error() {
        if c.is_timeout() {
            return "timeout".to_owned();
        }
        let mut source = std::error::Error::source(c);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return io.kind().to_string().replace(' ', "_");
            }
            source = s.source();
        }
        return "connection".to_owned();
    }
    if let Some(status) = status.filter(|s| *s >= 400) {
        return status.to_string();
    }
    if error.is_response_error() {
        return "response".to_owned();
    }
    attribute::ErrorType::Other.as_str().to_owned()
}

/// The error code at the start of a generated error's `Display`.
fn error_code(display: &str) -> Option<&str> {
    let code = match display.strip_prefix("unhandled error") {
        Some(rest) => rest.trim().strip_prefix('(')?.strip_suffix(')')?,
        None => display.split(':').next()?.trim(),
    };
    let valid = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_generated_errors() {
        assert_eq!(
            error_code("NoSuchKey: The specified key does not exist."),
            Some("NoSuchKey")
        );
        assert_eq!(error_code("NoSuchKey"), Some("NoSuchKey"));
        assert_eq!(
            error_code("unhandled error (NoSuchBucket)"),
            Some("NoSuchBucket")
        );
        assert_eq!(error_code("unhandled error"), None);
        assert_eq!(error_code("service error: dispatch failure"), None);
        assert_eq!(error_code(""), None);
    }

    /// Runs the first hook on a bag whose client asked for `emit`.
    fn requested_after_first_hook(emit: &[&str]) -> RequestedTelemetryAttributes {
        use aws_smithy_runtime_api::client::interceptors::context::{Input, InterceptorContext};
        use aws_smithy_types::config_bag::Layer;
        let mut client = Layer::new("client");
        if !emit.is_empty() {
            client.store_put(RequestedTelemetryAttributes::new(emit.iter().copied()));
        }
        let mut cfg = ConfigBag::of_layers(vec![client]);
        let ctx = InterceptorContext::new(Input::erase("an input"));
        Interceptor::new()
            .read_before_execution(&(&ctx).into(), &mut cfg)
            .expect("the hook never fails");
        assert!(cfg.load::<Call>().is_some(), "the call is in the bag");
        cfg.load::<RequestedTelemetryAttributes>()
            .cloned()
            .expect("members requested")
    }

    #[test]
    fn members_are_captured_only_and_the_clients_requests_are_kept() {
        let requested = requested_after_first_hook(&[]);
        for member in input::MEMBERS {
            assert!(requested.should_capture(member), "{member}");
            assert!(
                !requested.should_emit(member),
                "{member} not on the SDK's metrics"
            );
        }
        let requested = requested_after_first_hook(&["Bucket", "VersionId"]);
        assert!(requested.should_emit("Bucket") && requested.should_emit("VersionId"));
        assert!(requested.should_capture("Key") && !requested.should_emit("Key"));
    }

    #[test]
    fn the_signing_region_comes_from_the_endpoint() {
        use aws_smithy_types::Document;
        use aws_smithy_types::endpoint::{Endpoint, EndpointAuthScheme};
        let endpoint = Endpoint::builder()
            .url("http://127.0.0.1:9000")
            .auth_scheme(
                EndpointAuthScheme::with_capacity("sigv4", 1).put("signingRegion", "eu-west-3"),
            )
            .build();
        assert_eq!(signing_region(&endpoint).as_deref(), Some("eu-west-3"));
        let mut scheme = std::collections::HashMap::new();
        scheme.insert("signingRegion".to_owned(), Document::from("us-east-2"));
        let endpoint = Endpoint::builder()
            .url("http://127.0.0.1:9000")
            .property(
                "authSchemes",
                Document::Array(vec![Document::Object(scheme)]),
            )
            .build();
        assert_eq!(signing_region(&endpoint).as_deref(), Some("us-east-2"));
        let endpoint = Endpoint::builder().url("http://127.0.0.1:9000").build();
        assert_eq!(signing_region(&endpoint), None);
    }
}
