//! Per-service attributes from the operation input members the SDK
//! captured (`CapturedTelemetryAttributes`), by the AWS conventions.

use aws_smithy_types::telemetry::CapturedTelemetryAttributes;
use opentelemetry::Value;
use semtel_conventions::attribute;

use crate::integrations::Operation;

/// What a captured member becomes.
#[derive(Clone, Copy)]
enum Target {
    /// A string attribute with the member's value.
    Str(&'static str),
    /// `aws.dynamodb.table_names`: an array of the one table.
    TableNames,
    /// A string attribute, when the value is an ARN (not a name).
    Arn(&'static str),
}

/// (service as the SDK names it in `Metadata`, e.g. `Secrets Manager`,
/// input member, attribute).
const MAP: &[(&str, &str, Target)] = &[
    ("S3", "Bucket", Target::Str(attribute::AWS_S3_BUCKET.name())),
    ("S3", "Key", Target::Str(attribute::AWS_S3_KEY.name())),
    (
        "S3",
        "CopySource",
        Target::Str(attribute::AWS_S3_COPY_SOURCE.name()),
    ),
    (
        "S3",
        "UploadId",
        Target::Str(attribute::AWS_S3_UPLOAD_ID.name()),
    ),
    ("DynamoDB", "TableName", Target::TableNames),
    (
        "DynamoDB",
        "IndexName",
        Target::Str(attribute::AWS_DYNAMODB_INDEX_NAME.name()),
    ),
    (
        "DynamoDB",
        "ProjectionExpression",
        Target::Str(attribute::AWS_DYNAMODB_PROJECTION.name()),
    ),
    (
        "DynamoDB",
        "ExclusiveStartTableName",
        Target::Str(attribute::AWS_DYNAMODB_EXCLUSIVE_START_TABLE.name()),
    ),
    (
        "SQS",
        "QueueUrl",
        Target::Str(attribute::AWS_SQS_QUEUE_URL.name()),
    ),
    (
        "SNS",
        "TopicArn",
        Target::Str(attribute::AWS_SNS_TOPIC_ARN.name()),
    ),
    (
        "Kinesis",
        "StreamName",
        Target::Str(attribute::AWS_KINESIS_STREAM_NAME.name()),
    ),
    (
        "SFN",
        "stateMachineArn",
        Target::Str(attribute::AWS_STEP_FUNCTIONS_STATE_MACHINE_ARN.name()),
    ),
    (
        "SFN",
        "activityArn",
        Target::Str(attribute::AWS_STEP_FUNCTIONS_ACTIVITY_ARN.name()),
    ),
    (
        "Secrets Manager",
        "SecretId",
        Target::Arn(attribute::AWS_SECRETSMANAGER_SECRET_ARN.name()),
    ),
    (
        "Lambda",
        "UUID",
        Target::Str(attribute::AWS_LAMBDA_RESOURCE_MAPPING_ID.name()),
    ),
];

/// The input members the interceptor asks the SDK to capture.
pub(super) const MEMBERS: [&str; MAP.len()] = {
    let mut members = [""; MAP.len()];
    let mut i = 0;
    while i < MAP.len() {
        members[i] = MAP[i].1;
        i += 1;
    }
    members
};

/// Sets the attributes of `service`'s captured members on `op`.
pub(super) fn set_attributes(
    op: &mut Operation,
    service: &str,
    captured: &CapturedTelemetryAttributes,
) {
    for (_, member, target) in MAP.iter().filter(|(s, _, _)| *s == service) {
        let Some(value) = captured.get(member) else {
            continue;
        };
        match *target {
            Target::Str(key) => {
                op.set_value(key, Value::from(value.to_owned()));
            }
            Target::Arn(key) if value.starts_with("arn:") => {
                op.set_value(key, Value::from(value.to_owned()));
            }
            Target::Arn(_) => {}
            Target::TableNames => {
                op.set(attribute::AWS_DYNAMODB_TABLE_NAMES, &[value]);
            }
        }
    }
    // The DynamoDB span conventions ask for it on every call.
    if service == "DynamoDB" {
        op.set(
            attribute::DB_SYSTEM_NAME,
            &attribute::DbSystemName::AwsDynamodb,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_maps_to_a_registry_attribute() {
        for (service, member, target) in MAP {
            let key = match target {
                Target::Str(k) | Target::Arn(k) => k,
                Target::TableNames => attribute::AWS_DYNAMODB_TABLE_NAMES.name(),
            };
            assert!(
                semtel_conventions::attribute_for_key(key).is_some(),
                "{service}.{member} → {key}"
            );
        }
        assert!(MEMBERS.contains(&"Bucket") && MEMBERS.contains(&"TableName"));
    }
}
