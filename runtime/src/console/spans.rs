//! Traces as indented trees, printed once a local root has ended.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry::trace::{Event, SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::format::{BOLD, CYAN, DIM, Paint, RED, clock, fmt_duration, fmt_value, short};
use super::sink::{ConsoleSink, lock};

/// Most spans held while waiting for their local root; later ones are dropped and counted.
const MAX_BUFFERED_SPANS: usize = 10_000;
/// Width of the right-aligned duration column in span trees.
const DURATION_WIDTH: usize = 8;

type SpanKey = (TraceId, SpanId);

fn key(s: &SpanData, id: SpanId) -> SpanKey {
    (s.span_context.trace_id(), id)
}

fn id_of(s: &SpanData) -> SpanKey {
    key(s, s.span_context.span_id())
}

/// Renders every tree in `spans`, one line per span. Roots are spans whose
/// parent is not in `spans` (or is remote); children are sorted by start time.
pub(crate) fn render_spans(spans: &[SpanData], color: bool) -> String {
    let ids: HashSet<SpanKey> = spans.iter().map(id_of).collect();
    let mut tree = Tree {
        p: Paint(color),
        children: HashMap::new(),
        out: String::new(),
    };
    let mut roots = Vec::new();
    for s in spans {
        let parent = key(s, s.parent_span_id);
        match !s.parent_span_is_remote && ids.contains(&parent) {
            true => tree.children.entry(parent).or_default().push(s),
            false => roots.push(s),
        }
    }
    for list in tree.children.values_mut() {
        list.sort_by(|a, b| (a.start_time, &a.name).cmp(&(b.start_time, &b.name)));
    }
    roots.sort_by_key(|s| s.start_time);
    for root in roots {
        tree.node(root, "", "");
    }
    tree.out
}

struct Tree<'a> {
    p: Paint,
    children: HashMap<SpanKey, Vec<&'a SpanData>>,
    out: String,
}

impl Tree<'_> {
    /// Writes `s` after the `branch` glyphs, then its events and children under `cont`.
    fn node(&mut self, s: &SpanData, branch: &str, cont: &str) {
        let (p, root) = (self.p, branch.is_empty());
        let dur = fmt_duration(s.end_time.duration_since(s.start_time).unwrap_or_default());
        let mut line = p.style(DIM, &format!("{dur:>DURATION_WIDTH$}"));
        line.push(' ');
        line.push_str(branch);
        line.push_str(&p.style(if root { BOLD } else { "" }, &s.name));
        let kind = match s.span_kind {
            SpanKind::Client => "client",
            SpanKind::Server => "server",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Internal => "",
        };
        if !kind.is_empty() {
            p.push(&mut line, CYAN, kind);
        }
        if let Status::Error { description } = &s.status {
            let sep = if description.is_empty() { "" } else { ": " };
            p.push(&mut line, RED, &format!("✗ error{sep}{description}"));
        }
        for kv in s.attributes.iter().filter(|kv| !is_noise(kv.key.as_str())) {
            p.attr(&mut line, kv.key.as_str(), &fmt_value(&kv.value));
        }
        if root {
            let mut tag = format!("[trace={}", short(s.span_context.trace_id()));
            if s.parent_span_id != SpanId::INVALID {
                let _ = write!(tag, " parent={}", short(s.parent_span_id));
                if s.parent_span_is_remote {
                    tag.push_str(" (remote)");
                }
            }
            let _ = write!(tag, " {}]", clock(s.start_time));
            p.push(&mut line, DIM, &tag);
        }
        let _ = writeln!(self.out, "{line}");

        let kids = self.children.get(&id_of(s)).cloned().unwrap_or_default();
        let bar = if kids.is_empty() { "   " } else { "│  " };
        // Events from `tracing` (they carry `level`) are already printed as log
        // lines; the tree keeps the others, such as exceptions.
        let from_log = |ev: &&Event| ev.attributes.iter().any(|kv| kv.key.as_str() == "level");
        for ev in s
            .events
            .iter()
            .filter(|ev| ev.name == "exception" || !from_log(ev))
        {
            let pad = " ".repeat(DURATION_WIDTH);
            let _ = writeln!(self.out, "{pad} {cont}{bar}{}", render_event(ev, p));
        }
        for (i, kid) in kids.iter().enumerate() {
            let last = i + 1 == kids.len();
            let (b, c) = [("├─ ", "│  "), ("└─ ", "   ")][usize::from(last)];
            self.node(kid, &format!("{cont}{b}"), &format!("{cont}{c}"));
        }
    }
}

/// Attributes that help a machine (Tempo links code and threads) but only
/// clutter a terminal: they are still exported over OTLP.
fn is_noise(key: &str) -> bool {
    key.starts_with("code.")
        || key.starts_with("thread.")
        || matches!(key, "target" | "level" | "busy_ns" | "idle_ns")
}

/// `• name key=value…`; exceptions as `• exception: Type: message` in red.
fn render_event(ev: &Event, p: Paint) -> String {
    let attr = |k: &&str| ev.attributes.iter().find(|kv| kv.key.as_str() == *k);
    let exception = ev.name == "exception";
    let mut line = match exception {
        true => {
            let parts = ["exception.type", "exception.message"]
                .iter()
                .filter_map(attr);
            let msg: Vec<String> = parts.map(|kv| kv.value.to_string()).collect();
            p.style(RED, &format!("• exception: {}", msg.join(": ")))
        }
        false => format!("• {}", ev.name),
    };
    for kv in ev.attributes.iter().filter(|kv| !is_noise(kv.key.as_str())) {
        if !(exception && kv.key.as_str().starts_with("exception.")) {
            p.attr(&mut line, kv.key.as_str(), &fmt_value(&kv.value));
        }
    }
    line
}

/// Spans waiting for their local root, grouped by trace.
#[derive(Debug, Default)]
struct SpanBuffer {
    traces: HashMap<TraceId, Vec<SpanData>>,
    len: usize,
    dropped: u64,
    /// Spans already printed, so a child that ends after its parent starts its own tree.
    printed: HashSet<SpanKey>,
}

impl SpanBuffer {
    /// Buffers `batch`; returns the complete groups (a local root and its descendants).
    fn accept(&mut self, batch: Vec<SpanData>, cap: usize) -> Vec<Vec<SpanData>> {
        let mut ready = Vec::new();
        for span in batch {
            let trace = span.span_context.trace_id();
            let local_root = span.parent_span_id == SpanId::INVALID
                || span.parent_span_is_remote
                || self.printed.contains(&(trace, span.parent_span_id));
            if local_root {
                let mut group = self.take_descendants(trace, span.span_context.span_id());
                group.push(span);
                if self.printed.len() + group.len() > cap {
                    self.printed.clear();
                }
                self.printed.extend(group.iter().map(id_of));
                ready.push(group);
            } else if self.len >= cap {
                self.dropped += 1;
            } else {
                self.len += 1;
                self.traces.entry(trace).or_default().push(span);
            }
        }
        ready
    }

    fn take_descendants(&mut self, trace: TraceId, root: SpanId) -> Vec<SpanData> {
        let Some(spans) = self.traces.get_mut(&trace) else {
            return Vec::new();
        };
        let mut wanted = HashSet::from([root]);
        let mut group = Vec::new();
        loop {
            let (take, keep): (Vec<_>, Vec<_>) = std::mem::take(spans)
                .into_iter()
                .partition(|s| wanted.contains(&s.parent_span_id));
            *spans = keep;
            if take.is_empty() {
                break;
            }
            wanted.extend(take.iter().map(|s| s.span_context.span_id()));
            group.extend(take);
        }
        if spans.is_empty() {
            self.traces.remove(&trace);
        }
        self.len -= group.len();
        group
    }

    /// Everything still buffered, one group per trace, earliest first.
    fn drain(&mut self) -> Vec<Vec<SpanData>> {
        self.len = 0;
        let mut groups: Vec<Vec<SpanData>> = self.traces.drain().map(|(_, g)| g).collect();
        groups.sort_by_key(|g| g.iter().map(|s| s.start_time).min());
        groups
    }
}

/// Prints each trace as an indented tree once its local root has ended.
#[derive(Debug)]
pub(crate) struct ConsoleSpanExporter {
    sink: ConsoleSink,
    buffer: Mutex<SpanBuffer>,
    pub(super) cap: usize,
}

impl ConsoleSpanExporter {
    /// An exporter writing to `sink`.
    pub(crate) fn new(sink: ConsoleSink) -> Self {
        let buffer = Mutex::default();
        let cap = MAX_BUFFERED_SPANS;
        Self { sink, buffer, cap }
    }

    fn write_groups(&self, groups: &[Vec<SpanData>], dropped: u64) {
        let color = self.sink.color();
        let mut block: String = groups.iter().map(|g| render_spans(g, color)).collect();
        if dropped > 0 {
            let _ = writeln!(block, "semtel: dropped {dropped} spans (buffer full)");
        }
        self.sink.write_block(&block);
    }

    /// Prints buffered spans whose root never arrived, each as its own tree.
    fn flush_orphans(&self) {
        let mut buffer = lock(&self.buffer);
        let (groups, dropped) = (buffer.drain(), std::mem::take(&mut buffer.dropped));
        drop(buffer);
        self.write_groups(&groups, dropped);
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let groups = lock(&self.buffer).accept(batch, self.cap);
        self.write_groups(&groups, 0);
        std::future::ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush_orphans();
        Ok(())
    }
}
