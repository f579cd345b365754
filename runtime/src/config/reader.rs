//! Reading one variable: empty values count as unset, and every bad value
//! becomes a [`ConfigError`] naming the variable, the value and what is
//! accepted.

use std::path::PathBuf;
use std::time::Duration;

use super::redact;
use super::types::{
    BatchConfig, ConfigError, Lookup, MAX_COUNT_LIMIT, MAX_LENGTH_LIMIT, MAX_MILLIS,
    MAX_QUEUE_SIZE, NO_LIMIT, SpanLimits,
};

/// What a zero means for a duration.
#[derive(Debug, Clone, Copy)]
pub(super) enum Zero {
    /// A timeout: no limit, as the specification reads it ([`NO_LIMIT`]).
    NoLimit,
    /// A delay: none.
    Nothing,
    /// An interval: not accepted (exports would follow one another without
    /// a pause).
    Rejected,
}

impl Zero {
    fn expected(self) -> String {
        match self {
            Zero::NoLimit => format!(
                "a whole number of milliseconds from 0 to {MAX_MILLIS} (0: no limit), e.g. 10000"
            ),
            Zero::Nothing => {
                format!("a whole number of milliseconds from 0 to {MAX_MILLIS}, e.g. 5000")
            }
            Zero::Rejected => {
                format!("a whole number of milliseconds from 1 to {MAX_MILLIS}, e.g. 60000")
            }
        }
    }

    /// `ms` as this kind of duration; `None` when not accepted.
    fn read(self, ms: u64) -> Option<Duration> {
        match (self, ms) {
            (_, ms) if ms > MAX_MILLIS => None,
            (Zero::NoLimit, 0) => Some(NO_LIMIT),
            (Zero::Rejected, 0) => None,
            (_, ms) => Some(Duration::from_millis(ms)),
        }
    }
}

/// Reads variables, treating empty values as unset (as the specification asks),
/// and collects every error instead of stopping at the first.
pub(super) struct Reader<'a> {
    pub(super) env: Lookup<'a>,
    pub(super) errors: Vec<ConfigError>,
}

impl Reader<'_> {
    pub(super) fn get(&mut self, name: &str) -> Option<String> {
        match (self.env)(name)? {
            Ok(value) => Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
            Err(lossy) => {
                self.fail(name, &lossy, "valid UTF-8 text");
                None
            }
        }
    }

    /// Records an error. The value is shown as [`shown`] allows: never a
    /// header value or URL credentials.
    pub(super) fn fail(&mut self, variable: &str, value: &str, expected: impl Into<String>) {
        self.errors.push(ConfigError {
            variable: variable.to_owned(),
            value: shown(variable, value),
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

    pub(super) fn bool(&mut self, name: &str) -> Option<bool> {
        self.choice(name, &[("true", true), ("false", false)])
    }

    pub(super) fn millis(&mut self, name: &str, zero: Zero) -> Option<Duration> {
        let value = self.get(name)?;
        let read = value.parse::<u64>().ok().and_then(|ms| zero.read(ms));
        if read.is_none() {
            self.fail(name, &value, zero.expected());
        }
        read
    }

    /// A limit from 0 to `max`.
    pub(super) fn limit(&mut self, name: &str, max: usize) -> Option<usize> {
        let value = self.get(name)?;
        let read = value.parse::<usize>().ok().filter(|n| *n <= max);
        if read.is_none() {
            self.fail(name, &value, format!("a whole number from 0 to {max}"));
        }
        read
    }

    /// The span limits: each `OTEL_SPAN_*`, `OTEL_EVENT_*` or `OTEL_LINK_*`
    /// variable, else its general `OTEL_ATTRIBUTE_*` form, else the
    /// specification's default.
    pub(super) fn span_limits(&mut self) -> SpanLimits {
        let d = SpanLimits::DEFAULT;
        let length = self.limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", MAX_LENGTH_LIMIT);
        let count = self.limit("OTEL_ATTRIBUTE_COUNT_LIMIT", MAX_COUNT_LIMIT);
        SpanLimits {
            attribute_value_length: self
                .limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", MAX_LENGTH_LIMIT)
                .or(length),
            attribute_count: self
                .limit("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", MAX_COUNT_LIMIT)
                .or(count)
                .unwrap_or(d.attribute_count),
            event_count: self
                .limit("OTEL_SPAN_EVENT_COUNT_LIMIT", MAX_COUNT_LIMIT)
                .unwrap_or(d.event_count),
            link_count: self
                .limit("OTEL_SPAN_LINK_COUNT_LIMIT", MAX_COUNT_LIMIT)
                .unwrap_or(d.link_count),
            event_attribute_count: self
                .limit("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", MAX_COUNT_LIMIT)
                .or(count)
                .unwrap_or(d.event_attribute_count),
            link_attribute_count: self
                .limit("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", MAX_COUNT_LIMIT)
                .or(count)
                .unwrap_or(d.link_attribute_count),
        }
    }

    pub(super) fn count(&mut self, name: &str) -> Option<usize> {
        let value = self.get(name)?;
        let read = value.parse::<usize>().ok().filter(|n| size_ok(*n));
        if read.is_none() {
            self.fail(name, &value, size_expected());
        }
        read
    }

    /// A duration set in code (`setting` names the builder method): the
    /// same range as the variable, zero read as `zero` says.
    pub(super) fn code_duration(
        &mut self,
        setting: &str,
        value: Duration,
        zero: Zero,
    ) -> Option<Duration> {
        let ms = u64::try_from(value.as_millis()).unwrap_or(u64::MAX);
        // Below a millisecond but not zero: kept as it is.
        let read = if ms == 0 && !value.is_zero() {
            Some(value)
        } else {
            zero.read(ms)
        };
        if read.is_none() {
            self.fail(setting, &format!("{value:?}"), zero.expected());
        }
        read
    }

    /// `key=value,key2=value2` with percent-encoded values (resource
    /// attributes).
    pub(super) fn pairs(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(value) = self.get(name) else {
            return Vec::new();
        };
        match parse_pairs(&value) {
            Ok(pairs) => pairs,
            Err(bad) => {
                let item = value.split(',').nth(bad).unwrap_or_default().trim();
                self.fail(
                    name,
                    &value,
                    format!(
                        "comma-separated key=value pairs with percent-encoded values \
                         (the item `{item}` is not one)"
                    ),
                );
                Vec::new()
            }
        }
    }

    /// A headers variable: as [`Reader::pairs`], each a valid HTTP header.
    /// An error names the item by its place and key, never its value.
    pub(super) fn headers(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(value) = self.get(name) else {
            return Vec::new();
        };
        let problem = match parse_pairs(&value) {
            Ok(pairs) => match pairs.iter().find_map(|(k, v)| header_problem(k, v)) {
                None => return pairs,
                Some(problem) => problem,
            },
            Err(bad) => format!("item {} is not key=value with percent-encoding", bad + 1),
        };
        self.fail(
            name,
            &value,
            format!(
                "comma-separated key=value pairs with percent-encoded values, each an HTTP \
                 header ({problem})"
            ),
        );
        Vec::new()
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
        let max_queue_size = self.count(&queue).unwrap_or(defaults.max_queue_size);
        let config = BatchConfig {
            schedule_delay: self
                .millis(&delay, Zero::Nothing)
                .unwrap_or(defaults.schedule_delay),
            export_timeout: self
                .millis(&timeout, Zero::NoLimit)
                .unwrap_or(defaults.export_timeout),
            max_queue_size,
            // Unset, it follows a smaller queue size down.
            max_export_batch_size: self
                .count(&batch)
                .unwrap_or(defaults.max_export_batch_size.min(max_queue_size)),
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

    /// Batch settings made in code, checked as [`Reader::batch`] checks
    /// the variables; `setting` names the builder method.
    pub(super) fn code_batch(
        &mut self,
        setting: &str,
        b: BatchConfig,
        defaults: BatchConfig,
    ) -> BatchConfig {
        let field = |name: &str| format!("{setting} {name}");
        let size = |r: &mut Self, name: &str, n: usize| {
            if size_ok(n) {
                Some(n)
            } else {
                r.fail(&field(name), &n.to_string(), size_expected());
                None
            }
        };
        let config = BatchConfig {
            schedule_delay: self
                .code_duration(&field("schedule_delay"), b.schedule_delay, Zero::Nothing)
                .unwrap_or(defaults.schedule_delay),
            export_timeout: self
                .code_duration(&field("export_timeout"), b.export_timeout, Zero::NoLimit)
                .unwrap_or(defaults.export_timeout),
            max_queue_size: size(self, "max_queue_size", b.max_queue_size)
                .unwrap_or(defaults.max_queue_size),
            max_export_batch_size: size(self, "max_export_batch_size", b.max_export_batch_size)
                .unwrap_or(defaults.max_export_batch_size),
        };
        if b.max_export_batch_size > b.max_queue_size {
            self.fail(
                &field("max_export_batch_size"),
                &b.max_export_batch_size.to_string(),
                format!(
                    "a batch size no larger than max_queue_size ({})",
                    b.max_queue_size
                ),
            );
        }
        config
    }
}

/// A value as an error may show it: a headers setting's keys only, a URL
/// without its user information, anything else as it is.
fn shown(variable: &str, value: &str) -> String {
    if variable.ends_with("HEADERS") || variable == "Builder::header" {
        redact::pairs(value)
    } else if variable.ends_with("ENDPOINT") || variable == "Builder::endpoint" {
        redact::url(value).into_owned()
    } else {
        value.to_owned()
    }
}

fn size_ok(n: usize) -> bool {
    (1..=MAX_QUEUE_SIZE).contains(&n)
}

fn size_expected() -> String {
    format!("a whole number from 1 to {MAX_QUEUE_SIZE}")
}

/// What is wrong with a header, naming it only by a valid name; `None`
/// when it is a valid HTTP header.
pub(super) fn header_problem(key: &str, value: &str) -> Option<String> {
    if !redact::header_name(key) {
        return Some("a key is not a valid HTTP header name".to_owned());
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Some(format!(
            "the value of `{key}` is not a valid HTTP header value"
        ));
    }
    None
}

pub(super) fn one_of(names: &[&str]) -> String {
    format!("one of {}", names.join(", "))
}

/// Splits `k=v,k2=v2`, percent-decoding keys and values. Returns the
/// offending item's index on error.
pub(crate) fn parse_pairs(input: &str) -> Result<Vec<(String, String)>, usize> {
    let mut out = Vec::new();
    for (i, item) in input.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = item.split_once('=').ok_or(i)?;
        let key = percent_decode(key.trim()).ok_or(i)?;
        let value = percent_decode(value.trim()).ok_or(i)?;
        if key.is_empty() {
            return Err(i);
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
