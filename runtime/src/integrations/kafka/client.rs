//! What a client's spans say about the client, read once from its
//! configuration: the broker it bootstraps from (`server.address`,
//! `server.port`), its `client.id` (`messaging.client.id`), and whether
//! the records' keys are exported.

use std::sync::Arc;

use opentelemetry::Value;
use rdkafka::ClientConfig;
use semtel_conventions::attribute;

use crate::integrations::Operation;

/// The port librdkafka connects to when a broker is named without one.
const DEFAULT_PORT: i64 = 9092;

/// A client's attributes, shared by its spans (cloned per span as
/// reference-counted strings).
#[derive(Debug, Clone)]
pub(super) struct Client {
    address: Option<Value>,
    port: Option<i64>,
    id: Option<Value>,
    /// Whether `messaging.kafka.message.key` is exported.
    pub(super) keys: bool,
}

impl Default for Client {
    fn default() -> Self {
        Self {
            address: None,
            port: None,
            id: None,
            keys: true,
        }
    }
}

impl Client {
    /// The attributes of a client created from `config`: the first broker
    /// of `bootstrap.servers` (or its alias `metadata.broker.list`), and
    /// `client.id` when the configuration sets it (librdkafka's default,
    /// `rdkafka`, identifies no one).
    pub(super) fn new(config: &ClientConfig) -> Self {
        let servers = config
            .get("bootstrap.servers")
            .or_else(|| config.get("metadata.broker.list"));
        let (address, port) = servers.and_then(first_broker).unzip();
        Self {
            address: address.map(|a| Value::from(Arc::<str>::from(a))),
            port,
            id: config
                .get("client.id")
                .filter(|id| !id.is_empty())
                .map(|id| Value::from(Arc::<str>::from(id))),
            keys: true,
        }
    }

    /// Sets the client's attributes on `op` (`server.*` also go on its
    /// metrics, as the conventions list them there).
    pub(super) fn apply(&self, op: &mut Operation) {
        if let Some(address) = &self.address {
            op.set_value(attribute::SERVER_ADDRESS.name(), address.clone());
        }
        op.set(attribute::SERVER_PORT, &self.port);
        if let Some(id) = &self.id {
            op.set_value(attribute::MESSAGING_CLIENT_ID.name(), id.clone());
        }
    }

    /// `key` as the conventions want it (a string: a key that is not UTF-8
    /// is left out rather than shown as bytes), unless keys are off.
    pub(super) fn key<'k>(&self, key: Option<&'k [u8]>) -> Option<&'k str> {
        key.filter(|_| self.keys)
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

/// The host and port of the first broker of a `bootstrap.servers` list:
/// `host`, `host:port`, `[v6]:port`, each maybe after `protocol://`.
fn first_broker(servers: &str) -> Option<(&str, i64)> {
    let first = servers.split([',', ' ']).find(|s| !s.is_empty())?;
    let broker = first.split_once("://").map_or(first, |(_, b)| b);
    let (host, port) = if let Some(rest) = broker.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match broker.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            // More than one colon and no brackets: a bare IPv6 address.
            Some(_) => (broker, None),
            None => (broker, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => DEFAULT_PORT,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::first_broker;

    #[test]
    fn the_first_broker_of_a_bootstrap_list() {
        assert_eq!(
            first_broker("kafka-1:9093,kafka-2:9093"),
            Some(("kafka-1", 9093))
        );
        assert_eq!(first_broker("kafka"), Some(("kafka", 9092)));
        assert_eq!(
            first_broker(" SSL://kafka.example:9094"),
            Some(("kafka.example", 9094))
        );
        assert_eq!(first_broker("[::1]:9092"), Some(("::1", 9092)));
        assert_eq!(first_broker("::1"), Some(("::1", 9092)));
        assert_eq!(first_broker("kafka:port"), None);
        assert_eq!(first_broker(""), None);
    }
}
