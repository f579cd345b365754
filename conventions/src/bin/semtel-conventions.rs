//! `semtel-conventions`: read a Weaver registry, generate Rust from it.
//!
//! ```text
//! semtel-conventions generate --registry DIR --out FILE [--crate PATH] [--experimental-feature NAME] [--no-deps] [--timing]
//! semtel-conventions check [--registry DIR] [--timing]   (default: the official model)
//! semtel-conventions update [--model DIR] [--timing]     (the committed official and pipeline files)
//! semtel-conventions monitoring [--registry DIR]... [--objectives FILE] --out DIR
//! ```

use semtel_conventions::codegen::{self, Builder, Monitoring, Reader, Registry};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
usage:
  semtel-conventions generate --registry DIR --out FILE [--crate PATH] [--experimental-feature NAME] [--no-deps] [--timing]
  semtel-conventions check [--registry DIR] [--no-deps] [--timing]
  semtel-conventions update [--model DIR] [--timing]
  semtel-conventions monitoring [--registry DIR]... [--objectives FILE] --out DIR

`check` reads and resolves a registry and prints its counts (default: the official
model, from SEMCONV_MODEL_DIR or shared/semconv/model beside the checkout).
`update` regenerates the committed official and pipeline files.
`monitoring` writes Prometheus alert rules, their promtool tests and Grafana
dashboards for semtel's pipeline metrics and each registry given, under DIR
(prometheus/rules, prometheus/tests, grafana/dashboards). It reads thresholds and
windows from DIR/objectives.yaml (or FILE), and writes that file with the defaults,
commented out, when it is missing.";

#[derive(Default)]
struct Args {
    registry: Option<PathBuf>,
    /// Every `--registry`, for `monitoring`.
    registries: Vec<PathBuf>,
    objectives: Option<PathBuf>,
    out: Option<PathBuf>,
    model: Option<PathBuf>,
    crate_path: Option<String>,
    feature: Option<String>,
    no_deps: bool,
    timing: bool,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args::default();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("`{name}` needs a value"));
        match arg.as_str() {
            "--registry" => {
                let dir = PathBuf::from(value("--registry")?);
                a.registries.push(dir.clone());
                a.registry = Some(dir);
            }
            "--objectives" => a.objectives = Some(value("--objectives")?.into()),
            "--out" => a.out = Some(value("--out")?.into()),
            "--model" => a.model = Some(value("--model")?.into()),
            "--crate" => a.crate_path = Some(value("--crate")?),
            "--experimental-feature" => a.feature = Some(value("--experimental-feature")?),
            "--no-deps" => a.no_deps = true,
            "--timing" => a.timing = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

fn summary(r: &Registry) -> String {
    format!(
        "{}{}{}: {} files, {} groups, {} attributes ({} enums), {} metrics",
        r.name,
        if r.version.is_empty() { "" } else { " v" },
        r.version,
        r.files,
        r.groups.len(),
        r.attributes.len(),
        r.enum_count(),
        r.metrics.len()
    )
}

fn run() -> Result<(), String> {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().ok_or(USAGE)?;
    let args = parse(argv)?;
    let timed = |what: &str, start: Instant| {
        if args.timing {
            eprintln!("{what}: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
        }
    };
    match cmd.as_str() {
        "generate" => {
            let mut b = Builder::new()
                .registry(
                    args.registry
                        .clone()
                        .ok_or("`generate` needs `--registry DIR`")?,
                )
                .out(args.out.clone().ok_or("`generate` needs `--out FILE`")?);
            if let Some(p) = &args.crate_path {
                b = b.crate_path(p.clone());
            }
            if let Some(f) = &args.feature {
                b = b.experimental_feature(f.clone());
            }
            if args.no_deps {
                b = b.no_dependencies();
            }
            let start = Instant::now();
            let r = b.generate().map_err(|e| e.to_string())?;
            timed("read, resolve and generate", start);
            eprintln!("{}", summary(&r));
        }
        "check" => {
            let dir = args
                .registry
                .clone()
                .unwrap_or_else(codegen::default_model_dir);
            let reader = if args.registry.is_none() {
                Reader::new()
                    .name("opentelemetry")
                    .version(semtel_conventions::SEMCONV_VERSION)
            } else if args.no_deps {
                Reader::new()
            } else {
                Reader::new()
                    .dependency(&semtel_conventions::official::REGISTRY)
                    .dependency(&semtel_conventions::pipeline::REGISTRY)
            };
            let start = Instant::now();
            let r = reader.read_dir(&dir).map_err(|e| e.to_string())?;
            timed("read and resolve", start);
            println!("{}", summary(&r));
        }
        "update" => {
            let model = args
                .model
                .clone()
                .unwrap_or_else(codegen::default_model_dir);
            if !model.is_dir() {
                return Err(format!(
                    "the official model is not at {} (set SEMCONV_MODEL_DIR or --model)",
                    model.display()
                ));
            }
            let start = Instant::now();
            let r = Builder::official(model)
                .out(codegen::OFFICIAL_OUT)
                .generate()
                .map_err(|e| e.to_string())?;
            timed("official: read, resolve and generate", start);
            eprintln!("{}", summary(&r));
            let r = Builder::pipeline()
                .out(codegen::PIPELINE_OUT)
                .generate()
                .map_err(|e| e.to_string())?;
            eprintln!("{}", summary(&r));
        }
        "monitoring" => {
            let out = args.out.clone().ok_or("`monitoring` needs `--out DIR`")?;
            // The headers name the command as typed: relative paths stay relative.
            let mut command = String::from("semtel-conventions monitoring");
            let mut m = Monitoring::new();
            for dir in &args.registries {
                command.push_str(&format!(" --registry {}", dir.display()));
                m = m.registry(dir.clone());
            }
            if let Some(f) = &args.objectives {
                command.push_str(&format!(" --objectives {}", f.display()));
                m = m.objectives_file(f.clone());
            }
            command.push_str(&format!(" --out {}", out.display()));
            let start = Instant::now();
            let written = m
                .command(format!("`{command}`"))
                .out(out)
                .generate()
                .map_err(|e| e.to_string())?;
            timed("read and generate", start);
            if written.is_empty() {
                eprintln!("up to date");
            }
            for f in written {
                eprintln!("wrote {}", f.display());
            }
        }
        "-h" | "--help" | "help" => println!("{USAGE}"),
        other => return Err(format!("unknown command `{other}`\n{USAGE}")),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
