//! Reading one variable: empty values count as unset, and every bad value
//! becomes a [`ConfigError`] naming the variable, the value and what is
//! accepted.

use std::path::PathBuf;
use std::time::Duration;

use super::types::{BatchConfig, ConfigError};

/// Reads variables, treating empty values as unset (as the specification asks),
/// and collects every error instead of stopping at the first.
pub(super) struct Reader<'a> {
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) errors: Vec<ConfigError>,
}

impl Reader<'_> {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.env)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn fail(&mut self, variable: &str, value: &str, expected: impl Into<String>) {
        self.errors.push(ConfigError {
            variable: variable.to_owned(),
            value: value.to_owned(),
            expected: expected.into(),
        });
    }

    /// A value from a fixed list (case-insensitive).
    pub(super) fn choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let value = self.get(name)?;
        let found = choices
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&value))
            .map(|(_, v)| *v);
        if found.is_none() {
            let names: Vec<&str> = choices.iter().map(|(k, _)| *k).collect();
            self.fail(name, &value, one_of(&names));
        }
        found
    }

    pub(super) fn bool(&mut self, name: &str) -> bool {
        self.choice(name, &[("true", true), ("false", false)])
            .unwrap_or(false)
    }

    pub(super) fn millis(&mut self, name: &str) -> Option<Duration> {
        let value = self.get(name)?;
        match value.parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                self.fail(name, &value, "a whole number of milliseconds, e.g. 5000");
                None
            }
        }
    }

    pub(super) fn count(&mut self, name: &str) -> Option<usize> {
        let value = self.get(name)?;
        match value.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.fail(name, &value, "a whole number greater than 0");
                None
            }
        }
    }

    /// `key=value,key2=value2` with percent-encoded values (headers, resource
    /// attributes).
    pub(super) fn pairs(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(value) = self.get(name) else {
            return Vec::new();
        };
        match parse_pairs(&value) {
            Ok(pairs) => pairs,
            Err(bad) => {
                self.fail(
                    name,
                    &value,
                    format!(
                        "comma-separated key=value pairs with percent-encoded values \
                         (the item `{bad}` is not one)"
                    ),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn path(&mut self, name: &str) -> Option<PathBuf> {
        let value = self.get(name)?;
        let path = PathBuf::from(&value);
        if path.is_file() {
            Some(path)
        } else {
            self.fail(name, &value, "the path of a readable PEM file");
            None
        }
    }

    pub(super) fn batch(&mut self, prefix: &str, defaults: BatchConfig) -> BatchConfig {
        let delay = format!("{prefix}_SCHEDULE_DELAY");
        let timeout = format!("{prefix}_EXPORT_TIMEOUT");
        let queue = format!("{prefix}_MAX_QUEUE_SIZE");
        let batch = format!("{prefix}_MAX_EXPORT_BATCH_SIZE");
        let config = BatchConfig {
            schedule_delay: self.millis(&delay).unwrap_or(defaults.schedule_delay),
            export_timeout: self.millis(&timeout).unwrap_or(defaults.export_timeout),
            max_queue_size: self.count(&queue).unwrap_or(defaults.max_queue_size),
            max_export_batch_size: self.count(&batch).unwrap_or(defaults.max_export_batch_size),
        };
        if config.max_export_batch_size > config.max_queue_size {
            let value = config.max_export_batch_size.to_string();
            self.fail(
                &batch,
                &value,
                format!(
                    "a batch size no larger than {queue} ({})",
                    config.max_queue_size
                ),
            );
        }
        config
    }
}

pub(super) fn one_of(names: &[&str]) -> String {
    format!("one of {}", names.join(", "))
}

/// Splits `k=v,k2=v2`, percent-decoding keys and values. Returns the offending
/// item on error.
pub(crate) fn parse_pairs(input: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in input.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((key, value)) = item.split_once('=') else {
            return Err(item.to_owned());
        };
        let key = percent_decode(key.trim()).ok_or_else(|| item.to_owned())?;
        let value = percent_decode(value.trim()).ok_or_else(|| item.to_owned())?;
        if key.is_empty() {
            return Err(item.to_owned());
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Decodes `%XX` escapes (W3C baggage octet encoding, as the specification
/// uses for headers and resource attributes). `None` on a malformed escape or
/// invalid UTF-8.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
