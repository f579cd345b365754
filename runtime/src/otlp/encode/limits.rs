//! The specification's span limits as the encoder applies them: values
//! cut to a length in characters, attributes, events and links beyond a
//! count left out, and all of it counted.

use std::borrow::Cow;

use opentelemetry::{Array, Value};

use crate::config::SpanLimits;

/// The span limits, and what they have dropped or shortened so far.
pub(super) struct Limited<'a> {
    pub(super) limits: &'a SpanLimits,
    pub(super) count: u64,
}

impl Limited<'_> {
    /// `value`, its strings cut to the length limit.
    pub(super) fn value<'v>(&mut self, value: &'v Value) -> Cow<'v, Value> {
        let Some(max) = self.limits.attribute_value_length else {
            return Cow::Borrowed(value);
        };
        match value {
            Value::String(s) => match cut(s.as_str(), max) {
                Some(short) => {
                    self.count += 1;
                    Cow::Owned(Value::String(short.to_owned().into()))
                }
                None => Cow::Borrowed(value),
            },
            Value::Array(Array::String(list))
                if list.iter().any(|s| cut(s.as_str(), max).is_some()) =>
            {
                self.count += 1;
                let list = list
                    .iter()
                    .map(|s| {
                        cut(s.as_str(), max).map_or_else(|| s.clone(), |c| c.to_owned().into())
                    })
                    .collect();
                Cow::Owned(Value::Array(Array::String(list)))
            }
            _ => Cow::Borrowed(value),
        }
    }

    /// Counts items left out of a span, of `len` kept at most `max`.
    pub(super) fn over(&mut self, len: usize, max: usize) -> u64 {
        let dropped = len.saturating_sub(max) as u64;
        self.count += dropped;
        dropped
    }
}

/// `s` cut to `max` characters, on a character boundary, if it is longer.
pub(super) fn cut(s: &str, max: usize) -> Option<&str> {
    // No longer in bytes: no longer in characters.
    if s.len() <= max {
        return None;
    }
    s.char_indices().nth(max).map(|(at, _)| &s[..at])
}
