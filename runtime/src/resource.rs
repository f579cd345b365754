//! The resource every signal carries: service, SDK, process and host.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use semtel_conventions::attribute as res;

use crate::config::Config;

/// The semantic-conventions schema the emitted names follow.
pub const SCHEMA_URL: &str = semtel_conventions::SCHEMA_URL;

/// Builds the resource: `service.*`, `telemetry.sdk.*`, `process.*`,
/// `host.*`, `os.type`, then the user's attributes (which win).
pub(crate) fn build(config: &Config) -> Resource {
    let mut attrs = vec![
        KeyValue::new(res::SERVICE_NAME.name(), config.service_name.clone()),
        KeyValue::new(res::SERVICE_INSTANCE_ID.name(), instance_id()),
        KeyValue::new(res::PROCESS_PID.name(), i64::from(std::process::id())),
        KeyValue::new(res::PROCESS_RUNTIME_NAME.name(), "rust"),
        KeyValue::new(res::OS_TYPE.name(), os_type()),
        KeyValue::new(res::HOST_ARCH.name(), host_arch()),
    ];
    if let Some(version) = &config.service_version {
        attrs.push(KeyValue::new(res::SERVICE_VERSION.name(), version.clone()));
    }
    if let Some(name) = crate::config::executable_name() {
        attrs.push(KeyValue::new(res::PROCESS_EXECUTABLE_NAME.name(), name));
    }
    if let Some(host) = host_name() {
        attrs.push(KeyValue::new(res::HOST_NAME.name(), host));
    }
    let user = config
        .resource_attributes
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()));
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_schema_url(attrs.into_iter().chain(user), SCHEMA_URL)
        .build()
}

/// A random UUID (version 4), new for every process, as the convention asks.
fn instance_id() -> String {
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `host.arch` uses the conventions' names, not Rust's.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_uuid_v4_and_differ() {
        let a = instance_id();
        let b = instance_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
