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
