//! The hand-off between the orders pipeline's producer and its consumer: a
//! [`Broker`] the publisher sends messages to and the consumer polls.
//!
//! [`MemoryBroker`] keeps its topics in the process. A broker-backed pair
//! (a Kafka producer and consumer, say) implements the same trait and the
//! stages stay as they are: trace context travels in the messages'
//! headers either way.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use semtel::Telemetry;

/// A message: Kafka-style byte headers, a key and a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Headers; `traceparent` carries the producer's trace context.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The message key (the order id).
    pub key: Vec<u8>,
    /// The payload (the order as a CSV line).
    pub payload: Vec<u8>,
}

/// What a poll returned.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The partition the messages came from.
    pub partition: String,
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// Messages still waiting in the partition after these: the
    /// consumer's lag in records.
    pub waiting: u64,
}

impl Batch {
    /// The payload bytes of its messages.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(|m| m.payload.len()).sum()
    }
}

/// Why a send failed. `error.type` is the variant name in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Telemetry)]
pub enum SendError {
    /// The broker asked to try again (a leader election, a full buffer).
    Transient(String),
    /// The broker will not take the message.
    Refused(String),
}

impl SendError {
    /// Whether sending again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transient(why) => write!(f, "try again: {why}"),
            SendError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Where published messages wait for the consumer.
pub trait Broker {
    /// Sends `message` to `topic`.
    ///
    /// # Errors
    /// When the broker does not take it; [`SendError::is_transient`] says
    /// whether to try again.
    fn send(&mut self, topic: &str, message: Message) -> Result<(), SendError>;

    /// Takes up to `max` messages of `topic`.
    fn poll(&mut self, topic: &str, max: usize) -> Batch;
}

/// Topics in memory, one partition each. It refuses the first send to a
/// topic named with [`MemoryBroker::hiccup_on`] once, transiently, as a
/// broker does while it elects a partition leader.
#[derive(Debug, Default)]
pub struct MemoryBroker {
    topics: BTreeMap<String, VecDeque<Message>>,
    hiccups: Vec<String>,
}

impl MemoryBroker {
    /// Empty topics, no hiccups.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses the next send to `topic` once, transiently.
    #[must_use]
    pub fn hiccup_on(mut self, topic: &str) -> Self {
        self.hiccups.push(topic.to_owned());
        self
    }

    /// The messages waiting on `topic`.
    pub fn waiting(&self, topic: &str) -> impl Iterator<Item = &Message> {
        self.topics.get(topic).into_iter().flatten()
    }
}

impl Broker for MemoryBroker {
    fn send(&mut self, topic: &str, message: Message) -> Result<(), SendError> {
        if let Some(i) = self.hiccups.iter().position(|t| t == topic) {
            self.hiccups.remove(i);
            return Err(SendError::Transient("no leader for the partition".into()));
        }
        self.topics
            .entry(topic.to_owned())
            .or_default()
            .push_back(message);
        Ok(())
    }

    fn poll(&mut self, topic: &str, max: usize) -> Batch {
        let queue = self.topics.entry(topic.to_owned()).or_default();
        let messages: Vec<Message> = queue.drain(..max.min(queue.len())).collect();
        Batch {
            partition: "0".to_owned(),
            messages,
            waiting: queue.len() as u64,
        }
    }
}
