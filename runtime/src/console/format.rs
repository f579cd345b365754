//! Formatting shared by the span, log and metric renderings.

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::Value;
use opentelemetry::logs::AnyValue;

/// Longest attribute value shown before it is cut with `…`.
pub(super) const MAX_VALUE_CHARS: usize = 80;

pub(super) const RED: &str = "31";
pub(super) const GREEN: &str = "32";
pub(super) const YELLOW: &str = "33";
pub(super) const BLUE: &str = "34";
pub(super) const CYAN: &str = "36";
pub(super) const BOLD: &str = "1";
pub(super) const DIM: &str = "2";

/// Wraps text in an ANSI style when colour is on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Paint(pub(super) bool);

impl Paint {
    pub(super) fn style(self, code: &str, text: &str) -> String {
        match self.0 && !code.is_empty() && !text.is_empty() {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_owned(),
        }
    }

    /// Appends a space and `text` in `code`.
    pub(super) fn push(self, line: &mut String, code: &str, text: &str) {
        line.push(' ');
        line.push_str(&self.style(code, text));
    }

    /// Appends ` key=value` with the key dimmed.
    pub(super) fn attr(self, line: &mut String, key: &str, value: &str) {
        self.push(line, DIM, &format!("{key}="));
        line.push_str(value);
    }
}

/// Cuts `s` to [`MAX_VALUE_CHARS`] characters, ending with `…` when cut.
pub(super) fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS - 1) {
        Some((end, _)) if s[end..].chars().nth(1).is_some() => format!("{}…", &s[..end]),
        _ => s.to_owned(),
    }
}

/// Quotes (with escapes) only strings that would be ambiguous bare.
pub(super) fn quote_if_needed(s: &str) -> String {
    let plain = |c: char| !c.is_whitespace() && !matches!(c, '"' | '=');
    match !s.is_empty() && s.chars().all(plain) {
        true => s.to_owned(),
        false => format!("{s:?}"),
    }
}

pub(super) fn fmt_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote_if_needed(&truncate(s.as_str())),
        other => truncate(&other.to_string()),
    }
}

pub(super) fn fmt_any(v: &AnyValue) -> String {
    let joined = |open, mut items: Vec<String>, close| {
        if open == "{" {
            items.sort();
        }
        truncate(&format!("{open}{}{close}", items.join(",")))
    };
    match v {
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::String(s) => quote_if_needed(&truncate(s.as_str())),
        AnyValue::Bytes(b) => truncate(&format!("0x{}", hex(b))),
        AnyValue::ListAny(items) => joined("[", items.iter().map(fmt_any).collect(), "]"),
        AnyValue::Map(map) => {
            let entries = map.iter().map(|(k, v)| format!("{k}:{}", fmt_any(v)));
            joined("{", entries.collect(), "}")
        }
        other => truncate(&format!("{other:?}")),
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut acc, b| {
        let _ = write!(acc, "{b:02x}");
        acc
    })
}

/// `HH:MM:SS.mmm` in UTC.
pub(super) fn clock(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    let (h, m, s, ms) = (s / 3600, s / 60 % 60, s % 60, d.subsec_millis());
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

pub(super) fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        1_000_000..60_000_000 => format!("{:.2}s", us as f64 / 1e6),
        _ => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
    }
}

/// A number with at most three decimals and no trailing zeros.
pub(super) fn fmt_float(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The first 8 hex digits of a trace or span id.
pub(super) fn short(id: impl fmt::Display) -> String {
    id.to_string()[..8].to_owned()
}
