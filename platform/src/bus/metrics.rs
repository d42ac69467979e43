//! The command path's metrics: commands by outcome, their latency, events appended, snapshots.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Metric names of the write path, defined once.
pub mod names {
    /// Commands by aggregate, command and result.
    pub const COMMANDS: &str = "freshline_commands_total";
    /// Command latency by aggregate and command.
    pub const COMMAND_DURATION: &str = "freshline_command_duration_seconds";
    /// Events appended by aggregate.
    pub const EVENTS_APPENDED: &str = "freshline_events_appended_total";
    /// Snapshots by aggregate and outcome (`loaded`, `written`, `unusable`, `failed`).
    pub const SNAPSHOTS: &str = "freshline_snapshots_total";
}

/// Metrics of the command path.
#[derive(Debug, Clone)]
pub struct CommandMetrics {
    pub(super) commands: IntCounterVec,
    pub(super) duration: HistogramVec,
    pub(super) appended: IntCounterVec,
    pub(super) snapshots: IntCounterVec,
}

impl CommandMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use crate::metrics::register;
        Ok(Self {
            commands: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::COMMANDS, "Commands by aggregate, command and result"),
                    &["aggregate", "command", "result"],
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(names::COMMAND_DURATION, "Command latency")
                        .buckets(crate::metrics::LATENCY_BUCKETS.to_vec()),
                    &["aggregate", "command"],
                )?,
            )?,
            appended: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::EVENTS_APPENDED, "Events appended"),
                    &["aggregate"],
                )?,
            )?,
            snapshots: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::SNAPSHOTS, "Snapshots by aggregate and outcome"),
                    &["aggregate", "outcome"],
                )?,
            )?,
        })
    }

    /// Records `commands` commands of one call: accepted with the events they appended, or
    /// not with their outcome label; and the call's latency since `started`.
    pub(super) fn record(
        &self,
        aggregate: &str,
        name: &str,
        result: Result<usize, &'static str>,
        commands: usize,
        started: std::time::Instant,
    ) {
        let outcome = result.map_or_else(|o| o, |_| "accepted");
        self.commands
            .with_label_values(&[aggregate, name, outcome])
            .inc_by(commands as u64);
        self.duration
            .with_label_values(&[aggregate, name])
            .observe(started.elapsed().as_secs_f64());
        if let Ok(appended) = result {
            self.appended
                .with_label_values(&[aggregate])
                .inc_by(appended as u64);
        }
    }
}
