//! Which `log` records a session exports.

use tracing_subscriber::filter::Targets;

/// Which `log` records a session exports: its `RUST_LOG` directives read
/// as targets and levels, and the transport filter.
pub(crate) struct LogFilter {
    targets: Targets,
    transport: crate::filter::TransportFilter,
}

impl LogFilter {
    pub(crate) fn new(directives: &str) -> Self {
        // Directives `Targets` cannot read (span fields) are left out.
        let mut targets: Vec<_> = directives
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .filter_map(|d| d.parse::<Targets>().ok())
            .flat_map(|t| {
                let default = t.default_level().map(|level| (String::new(), level));
                t.into_iter().chain(default).collect::<Vec<_>>()
            })
            .collect();
        if targets.is_empty() {
            targets.push((String::new(), tracing::level_filters::LevelFilter::INFO));
        }
        let targets = targets
            .into_iter()
            .fold(Targets::new(), |t, (target, level)| {
                if target.is_empty() {
                    t.with_default(level)
                } else {
                    t.with_target(target, level)
                }
            });
        Self {
            targets,
            transport: crate::filter::TransportFilter::new(directives),
        }
    }

    pub(crate) fn enabled(&self, target: &str, level: log::Level) -> bool {
        !self.transport.is_off(target) && self.targets.would_enable(target, &tracing_level(level))
    }
}

fn tracing_level(level: log::Level) -> tracing::Level {
    match level {
        log::Level::Error => tracing::Level::ERROR,
        log::Level::Warn => tracing::Level::WARN,
        log::Level::Info => tracing::Level::INFO,
        log::Level::Debug => tracing::Level::DEBUG,
        log::Level::Trace => tracing::Level::TRACE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_filtered_by_target_and_level_like_events() {
        let f = LogFilter::new("warn,warehouse=debug,app[job]=trace");
        assert!(f.enabled("warehouse::load", log::Level::Debug));
        assert!(!f.enabled("warehouse", log::Level::Trace));
        assert!(f.enabled("other", log::Level::Warn));
        assert!(!f.enabled("other", log::Level::Info));
        // Transport crates are off unless named, whatever the level.
        assert!(!f.enabled("reqwest::connect", log::Level::Error));
        assert!(!LogFilter::new("").enabled("x", log::Level::Debug));
        assert!(LogFilter::new("").enabled("x", log::Level::Info));
        assert!(LogFilter::new("reqwest=info").enabled("reqwest::connect", log::Level::Info));
    }
}
