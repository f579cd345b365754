//! Producer spans: `send {topic}` from the send to the delivery report.

use rdkafka::client::OAuthToken;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message as _, ToBytes};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DefaultProducerContext, DeliveryResult, FutureProducer, FutureRecord,
    Partitioner, Producer as _, ProducerContext, ThreadedProducer,
};
use rdkafka::statistics::Statistics;
use rdkafka::util::AsyncRuntime;
use rdkafka::util::IntoOpaque;
use rdkafka::{ClientConfig, ClientContext};
use semtel_conventions::attribute::{self, MessagingOperationType, MessagingSystem};
use semtel_conventions::metric;
use tracing::Instrument as _;

use super::client::Client;
use crate::integrations::Operation;

/// Starts the span and metrics of sending one record to `topic` by
/// `client`.
fn start<K: ToBytes + ?Sized>(
    client: &Client,
    topic: &str,
    partition: Option<i32>,
    key: Option<&K>,
    tombstone: bool,
) -> Operation {
    let name = format!("send {topic}");
    let span = tracing::info_span!(
        target: "semtel::integrations::kafka",
        "kafka.send",
        otel.name = name.as_str(),
        otel.kind = "producer"
    );
    let mut op = Operation::start(span, metric::MESSAGING_CLIENT_OPERATION_DURATION);
    op.set(attribute::MESSAGING_SYSTEM, MessagingSystem::Kafka.as_str())
        .set(
            attribute::MESSAGING_OPERATION_TYPE,
            MessagingOperationType::Send.as_str(),
        )
        .set(attribute::MESSAGING_OPERATION_NAME, "send")
        .set(attribute::MESSAGING_DESTINATION_NAME, topic)
        .count(metric::MESSAGING_CLIENT_SENT_MESSAGES, 1);
    client.apply(&mut op);
    if let Some(p) = partition.filter(|p| *p >= 0) {
        op.set(
            attribute::MESSAGING_DESTINATION_PARTITION_ID,
            &p.to_string(),
        );
    }
    if let Some(key) = client.key(key.map(ToBytes::to_bytes)) {
        op.set(attribute::MESSAGING_KAFKA_MESSAGE_KEY, key);
    }
    if tombstone {
        op.set(attribute::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, &true);
    }
    op
}

/// Ends a send with its delivery report: the partition the record went
/// (or was going) to, and its offset or why it was not delivered.
fn delivered(mut op: Operation, partition: i32, report: Result<i64, &KafkaError>) {
    if partition >= 0 {
        op.set(
            attribute::MESSAGING_DESTINATION_PARTITION_ID,
            &partition.to_string(),
        );
    }
    match report {
        Ok(offset) if offset >= 0 => {
            op.set(attribute::MESSAGING_KAFKA_OFFSET, &offset);
        }
        Ok(_) => {}
        Err(e) => op.fail(&super::error::error_type(e), None),
    }
    op.finish();
}

/// Sends a `FutureProducer`'s records inside PRODUCER spans that name the
/// producer's broker and `client.id`, read once from its configuration
/// (see the [module docs](super)).
///
/// ```no_run
/// # async fn run() -> Result<(), rdkafka::error::KafkaError> {
/// use rdkafka::producer::FutureProducer;
/// use semtel::integrations::kafka::Sender;
///
/// let mut config = rdkafka::ClientConfig::new();
/// config.set("bootstrap.servers", "kafka:9092").set("client.id", "billing");
/// let producer: FutureProducer = config.create()?;
/// let sender = Sender::new(&config); // server.address=kafka, messaging.client.id=billing
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Sender {
    client: Client,
}

impl Sender {
    /// The sender for a producer created from `config`: its spans get
    /// `server.address` and `server.port` (the first broker of
    /// `bootstrap.servers`) and `messaging.client.id` (`client.id`, when
    /// set).
    #[must_use]
    pub fn new(config: &ClientConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }

    /// Leaves `messaging.kafka.message.key` out of the spans: for keys
    /// that are personal data (a user or account id) or otherwise secret.
    ///
    /// ```
    /// let config = rdkafka::ClientConfig::new();
    /// let sender = semtel::integrations::kafka::Sender::new(&config).without_message_key();
    /// ```
    #[must_use]
    pub fn without_message_key(mut self) -> Self {
        self.client.keys = false;
        self
    }

    /// Sends `record` like `FutureProducer::send`, inside a PRODUCER span
    /// `send {topic}` that ends with the delivery report; the span's
    /// context is added to the record's headers.
    ///
    /// ```no_run
    /// # async fn run(producer: rdkafka::producer::FutureProducer, sender: semtel::integrations::kafka::Sender) {
    /// use rdkafka::message::{Header, OwnedHeaders};
    /// use rdkafka::producer::FutureRecord;
    ///
    /// let headers = OwnedHeaders::new().insert(Header { key: "tenant", value: Some("acme") });
    /// let record = FutureRecord::to("orders").key("order-17").payload("{}").headers(headers);
    /// // The record leaves with `tenant` and `traceparent`.
    /// match sender.send(&producer, record, std::time::Duration::ZERO).await {
    ///     Ok(delivery) => println!("at {}/{}", delivery.partition, delivery.offset),
    ///     Err((e, _message)) => eprintln!("not delivered: {e}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As `FutureProducer::send`: the error and the record when it was not
    /// delivered (the span then has `error.type` and an error status).
    pub async fn send<K, P, C, R>(
        &self,
        producer: &FutureProducer<C, R>,
        mut record: FutureRecord<'_, K, P>,
        queue_timeout: impl Into<rdkafka::util::Timeout>,
    ) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        C: ClientContext + 'static,
        R: AsyncRuntime,
    {
        let op = start(
            &self.client,
            record.topic,
            record.partition,
            record.key,
            record.payload.is_none(),
        );
        record.headers = Some(super::headers::inject(&op.context(), record.headers.take()));
        let result = producer
            .send(record, queue_timeout)
            .instrument(op.span().clone())
            .await;
        match &result {
            Ok(d) => delivered(op, d.partition, Ok(d.offset)),
            Err((e, message)) => delivered(op, message.partition(), Err(e)),
        }
        result
    }
}

/// A producer context whose delivery callback ends the spans of
/// [`TracedSend::send_traced`], for a `BaseProducer` or a
/// `ThreadedProducer`. It wraps the application's own context (by default
/// rdkafka's `DefaultProducerContext`), whose callbacks it calls after its
/// own with the application's delivery opaque.
///
/// ```no_run
/// use rdkafka::producer::{BaseRecord, Producer as _, ThreadedProducer};
/// use semtel::integrations::kafka::{TracedSend as _, TracingProducerContext};
///
/// let mut config = rdkafka::ClientConfig::new();
/// config.set("bootstrap.servers", "kafka:9092");
/// let producer: ThreadedProducer<TracingProducerContext> =
///     config.create_with_context(TracingProducerContext::new(&config))?;
/// producer
///     .send_traced(BaseRecord::to("orders").key("order-17").payload("{}"))
///     .map_err(|(e, _record)| e)?;
/// producer.flush(std::time::Duration::from_secs(5))?;
/// # Ok::<(), rdkafka::error::KafkaError>(())
/// ```
#[derive(Debug)]
pub struct TracingProducerContext<C = DefaultProducerContext> {
    inner: C,
    client: Client,
}

impl TracingProducerContext {
    /// The context over rdkafka's default one, for a producer created from
    /// `config` (its spans get the attributes [`Sender::new`] describes).
    #[must_use]
    pub fn new(config: &ClientConfig) -> Self {
        Self::wrap(config, DefaultProducerContext)
    }
}

impl<C> TracingProducerContext<C> {
    /// The context over the application's `inner` context, for a producer
    /// created from `config`.
    ///
    /// ```
    /// use semtel::integrations::kafka::TracingProducerContext;
    /// let config = rdkafka::ClientConfig::new();
    /// let context = TracingProducerContext::wrap(&config, rdkafka::producer::DefaultProducerContext);
    /// ```
    pub fn wrap(config: &ClientConfig, inner: C) -> Self {
        Self {
            inner,
            client: Client::new(config),
        }
    }

    /// Leaves `messaging.kafka.message.key` out of the spans (see
    /// [`Sender::without_message_key`]).
    ///
    /// ```
    /// let config = rdkafka::ClientConfig::new();
    /// let context = semtel::integrations::kafka::TracingProducerContext::new(&config).without_message_key();
    /// ```
    #[must_use]
    pub fn without_message_key(mut self) -> Self {
        self.client.keys = false;
        self
    }

    /// The application's context.
    ///
    /// ```
    /// let context = semtel::integrations::kafka::TracingProducerContext::new(&rdkafka::ClientConfig::new());
    /// let _default: &rdkafka::producer::DefaultProducerContext = context.inner();
    /// ```
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: ClientContext> ClientContext for TracingProducerContext<C> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = C::ENABLE_REFRESH_OAUTH_TOKEN;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.inner.log(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.inner.stats(statistics);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.inner.stats_raw(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.error(error, reason);
    }

    fn generate_oauth_token(
        &self,
        oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.inner.generate_oauth_token(oauthbearer_config)
    }
}

/// The delivery opaque of a [`TracingProducerContext`]: the record's span
/// and the application's own opaque, handed back to its context.
#[derive(Debug)]
pub struct Sending<O> {
    op: Option<Operation>,
    opaque: O,
}

impl<C, Part> ProducerContext<Part> for TracingProducerContext<C>
where
    C: ProducerContext<Part>,
    C::DeliveryOpaque: Send + Sync,
    Part: Partitioner,
{
    type DeliveryOpaque = Box<Sending<C::DeliveryOpaque>>;

    fn delivery(&self, result: &DeliveryResult<'_>, sending: Self::DeliveryOpaque) {
        let Sending { op, opaque } = *sending;
        if let Some(op) = op {
            match result {
                Ok(m) => delivered(op, m.partition(), Ok(m.offset())),
                Err((e, m)) => delivered(op, m.partition(), Err(e)),
            }
        }
        self.inner.delivery(result, opaque);
    }

    fn get_custom_partitioner(&self) -> Option<&Part> {
        self.inner.get_custom_partitioner()
    }
}

/// A record that failed to enqueue, given back with the application's
/// opaque.
type Rejected<'a, K, P, O> = (KafkaError, BaseRecord<'a, K, P, O>);

/// `send_traced` for a `BaseProducer` or `ThreadedProducer` with a
/// [`TracingProducerContext`]: enqueues like `send`, inside a PRODUCER span
/// `send {topic}` that the delivery callback ends, and adds the span's
/// context to the record's headers. A record that fails to enqueue (a full
/// queue) ends its span at once, with `error.type`.
pub trait TracedSend<O: IntoOpaque> {
    /// Sends `record` (see the [trait docs](TracedSend)).
    ///
    /// ```no_run
    /// # fn run(producer: rdkafka::producer::BaseProducer<semtel::integrations::kafka::TracingProducerContext>) {
    /// use rdkafka::producer::BaseRecord;
    /// use semtel::integrations::kafka::TracedSend as _;
    ///
    /// let _ = producer.send_traced(BaseRecord::to("orders").payload("{}").key("k"));
    /// producer.poll(std::time::Duration::from_millis(100)); // delivery reports end the spans
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As `send`: the error and the record (with the application's opaque)
    /// when librdkafka does not take it.
    #[allow(clippy::result_large_err)] // rdkafka's own shape
    fn send_traced<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, O>,
    ) -> Result<(), Rejected<'a, K, P, O>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized;
}

/// Wraps `record` for a tracing context: its span started, its context in
/// the headers.
fn wrap<'a, K, P, O>(
    client: &Client,
    record: BaseRecord<'a, K, P, O>,
) -> BaseRecord<'a, K, P, Box<Sending<O>>>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    O: IntoOpaque + Send + Sync,
{
    let op = start(
        client,
        record.topic,
        record.partition,
        record.key,
        record.payload.is_none(),
    );
    let headers = super::headers::inject(&op.context(), record.headers);
    BaseRecord {
        topic: record.topic,
        partition: record.partition,
        payload: record.payload,
        key: record.key,
        timestamp: record.timestamp,
        headers: Some(headers),
        delivery_opaque: Box::new(Sending {
            op: Some(op),
            opaque: record.delivery_opaque,
        }),
    }
}

/// The application's record back from a rejected one, its span ended.
fn unwrap<'a, K, P, O>(
    (error, record): Rejected<'a, K, P, Box<Sending<O>>>,
) -> Rejected<'a, K, P, O>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    O: IntoOpaque + Send + Sync,
{
    let Sending { op, opaque } = *record.delivery_opaque;
    if let Some(op) = op {
        delivered(op, record.partition.unwrap_or(-1), Err(&error));
    }
    let record = BaseRecord {
        topic: record.topic,
        partition: record.partition,
        payload: record.payload,
        key: record.key,
        timestamp: record.timestamp,
        headers: record.headers,
        delivery_opaque: opaque,
    };
    (error, record)
}

impl<C, Part> TracedSend<C::DeliveryOpaque> for BaseProducer<TracingProducerContext<C>, Part>
where
    C: ProducerContext<Part>,
    C::DeliveryOpaque: Send + Sync,
    Part: Partitioner,
{
    fn send_traced<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), Rejected<'a, K, P, C::DeliveryOpaque>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send(wrap(&self.context().client, record))
            .map_err(unwrap)
    }
}

impl<C, Part> TracedSend<C::DeliveryOpaque> for ThreadedProducer<TracingProducerContext<C>, Part>
where
    C: ProducerContext<Part> + 'static,
    C::DeliveryOpaque: Send + Sync,
    Part: Partitioner + Send + Sync + 'static,
{
    fn send_traced<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P, C::DeliveryOpaque>,
    ) -> Result<(), Rejected<'a, K, P, C::DeliveryOpaque>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send(wrap(&self.context().client, record))
            .map_err(unwrap)
    }
}
