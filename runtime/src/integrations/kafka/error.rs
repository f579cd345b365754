//! `error.type` of a Kafka error.

use rdkafka::error::KafkaError;

use crate::integrations::attrs::snake_case;

/// A low-cardinality `error.type` for a Kafka error: the librdkafka error
/// code in snake case (`unknown_topic_or_partition`, `message_timed_out`),
/// else the kind of error.
pub(super) fn error_type(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => snake_case(&format!("{code:?}")),
        None if matches!(error, KafkaError::Canceled) => "canceled".to_owned(),
        None => semtel_conventions::attribute::ErrorType::Other
            .as_str()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    #[test]
    fn error_types_are_snake_case_codes() {
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert_eq!(error_type(&e), "unknown_topic_or_partition");
        assert_eq!(error_type(&KafkaError::Canceled), "canceled");
        assert_eq!(error_type(&KafkaError::NoMessageReceived), "_OTHER");
    }
}
