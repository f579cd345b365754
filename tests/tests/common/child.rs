//! Runs one test of the current test binary in a child process, to see
//! what a program prints (its standard output and error, a `main` that
//! returns an error) or to give it a process environment of its own.
//!
//! ```text
//! #[test]
//! fn parent() {
//!     let out = common::child::run("child", &[], WAIT);
//!     assert!(out.stderr.contains("from the child"), "{out}");
//! }
//!
//! #[test]
//! fn child() {
//!     if !common::child::is_child() {
//!         return; // run as an ordinary test: nothing to do
//!     }
//!     eprintln!("from the child");
//! }
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The variable that marks the child process.
const MARK: &str = "SEMTEL_TESTS_CHILD";

/// Whether this process is a child started by [`run`].
pub fn is_child() -> bool {
    std::env::var_os(MARK).is_some()
}

/// What a child printed, and whether it succeeded.
#[derive(Debug, Clone)]
pub struct Output {
    /// Whether the child test passed.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// Standard output and error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "child {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            if self.success { "passed" } else { "failed" },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs the test named `test` (exactly) of this binary in a child process
/// with `env` added to its environment and output not captured, and waits
/// for it at most `bound`; past that the child is killed by its PID and
/// this panics.
pub fn run(test: &str, env: &[(&str, &OsStr)], bound: Duration) -> Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(MARK, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start the child test");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let mut err = String::new();
        let reader = std::thread::spawn(move || {
            let _ = stderr.read_to_string(&mut err);
            err
        });
        let _ = stdout.read_to_string(&mut out);
        let err = reader.join().unwrap_or_default();
        let status = child.wait();
        let _ = tx.send((status.map(|s| s.success()).unwrap_or(false), out, err));
    });
    match rx.recv_timeout(bound) {
        Ok((success, stdout, stderr)) => Output {
            success,
            stdout,
            stderr,
        },
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the child test `{test}` ran past {bound:?} and was killed");
        }
    }
}
