//! A harness for the out-of-process collector `rotel-agent` (PyPI package `rotel`),
//! run with the blackhole exporter and detailed debug logs, so tests can assert on
//! what it printed about the spans, logs and metrics it received.

use std::fmt;
use std::io::{self, BufRead as _, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Rotel::start`] waits for the agent to listen.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What to run when `rotel-agent` is missing.
const INSTALL_HINT: &str =
    "run `python3 -m pip install rotel` (or set ROTEL_AGENT to the rotel-agent binary)";

/// Why rotel could not be started.
#[derive(Debug)]
pub enum RotelError {
    /// The binary was not found; the message says how to install it.
    NotInstalled(String),
    /// Spawning or talking to the process failed.
    Io(io::Error),
    /// It did not start listening in time or exited; its output so far is included.
    NotReady(String),
}

impl fmt::Display for RotelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled(why) => {
                write!(f, "rotel-agent is not installed ({why}): {INSTALL_HINT}")
            }
            Self::Io(error) => write!(f, "rotel-agent: {error}"),
            Self::NotReady(output) => {
                write!(f, "rotel-agent did not become ready; its output:\n{output}")
            }
        }
    }
}

impl std::error::Error for RotelError {}

impl From<io::Error> for RotelError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Finds `rotel-agent`: `$ROTEL_AGENT` if set; else next to the `rotel` Python
/// package; else it installs that package (`python3 -m pip install --target`)
/// into the workspace's `target/test-tools`, once, so that `cargo test
/// --workspace` works on a machine that has python3 and pip but not rotel.
///
/// # Errors
/// [`RotelError::NotInstalled`] when none of these gives an existing file.
pub fn locate() -> Result<PathBuf, RotelError> {
    if let Some(path) = std::env::var_os("ROTEL_AGENT") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(RotelError::NotInstalled(format!(
                "ROTEL_AGENT={} is not a file",
                path.display()
            )))
        };
    }
    match agent_beside_package(None) {
        Ok(path) => Ok(path),
        Err(not_installed) => install_locally().map_err(|e| {
            RotelError::NotInstalled(format!("{not_installed}; installing it failed: {e}"))
        }),
    }
}

/// `rotel-agent` next to the `rotel` package python3 imports (with
/// `extra_path` first on its module path).
fn agent_beside_package(extra_path: Option<&std::path::Path>) -> Result<PathBuf, String> {
    let mut python = Command::new("python3");
    if let Some(dir) = extra_path {
        python.env("PYTHONPATH", dir);
    }
    let output = python
        .args([
            "-c",
            "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "python3 cannot import rotel: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} does not exist", path.display()))
    }
}

/// Installs rotel into `target/test-tools/rotel` (not the user's Python).
fn install_locally() -> Result<PathBuf, String> {
    crate::test_tools::install("rotel", "rotel", |dir| agent_beside_package(Some(dir)))
}

/// Output captured from the agent, shared with the reader threads.
#[derive(Default)]
struct Captured {
    text: String,
    /// Streams (stdout, stderr) that reached end of file.
    closed: u8,
}

struct Output {
    captured: Mutex<Captured>,
    changed: Condvar,
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running `rotel-agent` on two free loopback ports, killed by PID on drop.
pub struct Rotel {
    child: Option<Child>,
    grpc_port: u16,
    http_port: u16,
    output: Arc<Output>,
    readers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Rotel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotel")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .finish_non_exhaustive()
    }
}

impl Rotel {
    /// Starts `rotel-agent` (blackhole exporter, detailed debug logs for all three
    /// signals) on free ports and waits until both ports accept connections.
    /// Retries twice if it lost a port race with another process.
    ///
    /// # Errors
    /// [`RotelError::NotInstalled`] if the binary is missing (the message says how
    /// to install it); [`RotelError::NotReady`] if it exits or is not listening
    /// within [`READY_TIMEOUT`].
    pub fn start() -> Result<Self, RotelError> {
        let binary = locate()?;
        let mut last = None;
        for _attempt in 0..3 {
            let mut rotel = Self::spawn(&binary)?;
            match rotel.wait_ready(READY_TIMEOUT) {
                Ok(()) => return Ok(rotel),
                Err(error) => {
                    rotel.kill();
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| RotelError::NotReady(String::new())))
    }

    fn spawn(binary: &std::path::Path) -> Result<Self, RotelError> {
        let (grpc_port, http_port) = free_ports()?;
        let mut child = Command::new(binary)
            .arg("start")
            .args(["--exporter", "blackhole"])
            .args(["--debug-log", "traces"])
            .args(["--debug-log", "metrics"])
            .args(["--debug-log", "logs"])
            .args(["--debug-log-verbosity", "detailed"])
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{grpc_port}"))
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{http_port}"))
            // Plain text logs: no colour codes between the words tests look for.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let output = Arc::new(Output {
            captured: Mutex::new(Captured::default()),
            changed: Condvar::new(),
        });
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(reader("rotel-stdout", stdout, Arc::clone(&output))?);
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(reader("rotel-stderr", stderr, Arc::clone(&output))?);
        }
        Ok(Self {
            child: Some(child),
            grpc_port,
            http_port,
            output,
            readers,
        })
    }

    /// Waits until the agent logged that it started and both ports accept a TCP
    /// connection. Between connection attempts it waits for new output (or
    /// 50 ms), so it never spins; it gives up early if the agent exits.
    ///
    /// # Errors
    /// [`RotelError::NotReady`] with the output so far.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), RotelError> {
        let deadline = Instant::now() + timeout;
        let started = self.wait_for_output(timeout, |out| out.contains("Starting Rotel"));
        if !started {
            return Err(RotelError::NotReady(self.output()));
        }
        let addrs = [self.grpc_addr(), self.http_addr()];
        // Bounded: at most one attempt per 50 ms until the deadline.
        loop {
            let ready = addrs
                .iter()
                .all(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(500)).is_ok());
            if ready {
                return Ok(());
            }
            if self.exited() || Instant::now() >= deadline {
                return Err(RotelError::NotReady(self.output()));
            }
            let guard = self.output.lock();
            let seen = guard.text.len();
            // Wakes early on new output or exit; bounded by the short timeout.
            drop(
                self.output
                    .changed
                    .wait_timeout_while(guard, Duration::from_millis(50), |c| {
                        c.text.len() == seen && c.closed < 2
                    })
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
    }

    fn exited(&self) -> bool {
        self.output.lock().closed >= 2
    }

    /// Blocks until `done` holds for the whole output so far, or `timeout` passes,
    /// or the agent exits with `done` still false. Returns whether it held.
    pub fn wait_for_output(&self, timeout: Duration, mut done: impl FnMut(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.output.lock();
        loop {
            if done(&guard.text) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || guard.closed >= 2 {
                return false;
            }
            guard = self
                .output
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Like [`Rotel::wait_for_output`], but panics with `what` and the output
    /// when `done` does not hold in time; returns the output that satisfied it.
    ///
    /// # Panics
    /// When the timeout passes or the agent exits first.
    #[track_caller]
    pub fn expect_output(
        &self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let mut found = None;
        self.wait_for_output(timeout, |out| {
            let ok = done(out);
            if ok {
                found = Some(out.to_owned());
            }
            ok
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for {what} in rotel's output:\n{}",
                self.output()
            )
        })
    }

    /// Everything the agent printed so far (stdout and stderr interleaved by line,
    /// colour codes removed).
    #[must_use]
    pub fn output(&self) -> String {
        self.output.lock().text.clone()
    }

    /// What the agent printed so far, parsed.
    #[must_use]
    pub fn debug(&self) -> crate::rotel_debug::RotelDebug {
        crate::rotel_debug::RotelDebug::parse(&self.output())
    }

    /// `http://127.0.0.1:PORT` of its OTLP/gRPC receiver.
    #[must_use]
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// `http://127.0.0.1:PORT` of its OTLP/HTTP receiver (base, without `/v1/…`).
    #[must_use]
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Its OTLP/gRPC address.
    #[must_use]
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.grpc_port))
    }

    /// Its OTLP/HTTP address.
    #[must_use]
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http_port))
    }

    /// The process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the agent by its PID, reaps it and joins the output readers.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if it already exited, which is what we want anyway.
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two distinct free loopback ports: both listeners are held until both are known.
fn free_ports() -> io::Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

fn reader(
    name: &str,
    stream: impl Read + Send + 'static,
    output: Arc<Output>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let mut lines = BufReader::new(stream);
            let mut line = Vec::new();
            // Ends at end of file, i.e. when the agent exits or is killed.
            while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = strip_ansi(&String::from_utf8_lossy(&line));
                let mut captured = output.lock();
                captured.text.push_str(text.trim_end_matches(['\r', '\n']));
                captured.text.push('\n');
                drop(captured);
                output.changed.notify_all();
                line.clear();
            }
            output.lock().closed += 1;
            output.changed.notify_all();
        })
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m Starting Rotel."),
            "2026  INFO Starting Rotel."
        );
    }
}
