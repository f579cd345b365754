//! Python test tools installed on first use into the workspace's
//! `target/test-tools/<name>` (never into the user's Python), so that
//! `cargo test --workspace` works on a machine that has python3 and pip but
//! not the tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `target/test-tools/<name>`, where [`install`] puts a tool.
pub(crate) fn dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("test-tools").join(name)
}

/// Installs `requirement` (a pip requirement such as `rotel` or
/// `moto[server]>=5,<6`) into [`dir`]`(name)` unless `found` already finds
/// it there, holding a file lock so that test processes running at once
/// install it once; returns what `found` gives afterwards.
pub(crate) fn install<T>(
    name: &str,
    requirement: &str,
    found: impl Fn(&Path) -> Result<T, String>,
) -> Result<T, String> {
    let dir = dir(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = std::fs::File::create(dir.join(".lock")).map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", dir.display()))?;
    if let Ok(found) = found(&dir) {
        return Ok(found);
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&dir)
        .arg(requirement)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !status.success() {
        return Err(format!(
            "`python3 -m pip install --target {} '{requirement}'` failed: {status}",
            dir.display()
        ));
    }
    found(&dir)
}
