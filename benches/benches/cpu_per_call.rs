//! CPU time per call including background threads (exporters, batch
//! processors, collectors), next to wall time on the calling thread, for
//! every case; then the table with ratios against semtel enabled. The
//! in-process OTLP receiver's CPU is measured apart and left out of the
//! ratios: a real collector runs elsewhere.
//! `cargo bench -p semtel-benches --bench cpu_per_call`.
//!
//! Per case: warm up, flush, then read the process CPU clock
//! (`CLOCK_PROCESS_CPUTIME_ID`: all threads, including ones that exited),
//! make [`CALLS`] calls, flush and shut the case's pipeline down so its
//! export work is counted, and read the clock again. Without `--bench`
//! (`cargo test --benches`) it makes a few calls per case only.
//!
//! Calls are paced by default: chunks of [`CHUNK`] calls, the case's spans
//! exported after each chunk (outside the wall time, inside the CPU time), so
//! no case runs above its exporter's capacity and drops. `--unpaced` makes
//! all calls in one loop instead, which shows each case overloaded.
//! `--steady` paces without flushing: chunks of [`STEADY_CHUNK`] calls, the
//! calling thread busy for [`STEADY_GAP`] after each (`--gap MICROS` to
//! change it), so each case's background threads drain and export while the
//! calls run, as in a pipeline that is busy all the time; the busy gaps'
//! CPU is taken off the all-threads CPU.
//!
//! Paced and steady runs also give the wall time per call of the median
//! chunk and of the 90th percentile chunk. In steady runs the two differ
//! when some chunks run while a background thread drains and others do
//! not; the mean (the wall column) includes both.
//!
//! `--deciles` also prints, before the table, each case's chunk wall time
//! per call at the 10th, 20th, ... 90th and 99th percentiles: in steady runs
//! semtel's chunks split into a fast group and a slow one.
//!
//! Arguments after `--`: `--calls N` to change [`CALLS`] (e.g. for a run under
//! `valgrind --tool=callgrind`), `--unpaced`, `--steady`, `--gap MICROS`,
//! `--deciles`, and a word to run only the cases whose name contains it.
//!
//! A case that needs a process of its own ([`Case::own_process`]) is measured
//! by running this program again for it alone (`--child NAME`), which prints
//! its row in a form the parent reads back.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use semtel_benches::{Case, Outcome, receiver_totals};

/// Measured calls per case.
const CALLS: u64 = 2_000_000;
/// Calls before measuring.
const WARM_UP: u64 = 200_000;
/// Calls between two exports when paced: half of a span queue (2048).
const CHUNK: u64 = 1024;
/// Calls between two gaps when steady: a quarter of a span queue, so the
/// half-full wake-up of a collector (semtel's) or batch processor (the SDK's)
/// leaves it the gap to drain before the queue fills.
const STEADY_CHUNK: u64 = 512;
/// The busy gap after each steady chunk: far longer than any case's
/// background threads take for a chunk's spans (tracing-opentelemetry's
/// ~400 ns a span is the most), so every case runs below its exporter's
/// capacity (at 500 µs semtel loses a few thousand spans of 2,200,000 on a
/// 2-core VM).
const STEADY_GAP: Duration = Duration::from_millis(2);

/// How the measured calls are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pacing {
    /// Chunks, the spans exported after each.
    Flushed,
    /// Chunks with the calling thread busy for the gap after each.
    Steady(Duration),
    /// One loop.
    Unpaced,
}

impl Pacing {
    fn args(self) -> Vec<String> {
        match self {
            Pacing::Flushed => vec![],
            Pacing::Steady(gap) => vec![
                "--steady".into(),
                "--gap".into(),
                gap.as_micros().to_string(),
            ],
            Pacing::Unpaced => vec!["--unpaced".into()],
        }
    }

    fn describe(self) -> String {
        match self {
            Pacing::Flushed => format!("paced: spans exported after every {CHUNK} calls"),
            Pacing::Steady(gap) => format!(
                "steady: {STEADY_CHUNK} calls, then the calling thread busy for {} µs, nothing \
                 flushed (the gaps' CPU taken off)",
                gap.as_micros()
            ),
            Pacing::Unpaced => "unpaced: one loop".to_owned(),
        }
    }
}

#[derive(Debug)]
struct Row {
    case: Case,
    calls: u64,
    wall_ns: f64,
    /// CPU of the calling thread during the calls (paced and steady runs).
    thread_ns: Option<f64>,
    /// Wall per call of the median chunk and of the 90th percentile chunk
    /// (paced and steady runs): how uneven the chunks were.
    chunk_ns: Option<(f64, f64)>,
    cpu_ns: f64,
    receiver_cpu_ns: f64,
    outcome: Outcome,
}

fn per_call(total: std::time::Duration, calls: u64) -> f64 {
    total.as_secs_f64() * 1e9 / calls as f64
}

fn measure(case: Case, warm_up: u64, calls: u64, pacing: Pacing, deciles: bool) -> Row {
    let scope = case.enter();
    // Warmed up as measured: a steady run's background threads settle (and
    // semtel's rings grow, once per thread) before the measured calls, as
    // in a pipeline that has been busy for a while.
    match pacing {
        Pacing::Steady(gap) => black_box(scope.run_steady_cpu(warm_up, STEADY_CHUNK, gap).0.acc),
        Pacing::Flushed | Pacing::Unpaced => black_box(scope.run_paced(warm_up, CHUNK).0),
    };
    scope.flush();
    let (receiver_cpu_before, _) = receiver_totals();
    let cpu = ProcessTime::now();
    let (paced, in_gaps) = match pacing {
        Pacing::Flushed => (Some(scope.run_paced_cpu(calls, CHUNK)), Duration::ZERO),
        Pacing::Steady(gap) => {
            let (paced, in_gaps) = scope.run_steady_cpu(calls, STEADY_CHUNK, gap);
            (Some(paced), in_gaps)
        }
        Pacing::Unpaced => (None, Duration::ZERO),
    };
    let wall = match &paced {
        Some(p) => {
            black_box(p.acc);
            p.wall
        }
        None => {
            let wall = Instant::now();
            black_box(scope.run(calls));
            wall.elapsed()
        }
    };
    if deciles && let Some(line) = deciles_line(case, paced.as_ref()) {
        println!("{line}");
    }
    let outcome = scope.finish();
    let cpu = cpu.elapsed().saturating_sub(in_gaps);
    let (receiver_cpu_after, _) = receiver_totals();
    Row {
        case,
        calls,
        wall_ns: per_call(wall, calls),
        thread_ns: paced.as_ref().map(|p| per_call(p.cpu, calls)),
        chunk_ns: paced
            .as_ref()
            .map(|p| (p.chunk_quantile(0.5), p.chunk_quantile(0.9))),
        cpu_ns: per_call(cpu, calls),
        #[allow(clippy::cast_precision_loss)] // nanoseconds of a few seconds
        receiver_cpu_ns: (receiver_cpu_after - receiver_cpu_before) as f64 / calls as f64,
        outcome,
    }
}

/// The prefix of the line a child process prints its row on.
const CHILD_ROW: &str = "child-row";
/// The prefix of the line with a case's chunk deciles (`--deciles`).
const DECILES: &str = "chunk-deciles";
/// The chunk quantiles `--deciles` prints.
const DECILE_QUANTILES: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99];

/// The line with `case`'s chunk deciles, when it ran in chunks.
fn deciles_line(case: Case, paced: Option<&semtel_benches::Paced>) -> Option<String> {
    let p = paced?;
    let q = DECILE_QUANTILES.map(|q| format!("{:.1}", p.chunk_quantile(q)));
    Some(format!("{DECILES} {} {}", case.name(), q.join(" ")))
}

impl Row {
    /// CPU per call of every thread but the receiver's: what the
    /// instrumented process pays, the collector being elsewhere.
    fn process_ns(&self) -> f64 {
        self.cpu_ns - self.receiver_cpu_ns
    }

    fn to_line(&self) -> String {
        format!(
            "{CHILD_ROW} {} {} {} {} {} {} {} {} {} {}",
            self.case.name(),
            self.calls,
            self.wall_ns,
            self.thread_ns.unwrap_or(f64::NAN),
            self.chunk_ns.map_or(f64::NAN, |c| c.0),
            self.chunk_ns.map_or(f64::NAN, |c| c.1),
            self.cpu_ns,
            self.receiver_cpu_ns,
            self.outcome.spans_exported.map_or(-1, |n| n as i64),
            self.outcome.spans_dropped.map_or(-1, |n| n as i64),
        )
    }

    fn from_line(line: &str) -> Option<Row> {
        let mut f = line.strip_prefix(CHILD_ROW)?.split_whitespace();
        let case = Case::named(f.next()?)?;
        let mut num = || f.next()?.parse::<f64>().ok();
        let (calls, wall_ns, thread_ns, chunk_median, chunk_p90) =
            (num()?, num()?, num()?, num()?, num()?);
        let (cpu_ns, receiver_cpu_ns, exported, dropped) = (num()?, num()?, num()?, num()?);
        let count = |n: f64| (n >= 0.0).then_some(n as u64);
        Some(Row {
            case,
            calls: calls as u64,
            wall_ns,
            thread_ns: (!thread_ns.is_nan()).then_some(thread_ns),
            chunk_ns: (!chunk_median.is_nan()).then_some((chunk_median, chunk_p90)),
            cpu_ns,
            receiver_cpu_ns,
            outcome: Outcome {
                spans_exported: count(exported),
                spans_dropped: count(dropped),
            },
        })
    }
}

/// Measures `case` in a new process running this program (`--child`).
fn measure_in_child(case: Case, calls: u64, pacing: Pacing, deciles: bool) -> Row {
    let exe = std::env::current_exe().expect("this program's path");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--bench",
        "--calls",
        &calls.to_string(),
        "--child",
        case.name(),
    ]);
    cmd.args(pacing.args());
    if deciles {
        cmd.arg("--deciles");
    }
    let out = cmd.output().expect("the child process runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.starts_with(DECILES)) {
        println!("{line}");
    }
    stdout.lines().find_map(Row::from_line).unwrap_or_else(|| {
        panic!(
            "no row from the child for {}: {}\n{stdout}{}",
            case.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn main() {
    let mut benching = false;
    let mut calls = None;
    let mut filter = None;
    let mut child = None;
    let mut unpaced = false;
    let mut steady = false;
    let mut deciles = false;
    let mut gap = STEADY_GAP;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => benching = true,
            "--unpaced" => unpaced = true,
            "--steady" => steady = true,
            "--deciles" => deciles = true,
            "--gap" => {
                if let Some(us) = args.next().and_then(|n| n.parse::<u64>().ok()) {
                    gap = Duration::from_micros(us);
                }
            }
            "--calls" => calls = args.next().and_then(|n| n.parse::<u64>().ok()),
            "--child" => child = args.next().and_then(|n| Case::named(&n)),
            a if !a.starts_with('-') => filter = Some(arg),
            _ => {}
        }
    }
    let pacing = match (unpaced, steady) {
        (true, _) => Pacing::Unpaced,
        (false, true) => Pacing::Steady(gap),
        (false, false) => Pacing::Flushed,
    };
    let (warm_up, calls) = match (benching, calls) {
        (_, Some(n)) => (n / 10, n),
        (true, None) => (WARM_UP, CALLS),
        (false, None) => (10, 100),
    };
    if let Some(case) = child {
        println!(
            "{}",
            measure(case, warm_up, calls, pacing, deciles).to_line()
        );
        return;
    }
    let rows: Vec<Row> = Case::ALL
        .iter()
        .filter(|c| filter.as_deref().is_none_or(|f| c.name().contains(f)))
        .map(|&case| {
            if case.own_process() {
                measure_in_child(case, calls, pacing, deciles)
            } else {
                measure(case, warm_up, calls, pacing, deciles)
            }
        })
        .collect();
    let (base_wall, base_cpu) = rows
        .iter()
        .find(|r| r.case == Case::SemtelEnabled)
        .map_or((f64::NAN, f64::NAN), |r| (r.wall_ns, r.process_ns()));
    let pacing = pacing.describe();
    println!(
        "\n{calls} calls per case after {warm_up} warm-up calls, {pacing}; ratio = case / semtel \
         enabled (above 1: the case is slower than semtel)\n"
    );
    println!(
        "| case | wall ns/call | median / 90th pct chunk, wall ns/call | calling thread CPU ns/call | CPU ns/call (all threads but the receiver) | receiver CPU ns/call | wall ratio | CPU ratio | spans exported / calls |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        let spans = match (r.outcome.spans_exported, r.outcome.spans_dropped) {
            (Some(e), Some(d)) => format!("{e} / {} ({d} lost)", r.calls + warm_up),
            (Some(e), None) => format!("{e} / {}", r.calls + warm_up),
            _ => "-".to_owned(),
        };
        let thread = r
            .thread_ns
            .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}"));
        let chunks = r
            .chunk_ns
            .map_or_else(|| "-".to_owned(), |(m, p)| format!("{m:.1} / {p:.1}"));
        println!(
            "| {} | {:.1} | {chunks} | {thread} | {:.1} | {:.1} | {:.2} | {:.2} | {spans} |",
            r.case.name(),
            r.wall_ns,
            r.process_ns(),
            r.receiver_cpu_ns,
            r.wall_ns / base_wall,
            r.process_ns() / base_cpu,
        );
    }
}
