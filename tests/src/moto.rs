//! A real S3 API server for tests: `moto` from PyPI (`moto[server]`),
//! listening on a loopback port, ended by its PID when dropped; and a
//! loopback proxy that answers the first connections with a 503 and pipes
//! the rest to the server, for retries over real HTTP.
//!
//! ```no_run
//! let moto = semtel_tests::moto::Moto::start().expect("moto starts");
//! let endpoint = moto.endpoint(); // "http://127.0.0.1:…", any access key works
//! let proxy = semtel_tests::moto::FlakyProxy::start(moto.addr(), 1).expect("proxy");
//! // proxy.endpoint(): the first connection gets `503 SlowDown`, the next ones reach moto
//! ```
//!
//! The server runs as `python3 -m moto.server`, or `$MOTO_SERVER` (the
//! `moto_server` script) when set. When python3 cannot import it, the
//! package is installed into `target/test-tools/moto` on first use.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::server::NotReady;

/// How long [`Moto::start`] waits for the server to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run when moto is missing.
const INSTALL_HINT: &str =
    "run `python3 -m pip install 'moto[server]'` (or set MOTO_SERVER to the moto_server script)";

/// Why moto could not be started.
#[derive(Debug)]
pub enum MotoError {
    /// Neither `$MOTO_SERVER` nor python3's `moto.server` module was found.
    NotInstalled(String),
    /// The server did not answer in time; its output so far is included.
    NotReady(String),
    /// Something else failed.
    Failed(String),
}

impl fmt::Display for MotoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled(why) => write!(f, "moto is not installed ({why}): {INSTALL_HINT}"),
            Self::NotReady(log) => write!(f, "moto did not become ready; its output:\n{log}"),
            Self::Failed(why) => write!(f, "moto: {why}"),
        }
    }
}

impl std::error::Error for MotoError {}

/// A running moto server, ended by its PID when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// The moto package python3 imports: `None` when its own path has it, else
/// the directory under `target/test-tools` it is installed into on first
/// use.
fn local_install() -> Result<Option<PathBuf>, MotoError> {
    if imports_moto(None).is_ok() {
        return Ok(None);
    }
    crate::test_tools::install("moto", "moto[server]>=5,<6", |dir| {
        imports_moto(Some(dir)).map(|()| dir.to_owned())
    })
    .map(Some)
    .map_err(MotoError::NotInstalled)
}

/// Whether python3 (with `extra_path` first on its module path) imports
/// `moto.server`.
fn imports_moto(extra_path: Option<&Path>) -> Result<(), String> {
    let mut python = Command::new("python3");
    if let Some(dir) = extra_path {
        python.env("PYTHONPATH", dir);
    }
    let output = python
        .args(["-c", "import moto.server"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 cannot import moto.server: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Moto {
    /// Starts the server on a free loopback port and returns once it
    /// answers HTTP.
    ///
    /// # Errors
    /// [`MotoError::NotInstalled`] naming the install command; its output
    /// when it exits or does not answer within [`READY_TIMEOUT`].
    pub fn start() -> Result<Self, MotoError> {
        let port = crate::server::free_port()
            .map_err(|e| MotoError::Failed(format!("bind 127.0.0.1:0: {e}")))?;
        let mut command = match std::env::var_os("MOTO_SERVER") {
            Some(server) => Command::new(server),
            None => {
                let mut c = Command::new("python3");
                c.args(["-m", "moto.server"]);
                if let Some(dir) = local_install()? {
                    c.env("PYTHONPATH", dir);
                }
                c
            }
        };
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| MotoError::NotInstalled(format!("{command:?}: {e}")))?;
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            crate::server::keep_lines(pipe, &log, |_| {});
        }
        let mut moto = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        // moto answers `GET /` (ListBuckets) once it serves.
        match crate::server::wait_for_http(&mut moto.child, moto.addr, "/", READY_TIMEOUT) {
            Ok(()) => Ok(moto),
            Err(NotReady::Exited(status)) => {
                let log = moto.log();
                Err(if log.contains("No module named") {
                    MotoError::NotInstalled(log)
                } else {
                    MotoError::Failed(format!("exited ({status}):\n{log}"))
                })
            }
            Err(NotReady::TimedOut) => Err(MotoError::NotReady(moto.log())),
        }
    }

    /// Its address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its endpoint URL, `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its PID.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it printed so far.
    #[must_use]
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Moto {
    /// Ends the server by its PID.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP proxy to `target` whose first `failures` connections are
/// answered `503 SlowDown` (S3's throttling answer) and closed; the later
/// ones are piped to the target unchanged.
#[derive(Debug)]
pub struct FlakyProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU32>,
    heads: Arc<Mutex<Vec<String>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>semtel-proxy</RequestId></Error>";

impl FlakyProxy {
    /// Starts the proxy on a free loopback port.
    ///
    /// # Errors
    /// When it cannot listen.
    pub fn start(target: SocketAddr, failures: u32) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU32::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let stop = Arc::clone(&stop);
            let refused = Arc::clone(&refused);
            let heads = Arc::clone(&heads);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let fail = refused
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                            (n < failures).then_some(n + 1)
                        })
                        .is_ok();
                    let heads = Arc::clone(&heads);
                    std::thread::spawn(move || {
                        let _ = if fail {
                            answer_slow_down(stream, &heads)
                        } else {
                            pipe(stream, target)
                        };
                    });
                }
            })
        };
        Ok(Self {
            addr,
            stop,
            refused,
            heads,
            accept: Some(accept),
        })
    }

    /// Its endpoint URL, `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections answered with a 503 so far.
    #[must_use]
    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::Acquire)
    }

    /// The heads (request line and headers) of the requests answered with
    /// a 503, as they arrived.
    #[must_use]
    pub fn refused_heads(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Reads one request head (requests sent here have no body), keeps it in
/// `heads` and answers 503.
fn answer_slow_down(mut stream: TcpStream, heads: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    heads
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(String::from_utf8_lossy(&head).into_owned());
    let answer = format!(
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SLOW_DOWN}",
        SLOW_DOWN.len()
    );
    stream.write_all(answer.as_bytes())?;
    stream.flush()
}

/// Copies bytes both ways until either side closes.
fn pipe(client: TcpStream, target: SocketAddr) -> std::io::Result<()> {
    let server = TcpStream::connect(target)?;
    let (mut client_read, mut server_write) = (client.try_clone()?, server.try_clone()?);
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}
