//! OTLP trace requests encoded straight from semtel's span records and the
//! SDK's `SpanData`, off the calling thread.
//!
//! The message layout is opentelemetry-proto's (`ExportTraceServiceRequest`,
//! field numbers from `opentelemetry/proto/trace/v1/trace.proto`), written
//! with prost's wire-format primitives. A stage's name, kind and constant
//! attributes are encoded once per call site and copied per span, its ids
//! and times are written with constant keys, and nothing is allocated per
//! span, which is what makes this path several times cheaper than
//! converting to the generated prost structs first. The end-to-end tests
//! decode every request with opentelemetry-proto's own types.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use crate::config::SpanLimits;
use crate::record::{Item, SpanRecord, clock, unique_attributes};
use limits::Limited;
#[cfg(test)]
use limits::cut;

/// `Span.flags`: the W3C trace flags in bits 0–7, and whether the parent is
/// remote (bit 9), with bit 8 saying that bit 9 is known.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// Encodes requests for one resource.
#[derive(Debug)]
pub(crate) struct Encoder {
    /// `ResourceSpans.resource` (field 1), whole.
    resource: Vec<u8>,
    /// `ResourceSpans.schema_url` (field 3), whole; empty when none.
    resource_schema: Vec<u8>,
    /// The scope of stage spans.
    stage_scope: InstrumentationScope,
    limits: SpanLimits,
}

impl Encoder {
    pub(crate) fn new(resource: &Resource, stage_scope: InstrumentationScope) -> Self {
        let mut body = Vec::new();
        for (k, v) in resource.iter() {
            key_value(&mut body, 1, k.as_str(), v);
        }
        let mut encoded = Vec::new();
        bytes_field(&mut encoded, 1, &body);
        Self {
            resource: encoded,
            resource_schema: schema_url_field(resource.schema_url()),
            stage_scope,
            limits: SpanLimits::DEFAULT,
        }
    }

    /// The same encoder, applying `limits` to every span.
    pub(crate) fn with_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// One `ExportTraceServiceRequest` holding `items`.
    #[cfg(test)]
    pub(crate) fn request(&self, items: &[Item]) -> Vec<u8> {
        let mut request = Vec::new();
        let _ = self.request_into(items, &mut request);
        request
    }

    /// One `ExportTraceServiceRequest` holding `items`, written into
    /// `request` (cleared first; a buffer from a pool keeps its capacity).
    /// Returns the attributes, events and links the span limits dropped
    /// and the values they shortened (the SDK's own drops included).
    pub(crate) fn request_into(&self, items: &[Item], request: &mut Vec<u8>) -> u64 {
        let mut limited = Limited {
            limits: &self.limits,
            count: 0,
        };
        // Group by scope, in order of first appearance (usually one or two).
        let mut groups: Vec<(&InstrumentationScope, Vec<&Item>)> = Vec::new();
        for item in items {
            let scope = match item {
                Item::Stage(_) => &self.stage_scope,
                Item::Sdk(s) => &s.instrumentation_scope,
            };
            match groups
                .iter_mut()
                .find(|(s, _)| std::ptr::eq(*s, scope) || *s == scope)
            {
                Some((_, list)) => list.push(item),
                None => groups.push((scope, vec![item])),
            }
        }
        // Each group's `ScopeSpans` body: its length computed up front when
        // every span's is (plain stage spans), so it is written straight into
        // the request; else encoded first and copied in.
        let wall = clock::UnixNanos::current();
        let bodies: Vec<(ScopeHead, Vec<&Item>, Body)> = groups
            .into_iter()
            .map(|(scope, list)| {
                let head = ScopeHead::new(scope);
                let body = match head.body_len_if_plain(&list) {
                    Some(len) => Body::Known(len),
                    None => {
                        let mut body = Vec::with_capacity(list.len() * 256 + 64);
                        head.write(&mut body, &list, &wall, &mut limited);
                        Body::Encoded(body)
                    }
                };
                (head, list, body)
            })
            .collect();
        let resource_spans_len = self.resource.len()
            + bodies
                .iter()
                .map(|(_, _, b)| field_len(2, b.len()))
                .sum::<usize>()
            + self.resource_schema.len();
        request.clear();
        request.reserve(field_len(1, resource_spans_len));
        let request = &mut *request;
        encode_key(1, WireType::LengthDelimited, request);
        encode_varint(resource_spans_len as u64, request);
        request.extend_from_slice(&self.resource);
        for (head, list, body) in &bodies {
            match body {
                Body::Known(len) => {
                    encode_key(2, WireType::LengthDelimited, request);
                    encode_varint(*len as u64, request);
                    let start = request.len();
                    head.write(request, list, &wall, &mut limited);
                    debug_assert_eq!(request.len() - start, *len, "body_len_if_plain");
                }
                Body::Encoded(body) => bytes_field(request, 2, body),
            }
        }
        request.extend_from_slice(&self.resource_schema);
        limited.count
    }
}

/// A `ScopeSpans` body: its length, or the body itself.
enum Body {
    Known(usize),
    Encoded(Vec<u8>),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Known(len) => *len,
            Body::Encoded(body) => body.len(),
        }
    }
}

/// What a `ScopeSpans` body holds besides its spans: the scope (field 1)
/// and its schema URL (field 3), encoded.
struct ScopeHead {
    scope: Vec<u8>,
    schema_url: Vec<u8>,
}

impl ScopeHead {
    fn new(scope: &InstrumentationScope) -> Self {
        let mut s = Vec::new();
        bytes_field(&mut s, 1, scope.name().as_bytes());
        if let Some(v) = scope.version() {
            bytes_field(&mut s, 2, v.as_bytes());
        }
        for kv in scope.attributes() {
            key_value(&mut s, 3, kv.key.as_str(), &kv.value);
        }
        let mut encoded = Vec::with_capacity(s.len() + 4);
        bytes_field(&mut encoded, 1, &s);
        Self {
            scope: encoded,
            schema_url: schema_url_field(scope.schema_url()),
        }
    }

    /// The body's length when every span in it is a plain stage span.
    fn body_len_if_plain(&self, list: &[&Item]) -> Option<usize> {
        let mut len = self.scope.len() + self.schema_url.len();
        for item in list {
            match item {
                Item::Stage(r) if r.extra.is_none() => len += field_len(2, plain_stage_span_len(r)),
                _ => return None,
            }
        }
        Some(len)
    }

    /// Writes the body: the scope, each span as field 2, the schema URL.
    fn write(
        &self,
        buf: &mut Vec<u8>,
        list: &[&Item],
        wall: &clock::UnixNanos,
        limited: &mut Limited<'_>,
    ) {
        buf.extend_from_slice(&self.scope);
        let mut span = Vec::new();
        for item in list {
            if let Item::Stage(r) = item
                && r.extra.is_none()
            {
                // Its length known up front, written in place.
                let len = plain_stage_span_len(r);
                encode_key(2, WireType::LengthDelimited, buf);
                encode_varint(len as u64, buf);
                let start = buf.len();
                stage_span(buf, r, wall, limited);
                debug_assert_eq!(buf.len() - start, len, "plain_stage_span_len");
                continue;
            }
            span.clear();
            match item {
                Item::Stage(r) => stage_span(&mut span, r, wall, limited),
                Item::Sdk(d) => sdk_span(&mut span, d, limited),
            }
            bytes_field(buf, 2, &span);
        }
        buf.extend_from_slice(&self.schema_url);
    }
}

/// A schema URL as field 3 (of `ResourceSpans` and `ScopeSpans` alike);
/// empty when there is none.
fn schema_url_field(url: Option<&str>) -> Vec<u8> {
    let mut field = Vec::new();
    if let Some(url) = url.filter(|u| !u.is_empty()) {
        bytes_field(&mut field, 3, url.as_bytes());
    }
    field
}

/// What every span of a stage's call site has, encoded once for the site:
/// its name (`Span.name`), kind and constant attributes.
pub(crate) fn site_span_fields(
    name: &str,
    kind: Option<&SpanKind>,
    attributes: &[KeyValue],
) -> Box<[u8]> {
    let mut buf = Vec::new();
    bytes_field(&mut buf, 5, name.as_bytes());
    varint_field(&mut buf, 6, span_kind(kind));
    for kv in attributes {
        key_value(&mut buf, 9, kv.key.as_str(), &kv.value);
    }
    buf.into_boxed_slice()
}

/// `Span.flags` (field 16, fixed32) as written: a two-byte key and four.
const FLAGS_LEN: usize = 2 + 4;

/// The encoded length of a stage span without [`Extra`](crate::record::Extra), as
/// [`stage_span`] writes it.
fn plain_stage_span_len(r: &SpanRecord) -> usize {
    SpanHead::len(r) + r.site.encoded_span_fields(site_span_fields).len() + FLAGS_LEN
}

/// The fields of a stage span that differ from call to call: its ids and
/// times, written with constant keys (fields may come in any order on the
/// wire). Each is one small store into the request (for plain spans, whose
/// length is known, its room is reserved up front), not gathered on the
/// stack and copied in at once: that copy's wide loads would stall on the
/// narrow stores before them.
struct SpanHead;

/// A field's one-byte key (fields 1 to 15).
const fn key(field: u8, wire_type: WireType) -> u8 {
    (field << 3) | wire_type as u8
}

impl SpanHead {
    const TRACE_ID: usize = 2 + 16;
    const SPAN_ID: usize = 2 + 8;
    const TIMES: usize = 2 * (1 + 8);

    fn len(r: &SpanRecord) -> usize {
        let parent = if r.parent_id != 0 { Self::SPAN_ID } else { 0 };
        Self::TRACE_ID + Self::SPAN_ID + parent + Self::TIMES
    }

    #[inline]
    fn write(buf: &mut Vec<u8>, r: &SpanRecord, wall: &clock::UnixNanos) {
        const BYTES: WireType = WireType::LengthDelimited;
        const FIXED64: WireType = WireType::SixtyFourBit;
        buf.extend_from_slice(&[key(1, BYTES), 16]);
        buf.extend_from_slice(&r.trace_id.to_be_bytes());
        buf.extend_from_slice(&[key(2, BYTES), 8]);
        buf.extend_from_slice(&r.span_id.to_be_bytes());
        if r.parent_id != 0 {
            buf.extend_from_slice(&[key(4, BYTES), 8]);
            buf.extend_from_slice(&r.parent_id.to_be_bytes());
        }
        buf.push(key(7, FIXED64));
        buf.extend_from_slice(&wall.at(r.start).to_le_bytes());
        buf.push(key(8, FIXED64));
        buf.extend_from_slice(&wall.at(r.end()).to_le_bytes());
    }
}

/// A stage span. Its call site's attributes (semtel's `pipeline.*` and
/// literal fields, a few) are always kept and count first against the
/// attribute limit.
fn stage_span(
    buf: &mut Vec<u8>,
    r: &SpanRecord,
    wall: &clock::UnixNanos,
    limited: &mut Limited<'_>,
) {
    let extra = r.extra.as_deref();
    SpanHead::write(buf, r, wall);
    // A key set twice (a constant field, then `record(..)`) is written once,
    // so the site's encoded fields cannot be copied as they are.
    let repeats = extra.is_some_and(|e| e.repeats_a_key(r.site.span_attributes()));
    if !repeats {
        buf.extend_from_slice(r.site.encoded_span_fields(site_span_fields));
    }
    if let Some(e) = extra {
        let limits = *limited.limits;
        if let Some(ts) = e.trace_state.as_ref() {
            let header = ts.header();
            if !header.is_empty() {
                bytes_field(buf, 3, header.as_bytes());
            }
        }
        let site = r.site.span_attributes();
        let room = limits.attribute_count.saturating_sub(site.len());
        let dropped = if repeats {
            // The site's keys first (always kept), with the call's values.
            let merged = unique_attributes(site, &e.attributes);
            let kind = r.site.span_kind();
            let (own, call) = merged.split_at(site.len());
            buf.extend_from_slice(&site_span_fields(r.site.stage(), kind.as_ref(), own));
            limited_attributes(limited, buf, 9, call, room)
        } else {
            limited_attributes(limited, buf, 9, &e.attributes, room)
        };
        varint_field(buf, 10, dropped);
        for ev in e.events.iter().take(limits.event_count) {
            event(buf, ev, limited);
        }
        varint_field(buf, 12, limited.over(e.events.len(), limits.event_count));
        for l in e.links.iter().take(limits.link_count) {
            link(buf, l, limited);
        }
        varint_field(buf, 14, limited.over(e.links.len(), limits.link_count));
        status(buf, &e.status);
    }
    let remote = extra.is_some_and(|e| e.parent_remote);
    fixed32_field(buf, 16, span_flags(true, remote));
}

/// A span the SDK built: the SDK applied the count limits it was given
/// (its drops are counted here too); value lengths are cut here.
fn sdk_span(buf: &mut Vec<u8>, d: &SpanData, limited: &mut Limited<'_>) {
    let limits = *limited.limits;
    let sc = &d.span_context;
    bytes_field(buf, 1, &sc.trace_id().to_bytes());
    bytes_field(buf, 2, &sc.span_id().to_bytes());
    let header = sc.trace_state().header();
    if !header.is_empty() {
        bytes_field(buf, 3, header.as_bytes());
    }
    if d.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes_field(buf, 4, &d.parent_span_id.to_bytes());
    }
    bytes_field(buf, 5, d.name.as_bytes());
    varint_field(buf, 6, span_kind(Some(&d.span_kind)));
    fixed64_field(buf, 7, system_nanos(d.start_time));
    fixed64_field(buf, 8, system_nanos(d.end_time));
    let sdk_dropped = u64::from(d.dropped_attributes_count)
        + u64::from(d.events.dropped_count)
        + u64::from(d.links.dropped_count);
    limited.count += sdk_dropped;
    let dropped = limited_attributes(limited, buf, 9, &d.attributes, limits.attribute_count);
    varint_field(buf, 10, u64::from(d.dropped_attributes_count) + dropped);
    for ev in d.events.iter().take(limits.event_count) {
        limited.count += u64::from(ev.dropped_attributes_count);
        event(buf, ev, limited);
    }
    let dropped = limited.over(d.events.len(), limits.event_count);
    varint_field(buf, 12, u64::from(d.events.dropped_count) + dropped);
    for l in d.links.iter().take(limits.link_count) {
        limited.count += u64::from(l.dropped_attributes_count);
        link(buf, l, limited);
    }
    let dropped = limited.over(d.links.len(), limits.link_count);
    varint_field(buf, 14, u64::from(d.links.dropped_count) + dropped);
    status(buf, &d.status);
    fixed32_field(
        buf,
        16,
        span_flags(sc.trace_flags().is_sampled(), d.parent_span_is_remote),
    );
}

/// Writes `attributes` as field `field`, at most `max` of them, their
/// values cut to the length limit; returns how many were left out (and
/// counts them).
fn limited_attributes(
    limited: &mut Limited<'_>,
    buf: &mut Vec<u8>,
    field: u32,
    attributes: &[KeyValue],
    max: usize,
) -> u64 {
    for kv in attributes.iter().take(max) {
        let value = limited.value(&kv.value);
        key_value(buf, field, kv.key.as_str(), &value);
    }
    limited.over(attributes.len(), max)
}

fn span_flags(sampled: bool, parent_remote: bool) -> u32 {
    u32::from(sampled) | HAS_IS_REMOTE | if parent_remote { IS_REMOTE } else { 0 }
}

fn span_kind(kind: Option<&SpanKind>) -> u64 {
    match kind {
        None | Some(SpanKind::Internal) => 1,
        Some(SpanKind::Server) => 2,
        Some(SpanKind::Client) => 3,
        Some(SpanKind::Producer) => 4,
        Some(SpanKind::Consumer) => 5,
    }
}

/// A span event, at most the event attribute limit of its attributes; what
/// it had dropped before (the SDK's limit) adds to what is dropped here.
fn event(buf: &mut Vec<u8>, ev: &opentelemetry::trace::Event, limited: &mut Limited<'_>) {
    let max = limited.limits.event_attribute_count;
    let mut e = Vec::new();
    fixed64_field(&mut e, 1, system_nanos(ev.timestamp));
    bytes_field(&mut e, 2, ev.name.as_bytes());
    let dropped = limited_attributes(limited, &mut e, 3, &ev.attributes, max);
    varint_field(&mut e, 4, u64::from(ev.dropped_attributes_count) + dropped);
    bytes_field(buf, 11, &e);
}

/// A span link, at most the link attribute limit of its attributes, as
/// [`event`].
fn link(buf: &mut Vec<u8>, l: &opentelemetry::trace::Link, limited: &mut Limited<'_>) {
    let max = limited.limits.link_attribute_count;
    let sc = &l.span_context;
    let mut m = Vec::new();
    bytes_field(&mut m, 1, &sc.trace_id().to_bytes());
    bytes_field(&mut m, 2, &sc.span_id().to_bytes());
    let header = sc.trace_state().header();
    if !header.is_empty() {
        bytes_field(&mut m, 3, header.as_bytes());
    }
    let dropped = limited_attributes(limited, &mut m, 4, &l.attributes, max);
    varint_field(&mut m, 5, u64::from(l.dropped_attributes_count) + dropped);
    fixed32_field(
        &mut m,
        6,
        span_flags(sc.trace_flags().is_sampled(), sc.is_remote()),
    );
    bytes_field(buf, 13, &m);
}

fn status(buf: &mut Vec<u8>, status: &Status) {
    let (message, code) = match status {
        Status::Unset => return,
        Status::Ok => ("", 1),
        Status::Error { description } => (description.as_ref(), 2),
    };
    let mut m = Vec::new();
    if !message.is_empty() {
        bytes_field(&mut m, 2, message.as_bytes());
    }
    varint_field(&mut m, 3, code);
    bytes_field(buf, 15, &m);
}

fn system_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A `KeyValue` message as field `field`.
fn key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &Value) {
    let key_len = str_len(1, key);
    let value_len = any_value_len(value);
    encode_key(field, WireType::LengthDelimited, buf);
    encode_varint(
        (key_len + 1 + encoded_len_varint(value_len as u64) + value_len) as u64,
        buf,
    );
    bytes_field(buf, 1, key.as_bytes());
    encode_key(2, WireType::LengthDelimited, buf);
    encode_varint(value_len as u64, buf);
    any_value(buf, value);
}

/// The encoded length of a length-delimited field holding `len` bytes.
fn field_len(field: u32, len: usize) -> usize {
    prost::encoding::key_len(field) + encoded_len_varint(len as u64) + len
}

/// The encoded length of a length-delimited field of `s`'s bytes.
fn str_len(field: u32, s: &str) -> usize {
    prost::encoding::key_len(field) + encoded_len_varint(s.len() as u64) + s.len()
}

/// The body length of an `AnyValue`.
fn any_value_len(v: &Value) -> usize {
    match v {
        Value::String(s) => str_len(1, s.as_str()),
        Value::Bool(_) => 2,
        Value::I64(i) => 1 + encoded_len_varint(*i as u64),
        Value::F64(_) => 9,
        Value::Array(a) => {
            let body = array_len(a);
            1 + encoded_len_varint(body as u64) + body
        }
        other => str_len(1, &other.to_string()),
    }
}

/// The body length of an `ArrayValue` holding `a`.
fn array_len(a: &Array) -> usize {
    let each = |len: usize| 1 + encoded_len_varint(len as u64) + len;
    match a {
        Array::Bool(v) => v
            .iter()
            .map(|b| each(any_value_len(&Value::Bool(*b))))
            .sum(),
        Array::I64(v) => v.iter().map(|i| each(any_value_len(&Value::I64(*i)))).sum(),
        Array::F64(v) => v.len() * each(9),
        Array::String(v) => v.iter().map(|s| each(str_len(1, s.as_str()))).sum(),
        _ => 0,
    }
}

fn any_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::String(s) => bytes_field(buf, 1, s.as_str().as_bytes()),
        Value::Bool(b) => varint_field_always(buf, 2, u64::from(*b)),
        Value::I64(i) => varint_field_always(buf, 3, *i as u64),
        Value::F64(d) => {
            encode_key(4, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&d.to_le_bytes());
        }
        Value::Array(a) => {
            encode_key(5, WireType::LengthDelimited, buf);
            encode_varint(array_len(a) as u64, buf);
            let mut item = |value: &Value| {
                encode_key(1, WireType::LengthDelimited, buf);
                encode_varint(any_value_len(value) as u64, buf);
                any_value(buf, value);
            };
            match a {
                Array::Bool(v) => v.iter().for_each(|b| item(&Value::Bool(*b))),
                Array::I64(v) => v.iter().for_each(|i| item(&Value::I64(*i))),
                Array::F64(v) => v.iter().for_each(|d| item(&Value::F64(*d))),
                Array::String(v) => v.iter().for_each(|s| item(&Value::String(s.clone()))),
                _ => {}
            }
        }
        other => bytes_field(buf, 1, other.to_string().as_bytes()),
    }
}

fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    encode_key(field, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// A varint field, left out when zero (proto3's default).
fn varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        varint_field_always(buf, field, v);
    }
}

/// A varint field inside a `oneof`, where zero must be written.
fn varint_field_always(buf: &mut Vec<u8>, field: u32, v: u64) {
    encode_key(field, WireType::Varint, buf);
    encode_varint(v, buf);
}

fn fixed64_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    encode_key(field, WireType::SixtyFourBit, buf);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn fixed32_field(buf: &mut Vec<u8>, field: u32, v: u32) {
    encode_key(field, WireType::ThirtyTwoBit, buf);
    buf.extend_from_slice(&v.to_le_bytes());
}

mod limits;
#[cfg(test)]
mod tests;
