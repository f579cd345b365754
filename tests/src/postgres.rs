//! A real PostgreSQL server for tests: Debian's `postgresql` package, a
//! fresh cluster in a temporary directory, listening on a loopback port,
//! stopped by its PID when dropped.
//!
//! ```no_run
//! let pg = semtel_tests::Postgres::start().expect("PostgreSQL starts");
//! let config = pg.config(); // "host=127.0.0.1 port=… user=postgres dbname=postgres"
//! // … connect with tokio-postgres or sqlx …
//! drop(pg); // fast shutdown by PID, data directory removed
//! ```
//!
//! The server binaries are found in `$PG_BIN`, else under
//! `/usr/lib/postgresql/<version>/bin` (the newest), else on `PATH`. Run as
//! root, the server runs as the `postgres` user (PostgreSQL refuses root),
//! through `runuser`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long [`Postgres::start`] waits for the server to accept connections.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run when the server binaries are missing.
const INSTALL_HINT: &str = "run `apt-get install postgresql` (or set PG_BIN to its bin directory)";

/// Why PostgreSQL could not be started.
#[derive(Debug)]
pub enum PostgresError {
    /// `initdb`/`postgres` were not found.
    NotInstalled,
    /// A command failed; what it printed is included.
    Failed(String),
    /// The server did not become ready in time; its log so far is included.
    NotReady(String),
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled => write!(f, "PostgreSQL is not installed: {INSTALL_HINT}"),
            Self::Failed(why) => write!(f, "PostgreSQL: {why}"),
            Self::NotReady(log) => write!(f, "PostgreSQL did not become ready; its log:\n{log}"),
        }
    }
}

impl std::error::Error for PostgresError {}

/// A running PostgreSQL server, stopped when dropped.
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    pid: u32,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

/// The directory holding `initdb` and `postgres`.
fn bin_dir() -> Result<PathBuf, PostgresError> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let on_path = Command::new("initdb")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        Ok(PathBuf::new())
    } else {
        Err(PostgresError::NotInstalled)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program` from `bin`, run as `postgres` when this process is root.
fn command(bin: &Path, program: &str, root: bool) -> Command {
    let program = bin.join(program);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command) -> Result<(), PostgresError> {
    let out = command
        .output()
        .map_err(|e| PostgresError::Failed(format!("{command:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PostgresError::Failed(format!(
            "{command:?} exited with {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl Postgres {
    /// Creates a cluster in a new temporary directory (user `postgres`,
    /// trust authentication, loopback only) and starts the server on a free
    /// loopback port; returns once it accepts connections.
    ///
    /// # Errors
    /// [`PostgresError::NotInstalled`] naming the install command; the
    /// output of a failing `initdb`; the server's log when it does not
    /// become ready within [`READY_TIMEOUT`].
    pub fn start() -> Result<Self, PostgresError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir()?;
        let root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "semtel-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| PostgresError::Failed(format!("{}: {e}", dir.display())))?;
        if root {
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(&dir);
            run(chown)?;
        }
        let data = dir.join("data");
        let mut initdb = command(&bin, "initdb", root);
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        if let Err(e) = run(initdb) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let port = crate::server::free_port()
            .map_err(|e| PostgresError::Failed(format!("bind 127.0.0.1:0: {e}")))?;
        let mut server = command(&bin, "postgres", root);
        server
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=50",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = server
            .spawn()
            .map_err(|e| PostgresError::Failed(format!("{server:?}: {e}")))?;
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            crate::server::keep_lines(stderr, &log, move |line| {
                if line.contains("ready to accept connections") {
                    let _ = ready_tx.send(());
                }
            });
        }
        let mut pg = Self {
            dir,
            port,
            pid: child.id(),
            child: Some(child),
            log,
        };
        if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
            return Err(PostgresError::NotReady(pg.log()));
        }
        // The postmaster's own PID (the child may be `runuser`).
        if let Some(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        {
            pg.pid = pid;
        }
        Ok(pg)
    }

    /// The loopback port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's PID.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A libpq-style connection string for database `postgres` as user
    /// `postgres` over TCP.
    #[must_use]
    pub fn config(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// The same as a URL (`postgres://postgres@127.0.0.1:PORT/postgres`),
    /// for sqlx.
    #[must_use]
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// What the server wrote to its log so far.
    #[must_use]
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Postgres {
    /// Fast shutdown by PID (SIGINT), waiting at most 20 s before SIGKILL;
    /// then the directory is removed.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status();
        if let Some(mut child) = self.child.take() {
            let (done_tx, done_rx) = mpsc::channel();
            let waiter = std::thread::spawn(move || {
                let _ = child.wait();
                let _ = done_tx.send(());
            });
            let deadline = Instant::now() + Duration::from_secs(20);
            if done_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_err()
            {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .status();
            }
            let _ = waiter.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
