//! Log records, one line each.

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::AnyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};

use super::format::{BLUE, DIM, GREEN, Paint, RED, YELLOW, clock, fmt_any, short};
use super::sink::ConsoleSink;

/// One line: `HH:MM:SS.mmm LEVEL target: body key=value … [trace=8hex span=8hex]`.
pub(crate) fn render_log(rec: &SdkLogRecord, scope: &InstrumentationScope, color: bool) -> String {
    let p = Paint(color);
    let time = rec.timestamp().or(rec.observed_timestamp());
    let mut line = p.style(DIM, &time.map_or_else(|| "--:--:--.---".into(), clock));
    let digit = |c: char| c.is_ascii_digit();
    let level = match (rec.severity_number(), rec.severity_text()) {
        (Some(sev), _) => sev.name().trim_end_matches(digit).to_owned(),
        (None, Some(text)) => text.to_uppercase(),
        (None, None) => "-".to_owned(),
    };
    let code = match level.as_str() {
        "ERROR" | "FATAL" => RED,
        "WARN" => YELLOW,
        "INFO" => GREEN,
        "DEBUG" => BLUE,
        _ => DIM,
    };
    p.push(&mut line, code, &format!("{level:<5}"));
    let target = rec.target().map_or(scope.name(), |t| t.as_ref());
    if !target.is_empty() {
        p.push(&mut line, DIM, &format!("{target}:"));
    }
    let body = match rec.body() {
        Some(AnyValue::String(s)) => s.as_str().replace('\n', "\n    "),
        Some(other) => fmt_any(other),
        None => rec.event_name().unwrap_or_default().to_owned(),
    };
    if !body.is_empty() {
        p.push(&mut line, "", &body);
    }
    for (k, v) in rec.attributes_iter() {
        p.attr(&mut line, k.as_str(), &fmt_any(v));
    }
    if let Some(ctx) = rec.trace_context() {
        let (trace, span) = (short(ctx.trace_id), short(ctx.span_id));
        p.push(&mut line, DIM, &format!("[trace={trace} span={span}]"));
    }
    line.push('\n');
    line
}

/// Prints one line per log record.
#[derive(Debug)]
pub(crate) struct ConsoleLogExporter {
    sink: ConsoleSink,
}

impl ConsoleLogExporter {
    /// An exporter writing to `sink`.
    pub(crate) fn new(sink: ConsoleSink) -> Self {
        Self { sink }
    }
}

impl LogExporter for ConsoleLogExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let color = self.sink.color();
        let block: String = batch.iter().map(|(r, s)| render_log(r, s, color)).collect();
        self.sink.write_block(&block);
        std::future::ready(Ok(()))
    }
}
