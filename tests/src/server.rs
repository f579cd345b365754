//! What the servers tests start have in common: a free loopback port,
//! their output kept, and a bounded wait until they answer.

use std::io::{BufRead as _, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A loopback port free at the time of asking.
pub(crate) fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// Appends each line read from `pipe` to `log` (on a thread of its own),
/// after showing it to `on_line`.
pub(crate) fn keep_lines(
    pipe: impl Read + Send + 'static,
    log: &Arc<Mutex<String>>,
    mut on_line: impl FnMut(&str) + Send + 'static,
) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            on_line(&line);
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// Why a server did not answer.
pub(crate) enum NotReady {
    /// It exited first.
    Exited(ExitStatus),
    /// It did not answer within the wait.
    TimedOut,
}

/// Waits until `GET path` at `addr` answers 200, `child` exits, or `wait`
/// has passed.
pub(crate) fn wait_for_http(
    child: &mut Child,
    addr: SocketAddr,
    path: &str,
    wait: Duration,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + wait;
    loop {
        if crate::client::http_get(addr, path, &[]).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(NotReady::Exited(status));
        }
        if Instant::now() > deadline {
            return Err(NotReady::TimedOut);
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}
