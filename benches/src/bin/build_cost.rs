//! Build cost of instrumentation.
//!
//! Generates three crates of 200 functions each under `<target>/build-cost/`:
//! `plain` (no attribute), `semtel200` (`#[semtel::stage]`) and `tracing200`
//! (`#[tracing::instrument]`). All three depend on both `semtel` (by path)
//! and `tracing`, with the workspace's `Cargo.lock`, and share one target
//! directory, so dependencies are compiled once and only the generated crate
//! is rebuilt in the timed runs.
//!
//! Measured:
//! * the dev-profile rebuild after an edit of `src/lib.rs` (a changed
//!   comment), median of `--reps` runs: what a user pays on every edit;
//! * the release build of each crate after an edit, its dependencies built,
//!   median of `--reps` runs (release builds are not incremental);
//! * the expansion cost per call site, `(instrumented - plain) / 200`;
//! * with `--cold`, the clean build of each attribute macro crate with its
//!   own dependencies (`semtel-macros` against `tracing-attributes`), paid once
//!   per clean build.
//!
//! Usage: `cargo run -p semtel-benches --bin build_cost --release --
//! [--reps N] [--no-release] [--cold]`. Prints a Markdown table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use std::{env, fs};

/// Functions per generated crate.
const FUNCTIONS: usize = 200;

/// The version requirement of `tracing` in the generated crates, as in the
/// workspace's `[workspace.dependencies]`.
const TRACING_DEP: &str =
    r#"tracing = { version = "0.1", default-features = false, features = ["std", "attributes"] }"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Plain,
    Semtel,
    Tracing,
}

impl Flavor {
    const ALL: [Flavor; 3] = [Flavor::Plain, Flavor::Semtel, Flavor::Tracing];

    fn name(self) -> &'static str {
        match self {
            Flavor::Plain => "plain",
            Flavor::Semtel => "semtel200",
            Flavor::Tracing => "tracing200",
        }
    }

    /// The attribute put on function `i` (which returns a `Result` if
    /// `is_result`).
    fn attribute(self, is_result: bool) -> &'static str {
        match (self, is_result) {
            (Flavor::Plain, _) => "",
            (Flavor::Semtel, _) => {
                "#[semtel::stage(pipeline = \"bench\", fields(db.system.name = \"sqlite\"), records_out = ret.len())]\n"
            }
            (Flavor::Tracing, false) => {
                "#[tracing::instrument(skip_all, fields(pipeline.name = \"bench\", db.system.name = \"sqlite\"))]\n"
            }
            (Flavor::Tracing, true) => {
                "#[tracing::instrument(skip_all, err, fields(pipeline.name = \"bench\", db.system.name = \"sqlite\"))]\n"
            }
        }
    }
}

#[derive(Debug)]
struct Options {
    reps: usize,
    release: bool,
    cold: bool,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            reps: 3,
            release: true,
            cold: false,
        };
        let mut args = env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--reps" => {
                    options.reps = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| fail("--reps takes a positive number"));
                }
                "--no-release" => options.release = false,
                "--cold" => options.cold = true,
                other => fail(&format!("unknown argument `{other}`")),
            }
        }
        options
    }
}

fn fail(message: &str) -> ! {
    eprintln!("build_cost: {message}");
    std::process::exit(2);
}

/// Where things are: the workspace, the generated crates and their shared
/// target directory.
#[derive(Debug)]
struct Layout {
    workspace: PathBuf,
    base: PathBuf,
    target: PathBuf,
    cargo: String,
}

impl Layout {
    fn new() -> Layout {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("benches/ is inside the workspace")
            .to_path_buf();
        let workspace_target =
            env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
        let base = workspace_target.join("build-cost");
        let target = base.join("target");
        // The cargo that runs this program, so every build uses its toolchain.
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        Layout {
            workspace,
            base,
            target,
            cargo,
        }
    }

    fn crate_dir(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// Writes a crate that is its own workspace, with the workspace's lock
    /// file so it resolves to the same versions (and builds offline).
    fn write_crate(&self, name: &str, dependencies: &str, lib: &str) {
        let dir = self.crate_dir(name);
        fs::create_dir_all(dir.join("src")).expect("create crate directory");
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [workspace]\n\n[dependencies]\n{dependencies}\n\n\
             # As in the semtel workspace.\n[profile.dev.package.\"*\"]\ndebug = false\n"
        );
        fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
        let lock = dir.join("Cargo.lock");
        if !lock.exists() {
            fs::copy(self.workspace.join("Cargo.lock"), lock).expect("copy Cargo.lock");
        }
        fs::write(dir.join("src/lib.rs"), lib).expect("write lib.rs");
    }

    /// `cargo build` of one generated crate; the wall time it took.
    fn build(&self, name: &str, release: bool) -> Duration {
        let dir = self.crate_dir(name);
        let mut command = Command::new(&self.cargo);
        command
            .current_dir(&dir)
            .args(["build", "--offline", "--quiet", "--target-dir"])
            .arg(&self.target)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .stdout(Stdio::null());
        if release {
            command.arg("--release");
        }
        let start = Instant::now();
        let status = command.status().expect("run cargo");
        let elapsed = start.elapsed();
        if !status.success() {
            fail(&format!("cargo build of `{name}` failed ({status})"));
        }
        elapsed
    }
}

/// The source of one generated crate; `edit` changes only a comment.
fn generate(flavor: Flavor, edit: usize) -> String {
    let mut src = format!(
        "//! Generated by semtel-benches' build_cost: {FUNCTIONS} functions, {}.\n\
         // edit {edit}\n\n\
         /// The error of the fallible functions.\n\
         #[derive(Debug)]\n\
         pub struct BenchError(pub u32);\n\n\
         impl ::core::fmt::Display for BenchError {{\n    \
             fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{\n        \
                 write!(f, \"bench error {{}}\", self.0)\n    \
             }}\n\
         }}\n",
        flavor.name()
    );
    for i in 0..FUNCTIONS {
        let k = i + 1;
        // A third each: sync, async, sync returning `Result`.
        let (is_result, function) = match i % 3 {
            0 => (
                false,
                format!(
                    "pub fn f{i}(rows: &[u32]) -> Vec<u32> {{\n    \
                     rows.iter().map(|r| r.wrapping_mul({k})).collect()\n}}\n"
                ),
            ),
            1 => (
                false,
                format!(
                    "pub async fn f{i}(rows: Vec<u32>) -> Vec<u32> {{\n    \
                     rows.into_iter().filter(|r| r % {k} != 0).collect()\n}}\n"
                ),
            ),
            _ => (
                true,
                format!(
                    "pub fn f{i}(rows: &[u32]) -> Result<Vec<u32>, BenchError> {{\n    \
                     if rows.is_empty() {{\n        return Err(BenchError({k}));\n    }}\n    \
                     Ok(rows.iter().map(|r| r.wrapping_add({k})).collect())\n}}\n"
                ),
            ),
        };
        src.push('\n');
        src.push_str(flavor.attribute(is_result));
        src.push_str(&function);
    }
    src
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Milliseconds per call site of `instrumented` over `plain`.
fn per_site_ms(instrumented: Duration, plain: Duration) -> f64 {
    (secs(instrumented) - secs(plain)) * 1000.0 / FUNCTIONS as f64
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    dev: Duration,
    dev_min: Duration,
    dev_max: Duration,
    release: Option<Duration>,
}

fn main() {
    let options = Options::parse();
    let layout = Layout::new();
    let semtel_dep = format!(
        "semtel = {{ path = \"{}\" }}\n{TRACING_DEP}",
        layout.workspace.join("runtime").display()
    );

    for flavor in Flavor::ALL {
        layout.write_crate(flavor.name(), &semtel_dep, &generate(flavor, 0));
    }

    // Warm-up: dependencies, then each crate once.
    let mut warm = Vec::new();
    for flavor in Flavor::ALL {
        let took = layout.build(flavor.name(), false);
        eprintln!(
            "warm-up dev build of {}: {:.1} s",
            flavor.name(),
            secs(took)
        );
        warm.push(took);
    }

    // Timed dev rebuilds, interleaved so drift hits every crate alike.
    let mut dev: [Vec<Duration>; 3] = Default::default();
    for rep in 1..=options.reps {
        for (f, flavor) in Flavor::ALL.into_iter().enumerate() {
            layout.write_crate(flavor.name(), &semtel_dep, &generate(flavor, rep));
            let took = layout.build(flavor.name(), false);
            eprintln!(
                "dev rebuild {rep} of {}: {:.2} s",
                flavor.name(),
                secs(took)
            );
            dev[f].push(took);
        }
    }
    let mut rows = [Row::default(); 3];
    for (row, samples) in rows.iter_mut().zip(dev) {
        row.dev_min = *samples.iter().min().expect("at least one rep");
        row.dev_max = *samples.iter().max().expect("at least one rep");
        row.dev = median(samples);
    }

    if options.release {
        let took = layout.build(Flavor::Plain.name(), true);
        eprintln!("warm-up release build (dependencies): {:.1} s", secs(took));
        let mut release: [Vec<Duration>; 3] = Default::default();
        for rep in 1..=options.reps {
            for (f, flavor) in Flavor::ALL.into_iter().enumerate() {
                let edit = options.reps + rep;
                layout.write_crate(flavor.name(), &semtel_dep, &generate(flavor, edit));
                let took = layout.build(flavor.name(), true);
                eprintln!(
                    "release build {rep} of {}: {:.2} s",
                    flavor.name(),
                    secs(took)
                );
                release[f].push(took);
            }
        }
        for (row, samples) in rows.iter_mut().zip(release) {
            row.release = Some(median(samples));
        }
    }

    let cold = options.cold.then(|| cold_macro_builds(&layout));

    print!("{}", report(&options, &rows, &warm, cold));
}

/// Clean builds of each attribute macro crate with its own dependencies, each
/// in a fresh target directory: `semtel-macros` (syn, semtel-conventions) and
/// `tracing-attributes` (syn).
fn cold_macro_builds(layout: &Layout) -> (Duration, Duration) {
    let mut took = Vec::new();
    for (name, dependency) in [
        (
            "cold-semtel-macros",
            format!(
                "semtel-macros = {{ path = \"{}\" }}",
                layout.workspace.join("macros").display()
            ),
        ),
        (
            "cold-tracing-attributes",
            "tracing-attributes = \"0.1\"".to_owned(),
        ),
    ] {
        layout.write_crate(name, &dependency, "//! Depends on one macro crate.\n");
        let target = layout.base.join(format!("{name}-target"));
        // Clean: a previous run's artifacts must not count.
        let _ = fs::remove_dir_all(&target);
        let cold = Layout {
            workspace: layout.workspace.clone(),
            base: layout.base.clone(),
            target,
            cargo: layout.cargo.clone(),
        };
        let t = cold.build(name, false);
        eprintln!("cold dev build of {name}: {:.1} s", secs(t));
        took.push(t);
    }
    (took[0], took[1])
}

fn report(
    options: &Options,
    rows: &[Row; 3],
    warm: &[Duration],
    cold: Option<(Duration, Duration)>,
) -> String {
    let [plain, semtel, tracing] = rows;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| crate | dev rebuild s (median of {}, min–max) | release build s (median) | dev ms / call site over plain | release ms / call site over plain |",
        options.reps
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (flavor, row) in Flavor::ALL.into_iter().zip(rows) {
        let release = row
            .release
            .map_or_else(|| "–".to_owned(), |r| format!("{:.2}", secs(r)));
        let (dev_site, release_site) = if flavor == Flavor::Plain {
            ("–".to_owned(), "–".to_owned())
        } else {
            (
                format!("{:.2}", per_site_ms(row.dev, plain.dev)),
                match (row.release, plain.release) {
                    (Some(r), Some(p)) => format!("{:.2}", per_site_ms(r, p)),
                    _ => "–".to_owned(),
                },
            )
        };
        let _ = writeln!(
            out,
            "| {} | {:.2} ({:.2}–{:.2}) | {release} | {dev_site} | {release_site} |",
            flavor.name(),
            secs(row.dev),
            secs(row.dev_min),
            secs(row.dev_max),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "semtel / tracing: dev rebuild {:.2}×, dev cost over plain {:.2}×{}",
        secs(semtel.dev) / secs(tracing.dev),
        (secs(semtel.dev) - secs(plain.dev)) / (secs(tracing.dev) - secs(plain.dev)),
        match (semtel.release, tracing.release, plain.release) {
            (Some(s), Some(t), Some(p)) => format!(
                ", release build {:.2}×, release cost over plain {:.2}×",
                secs(s) / secs(t),
                (secs(s) - secs(p)) / (secs(t) - secs(p))
            ),
            _ => String::new(),
        }
    );
    let _ = writeln!(
        out,
        "Warm-up dev builds (first includes all dependencies): {}",
        Flavor::ALL
            .into_iter()
            .zip(warm)
            .map(|(f, w)| format!("{} {:.1} s", f.name(), secs(*w)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some((semtel_macros, tracing_attributes)) = cold {
        let _ = writeln!(
            out,
            "One-off clean dev build of the macro crate with its dependencies: semtel-macros {:.2} s, tracing-attributes {:.2} s ({:+.2} s)",
            secs(semtel_macros),
            secs(tracing_attributes),
            secs(semtel_macros) - secs(tracing_attributes)
        );
    }
    out
}
