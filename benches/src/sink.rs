//! A discarding OTLP/HTTP collector on loopback: reads each request whole and
//! answers `200 OK` with an empty body, over keep-alive connections.
//!
//! semtel exports only over OTLP (or to the console), so this is how its
//! exporters are made to discard: the protobuf encoding and the HTTP round
//! trip are real, the collector's work is not. The sink runs in the bench
//! process, so its CPU is part of the process's CPU; it measures its own
//! threads' CPU so that share can be reported and subtracted.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use cpu_time::ThreadTime;

/// Connections the sink accepts before its accept loop ends.
const MAX_CONNECTIONS: usize = 256;
/// Requests one connection may carry before the sink closes it.
const MAX_REQUESTS_PER_CONNECTION: u64 = 100_000_000;

/// What the sink has received.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Body bytes received.
    pub body_bytes: AtomicU64,
    /// CPU time of the sink's connection threads, in nanoseconds.
    pub cpu_ns: AtomicU64,
}

/// A running sink.
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    stats: Arc<SinkStats>,
}

impl Sink {
    /// Starts a sink on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound or the accept thread cannot start.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(SinkStats::default());
        let shared = Arc::clone(&stats);
        thread::Builder::new()
            .name("otlp-sink".into())
            .spawn(move || {
                for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                    let stats = Arc::clone(&shared);
                    let _ = thread::Builder::new()
                        .name("otlp-sink-conn".into())
                        .spawn(move || serve(stream, &stats));
                }
            })?;
        Ok(Self { addr, stats })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it has received so far.
    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }
}

fn serve(stream: TcpStream, stats: &SinkStats) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut body = Vec::new();
    let mut line = String::new();
    let mut last = ThreadTime::now();
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let done = answer_one(&mut reader, &mut writer, &mut line, &mut body, stats);
        let now = ThreadTime::now();
        let spent = now.duration_since(last);
        last = now;
        stats.cpu_ns.fetch_add(
            u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if done.is_err() {
            return;
        }
    }
}

/// Reads one request and answers it; `Err` when the connection is over.
fn answer_one(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    line: &mut String,
    body: &mut Vec<u8>,
    stats: &SinkStats,
) -> io::Result<()> {
    let mut content_length = 0u64;
    let mut first = true;
    // Request line and headers: bounded by the header count a client sends.
    for _ in 0..256 {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            if first {
                continue; // tolerate a stray CRLF between requests
            }
            break;
        }
        first = false;
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    body.clear();
    reader.by_ref().take(content_length).read_to_end(body)?;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats
        .body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    writer.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
    )
}
