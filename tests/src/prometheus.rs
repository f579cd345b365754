//! Finding Prometheus's binaries (`prometheus`, `promtool`) for tests.
//!
//! Debian's `prometheus` package installs both on `PATH`; `.ci/run` installs
//! it. `PROMTOOL` and `PROMETHEUS` name other binaries.
//!
//! ```no_run
//! if let Some(promtool) = semtel_tests::prometheus::require("promtool") {
//!     let ok = std::process::Command::new(promtool)
//!         .args(["check", "rules", "deploy/prometheus/rules/semtel-pipeline.rules.yml"])
//!         .status()
//!         .unwrap()
//!         .success();
//!     assert!(ok);
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary: `$PROMTOOL` / `$PROMETHEUS` when set, else the first match on `PATH`.
#[must_use]
pub fn find(tool: &str) -> Option<PathBuf> {
    let var = tool.to_ascii_uppercase();
    if let Some(path) = std::env::var_os(&var) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// The binary, or `None` with a message on stderr when it is missing
/// outside CI. Under CI (`CI` set and not `false`) a missing binary panics:
/// the tests that need it must not pass without running it.
///
/// # Panics
/// Under CI, when the binary is missing.
#[must_use]
pub fn require(tool: &str) -> Option<PathBuf> {
    if let Some(path) = find(tool) {
        return Some(path);
    }
    let hint = format!(
        "`{tool}` is not on PATH: install Debian's `prometheus` package \
         (`apt-get install prometheus`, which .ci/run does) or set {}",
        tool.to_ascii_uppercase()
    );
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "{hint}");
    eprintln!("SKIPPED (not under CI): {hint}");
    None
}

/// Runs `promtool` with these arguments; `Err` holds its output when it fails.
///
/// # Errors
/// promtool could not be run or exited with a failure; the text says why.
pub fn promtool(promtool: &Path, args: &[&str], dir: &Path) -> Result<String, String> {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", promtool.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("promtool {} failed:\n{text}", args.join(" ")))
    }
}

/// A Prometheus server the test started: loopback only, its storage in a
/// temporary directory, ended by its PID when dropped.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    dir: PathBuf,
}

impl Server {
    /// Starts `prometheus` with `config` (prometheus.yml text; relative
    /// paths in it are from `dir`), exemplar storage on, and waits until it
    /// is ready.
    ///
    /// # Errors
    /// It cannot be started or is not ready within `wait`; the text has its
    /// output.
    pub fn start(
        prometheus: &Path,
        dir: &Path,
        config: &str,
        wait: std::time::Duration,
    ) -> Result<Self, String> {
        std::fs::write(dir.join("prometheus.yml"), config).map_err(|e| e.to_string())?;
        let port = crate::server::free_port().map_err(|e| e.to_string())?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(dir.join("prometheus.log")).map_err(|e| e.to_string())?;
        let child = Command::new(prometheus)
            .current_dir(dir)
            .args([
                "--config.file=prometheus.yml".to_owned(),
                "--storage.tsdb.path=data".to_owned(),
                format!("--web.listen-address={addr}"),
                "--enable-feature=exemplar-storage".to_owned(),
                "--log.level=warn".to_owned(),
            ])
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", prometheus.display()))?;
        let mut server = Server {
            child,
            addr,
            dir: dir.to_owned(),
        };
        match crate::server::wait_for_http(&mut server.child, addr, "/-/ready", wait) {
            Ok(()) => Ok(server),
            Err(crate::server::NotReady::Exited(status)) => {
                Err(format!("prometheus exited ({status}):\n{}", server.log()))
            }
            Err(crate::server::NotReady::TimedOut) => Err(format!(
                "prometheus not ready after {wait:?}:\n{}",
                server.log()
            )),
        }
    }

    /// Its address.
    #[must_use]
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// What it logged.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `GET /api/v1/<endpoint>?<params>` (values URL-encoded here); the
    /// answer's `data`.
    ///
    /// # Errors
    /// The request failed or the answer's status is not `success`.
    pub fn api(
        &self,
        endpoint: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, String> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        let path = format!("/api/v1/{endpoint}?{}", query.join("&"));
        let response = crate::client::http_get(self.addr, &path, &[]).map_err(|e| e.to_string())?;
        let body: serde_json::Value =
            serde_json::from_slice(&response.body).map_err(|e| format!("{path}: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{path}: {body}"));
        }
        Ok(body["data"].clone())
    }

    /// An instant query's result vector.
    ///
    /// # Errors
    /// As [`Server::api`].
    pub fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        let data = self.api("query", &[("query", promql)])?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Ends the process this test started, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter value.
#[must_use]
pub fn url_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
