//! Export: sustained spans per second end to end to a
//! loopback OTLP receiver over OTLP/HTTP protobuf and OTLP/gRPC, semtel
//! against opentelemetry-otlp in the same run, and the spans lost at default
//! settings by one producer emitting 200,000 spans/s for 5 s.
//! `cargo bench -p semtel-benches --bench export`.
//!
//! A plain `main`, not criterion: criterion times many short repetitions of
//! a closure and reports the distribution of time per iteration. What is
//! measured here is one run of seconds per case whose results are a rate,
//! ending when the receiver decodes the last span (its clock, not the
//! producer's), and counts of spans that arrived or were lost, which no
//! repetition statistics describe.
//!
//! Cases, in this fixed order, each with a new pipeline ([`Pipeline`]) and
//! one receiver ([`Receiver`]) shared by all, the producer on the main thread:
//! * `throughput/<transport>/<exporter>`: warm up (the connection is open,
//!   the warm-up spans have arrived), then emit `--spans` spans as fast as
//!   the producer can, flush, and wait (bounded) until all have arrived.
//!   spans/s = spans arrived / time from the first emit to the receiver
//!   decoding the last one. CPU = the process's CPU clock over the same
//!   interval (every thread: producer, batch worker, exporter runtime,
//!   receiver), per span arrived, split into the producing thread (its own
//!   clock over the emit loop), the receiver's threads, and the rest:
//!   batching, protobuf encoding, the HTTP or gRPC client.
//!   To measure export capacity rather than queue drops, both queues are
//!   made to hold the whole run (`max_queue_size` = spans + warm-up; batch
//!   size 512 and the 5 s delay stay at their defaults): nothing is dropped,
//!   so the end-to-end rate is whichever is slower, producing or exporting,
//!   and the producer's own rate is printed next to it to tell which.
//!   Throttling the producer instead would need a search for each
//!   exporter's capacity and would measure the same thing less directly.
//! * `loss/<transport>/<exporter>`: default settings (queue 2048, batches
//!   of 512, 5 s delay), no warm-up; one producer emits 200 spans at the
//!   start of every millisecond, sleeping until the next (a producer that
//!   falls behind emits what is due at once; the emit time and the worst
//!   backlog say whether it kept up), then the pipeline is shut down and
//!   the arrivals counted. semtel's `ShutdownReport` gives exported /
//!   dropped / failed / unflushed, checked against emitted and arrived; the
//!   SDK's batch processor only logs what it drops, so for it loss =
//!   emitted − arrived.
//!
//! Arguments after `--`: `--quick` (100,000 spans, 1 s of loss run),
//! `--spans N`, and words that a case's name must all contain, e.g.
//! `-- loss grpc`. Without `--bench` (`cargo test --benches`) every case runs
//! with a few spans only.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use cpu_time::{ProcessTime, ThreadTime};
use semtel::SignalReport;
use semtel_benches::export::{Exporter, Pipeline, Queue, Transport};
use semtel_tests::{Counts, Receiver};

/// Spans per throughput run.
const SPANS: u64 = 500_000;
/// The loss run's rate: spans per millisecond (200,000 spans/s).
const PER_MS: u64 = 200;
/// The loss run's length.
const LOSS_MS: u64 = 5_000;
/// The longest wait for spans still on their way (a slow exporter's backlog).
const ARRIVAL_WAIT: Duration = Duration::from_secs(120);
/// After shutdown every export has been answered, and the receiver counts a
/// request before answering it; this wait only bounds that being wrong.
const AFTER_SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
struct Sizes {
    spans: u64,
    warm_up: u64,
    loss_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Throughput,
    Loss,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    transport: Transport,
    exporter: Exporter,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut all = Vec::new();
        for kind in [Kind::Throughput, Kind::Loss] {
            for transport in Transport::ALL {
                for exporter in Exporter::ALL {
                    all.push(Case {
                        kind,
                        transport,
                        exporter,
                    });
                }
            }
        }
        all
    }

    fn name(self) -> String {
        let kind = match self.kind {
            Kind::Throughput => "throughput",
            Kind::Loss => "loss",
        };
        let transport = match self.transport {
            Transport::HttpProtobuf => "http-protobuf",
            Transport::Grpc => "grpc",
        };
        format!("{kind}/{transport}/{}", self.exporter.name())
    }
}

#[derive(Debug)]
struct Throughput {
    case: Case,
    sent: u64,
    emit: Duration,
    wall: Duration,
    cpu: Duration,
    /// CPU of the producing thread over the emit loop alone.
    producer_cpu: Duration,
    received: Counts,
    report: Option<SignalReport>,
}

impl Throughput {
    fn rate(&self) -> f64 {
        self.received.spans as f64 / self.wall.as_secs_f64()
    }

    fn cpu_us_per_span(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.received.spans as f64
    }

    fn receiver_us_per_span(&self) -> f64 {
        self.received.cpu_ns as f64 / 1e3 / self.received.spans as f64
    }

    fn producer_us_per_span(&self) -> f64 {
        self.producer_cpu.as_secs_f64() * 1e6 / self.sent as f64
    }

    /// Everything but the producer and the receiver: batching, encoding,
    /// the client and its runtime.
    fn export_us_per_span(&self) -> f64 {
        self.cpu_us_per_span() - self.producer_us_per_span() - self.receiver_us_per_span()
    }
}

#[derive(Debug)]
struct Loss {
    case: Case,
    emitted: u64,
    emit: Duration,
    worst_backlog: u64,
    received: Counts,
    report: Option<SignalReport>,
}

fn throughput(receiver: &Receiver, case: Case, sizes: Sizes) -> Result<Throughput, String> {
    let holds = usize::try_from(sizes.spans + sizes.warm_up).map_err(|e| e.to_string())?;
    let pipeline = Pipeline::start(case.exporter, case.transport, Queue::Holds(holds), receiver)?;

    let warm = receiver.counts().spans + sizes.warm_up;
    for i in 0..sizes.warm_up {
        black_box(pipeline.emit(i));
    }
    pipeline.flush();
    if receiver.wait_for_spans(warm, Instant::now() + ARRIVAL_WAIT) < warm {
        return Err("the warm-up spans did not all arrive".into());
    }

    let before = receiver.counts();
    let cpu = ProcessTime::now();
    let start = Instant::now();
    let producer_cpu = ThreadTime::now();
    for i in 0..sizes.spans {
        black_box(pipeline.emit(i));
    }
    let producer_cpu = producer_cpu.elapsed();
    let emit = start.elapsed();
    pipeline.flush();
    receiver.wait_for_spans(before.spans + sizes.spans, Instant::now() + ARRIVAL_WAIT);
    let cpu = cpu.elapsed();
    let received = receiver.counts().since(before);
    let wall = receiver
        .last_arrival()
        .map_or(Duration::ZERO, |last| last.saturating_duration_since(start));
    let report = pipeline.finish();
    Ok(Throughput {
        case,
        sent: sizes.spans,
        emit,
        wall,
        cpu,
        producer_cpu,
        received,
        report,
    })
}

fn loss(receiver: &Receiver, case: Case, sizes: Sizes) -> Result<Loss, String> {
    let pipeline = Pipeline::start(case.exporter, case.transport, Queue::Default, receiver)?;
    let before = receiver.counts();
    let emitted = PER_MS * sizes.loss_ms;
    let (emit, worst_backlog) = paced(&pipeline, emitted, PER_MS);
    let report = pipeline.finish();
    let expected = report.as_ref().map_or(emitted, |r| r.exported);
    receiver.wait_for_spans(
        before.spans + expected,
        Instant::now() + AFTER_SHUTDOWN_WAIT,
    );
    Ok(Loss {
        case,
        emitted,
        emit,
        worst_backlog,
        received: receiver.counts().since(before),
        report,
    })
}

/// Emits `total` spans, `per_ms` at the start of every millisecond, sleeping
/// in between. Returns the time it took and the largest number of spans that
/// were due at once (`per_ms` when the producer keeps up).
fn paced(pipeline: &Pipeline, total: u64, per_ms: u64) -> (Duration, u64) {
    let start = Instant::now();
    let mut emitted = 0u64;
    let mut worst_backlog = 0u64;
    while emitted < total {
        let now = start.elapsed();
        let ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        let due = ms.saturating_add(1).saturating_mul(per_ms).min(total);
        if emitted < due {
            worst_backlog = worst_backlog.max(due - emitted);
            for i in emitted..due {
                black_box(pipeline.emit(i));
            }
            emitted = due;
        } else {
            thread::sleep(Duration::from_millis(ms + 1).saturating_sub(now));
        }
    }
    (start.elapsed(), worst_backlog)
}

fn main() {
    let mut benching = false;
    let mut quick = false;
    let mut spans = None;
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => benching = true,
            "--quick" => quick = true,
            "--spans" => spans = args.next().and_then(|n| n.parse::<u64>().ok()),
            a if !a.starts_with('-') => words.push(arg),
            _ => {}
        }
    }
    let mut sizes = match (benching, quick) {
        (true, false) => Sizes {
            spans: SPANS,
            warm_up: 5_000,
            loss_ms: LOSS_MS,
        },
        (true, true) => Sizes {
            spans: 100_000,
            warm_up: 2_000,
            loss_ms: 1_000,
        },
        (false, _) => Sizes {
            spans: 2_000,
            warm_up: 100,
            loss_ms: 10,
        },
    };
    if let Some(n) = spans {
        sizes.spans = n;
    }
    let otel_vars: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("OTEL_"))
        .collect();
    if !otel_vars.is_empty() {
        eprintln!(
            "warning: opentelemetry-otlp and the SDK read {otel_vars:?} from the environment \
             (semtel's sessions here ignore it); unset them to compare defaults"
        );
    }

    let receiver = Receiver::counting().expect("the loopback receiver starts");
    let cases: Vec<Case> = Case::all()
        .into_iter()
        .filter(|c| words.iter().all(|w| c.name().contains(w.as_str())))
        .collect();
    let mut throughputs = Vec::new();
    let mut losses = Vec::new();
    for case in cases {
        eprintln!("running {}", case.name());
        let result = match case.kind {
            Kind::Throughput => throughput(&receiver, case, sizes).map(|t| throughputs.push(t)),
            Kind::Loss => loss(&receiver, case, sizes).map(|l| losses.push(l)),
        };
        if let Err(e) = result {
            eprintln!("{}: {e}", case.name());
        }
    }
    let rejected = receiver.counts().rejected;
    if rejected > 0 {
        eprintln!("warning: the receiver rejected {rejected} requests");
    }
    if !throughputs.is_empty() {
        print_throughput(&throughputs, sizes);
    }
    if !losses.is_empty() {
        print_loss(&losses, sizes);
    }
}

fn print_throughput(rows: &[Throughput], sizes: Sizes) {
    println!(
        "\nSustained throughput: {} spans per case after {} warm-up spans, queues holding the \
         whole run, batches of 512\n",
        sizes.spans, sizes.warm_up
    );
    println!(
        "| transport | exporter | spans arrived / sent | producer spans/s | first emit → last arrival s | spans/s end to end | CPU µs/span (all threads) | producer thread | export (the rest) | receiver | bytes/span at receiver | attributes/span |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} / {} | {:.0} | {:.3} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} |",
            r.case.transport.name(),
            r.case.exporter.name(),
            r.received.spans,
            r.sent,
            r.sent as f64 / r.emit.as_secs_f64(),
            r.wall.as_secs_f64(),
            r.rate(),
            r.cpu_us_per_span(),
            r.producer_us_per_span(),
            r.export_us_per_span(),
            r.receiver_us_per_span(),
            r.received.bytes as f64 / r.received.spans as f64,
            r.received.attributes as f64 / r.received.spans as f64,
        );
    }
    for r in rows {
        if let Some(report) = &r.report
            && report.lost() > 0
        {
            println!("\n{}: {report}", r.case.name());
        }
    }
    let pairs: Vec<(&Throughput, &Throughput)> = Transport::ALL
        .iter()
        .filter_map(|&t| {
            let find = |e| {
                rows.iter()
                    .find(|r| r.case.transport == t && r.case.exporter == e)
            };
            Some((find(Exporter::Semtel)?, find(Exporter::OtelOtlp)?))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    println!(
        "\n| transport | semtel spans/s | opentelemetry-otlp spans/s | semtel / otlp (target ≥ 2) | CPU per span, receiver excluded, semtel / otlp | of which producer | of which export |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (s, o) in pairs {
        let own = |r: &Throughput| r.cpu_us_per_span() - r.receiver_us_per_span();
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.case.transport.name(),
            s.rate(),
            o.rate(),
            s.rate() / o.rate(),
            own(s) / own(o),
            s.producer_us_per_span() / o.producer_us_per_span(),
            s.export_us_per_span() / o.export_us_per_span(),
        );
    }
}

fn print_loss(rows: &[Loss], sizes: Sizes) {
    println!(
        "\nLoss at default settings: {PER_MS} spans every millisecond for {} ms ({} spans/s), \
         queue 2048, batches of 512, 5 s delay\n",
        sizes.loss_ms,
        PER_MS * 1000
    );
    println!(
        "| transport | exporter | emitted | emit s (schedule {:.2}) | worst backlog, spans | arrived | lost (emitted − arrived) | semtel report: exported / dropped / failed / unflushed | arrived + reported lost = emitted |",
        Duration::from_millis(sizes.loss_ms).as_secs_f64()
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|---|");
    for r in rows {
        let arrived = r.received.spans;
        let (report, check) = match &r.report {
            Some(s) => (
                format!(
                    "{} / {} / {} / {}",
                    s.exported, s.dropped, s.failed, s.unflushed
                ),
                if arrived + s.lost() == r.emitted && s.exported == arrived {
                    "yes".to_owned()
                } else {
                    format!("no: {} + {} ≠ {}", arrived, s.lost(), r.emitted)
                },
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {} | {report} | {check} |",
            r.case.transport.name(),
            r.case.exporter.name(),
            r.emitted,
            r.emit.as_secs_f64(),
            r.worst_backlog,
            arrived,
            r.emitted.saturating_sub(arrived),
        );
    }
    for r in rows {
        if let Some(report) = &r.report
            && report.lost() > 0
        {
            println!("\n{}: {report}", r.case.name());
        }
    }
}
