//! Prometheus metrics: decisions by outcome, decision latency, HTTP errors.
//! Reload counts and the version come from the store's status when rendered.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreStatus;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.1,
];

/// Writes one single-sample metric family: HELP, TYPE and the value.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The metrics of an entity source (`serve --entities-from`).
pub fn source(out: &mut String, s: &crate::source::SourceStatus) {
    family(
        out,
        "teamgate_source_up",
        "gauge",
        "1 while the entity source is connected and followed.",
        u8::from(s.up),
    );
    family(
        out,
        "teamgate_source_stale_seconds",
        "gauge",
        "Seconds since the entity data was last known to match its source (-1 before the first read).",
        s.stale_seconds.unwrap_or(-1.0),
    );
    family(
        out,
        "teamgate_source_reconnects_total",
        "counter",
        "Connections to the entity source lost and made again.",
        s.reconnects,
    );
    family(
        out,
        "teamgate_source_changes_total",
        "counter",
        "Changes read from the entity source and applied.",
        s.changes,
    );
    family(
        out,
        "teamgate_source_rejected_rows",
        "gauge",
        "Rows of the entity source the integrity rules refuse (kept aside).",
        s.rejected_rows,
    );
}

/// Counters, updated lock-free by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    allow: AtomicU64,
    deny: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_nanos_sum: AtomicU64,
    http_400: AtomicU64,
    http_401: AtomicU64,
    http_408: AtomicU64,
    http_413: AtomicU64,
    data_changes: AtomicU64,
    data_refused: AtomicU64,
}

impl Metrics {
    /// Records one decision and the time it took.
    pub fn decision(&self, allowed: bool, nanos: u64) {
        if allowed { &self.allow } else { &self.deny }.fetch_add(1, Ordering::Relaxed);
        self.latency_nanos_sum.fetch_add(nanos, Ordering::Relaxed);
        let secs = nanos as f64 / 1e9;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records an error answer.
    pub fn error(&self, status: u16) {
        match status {
            400 => &self.http_400,
            401 => &self.http_401,
            408 => &self.http_408,
            413 => &self.http_413,
            _ => return,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Records a data API change, taken or refused.
    pub fn data_change(&self, taken: bool) {
        if taken {
            &self.data_changes
        } else {
            &self.data_refused
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, status: &StoreStatus) -> String {
        let allow = self.allow.load(Ordering::Relaxed);
        let deny = self.deny.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(out, "# HELP teamgate_decisions_total Decisions by outcome.");
        let _ = writeln!(out, "# TYPE teamgate_decisions_total counter");
        let _ = writeln!(
            out,
            "teamgate_decisions_total{{decision=\"allow\"}} {allow}"
        );
        let _ = writeln!(out, "teamgate_decisions_total{{decision=\"deny\"}} {deny}");
        let _ = writeln!(
            out,
            "# HELP teamgate_decision_duration_seconds Time to decide one request, in process."
        );
        let _ = writeln!(out, "# TYPE teamgate_decision_duration_seconds histogram");
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "teamgate_decision_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "teamgate_decision_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            allow + deny
        );
        let sum = self.latency_nanos_sum.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "teamgate_decision_duration_seconds_sum {sum}");
        let _ = writeln!(
            out,
            "teamgate_decision_duration_seconds_count {}",
            allow + deny
        );
        let _ = writeln!(
            out,
            "# HELP teamgate_reloads_total Reloads that swapped in a new snapshot."
        );
        let _ = writeln!(out, "# TYPE teamgate_reloads_total counter");
        let _ = writeln!(out, "teamgate_reloads_total {}", status.reloads);
        let _ = writeln!(out, "# HELP teamgate_reload_failures_total Reloads refused (the last good snapshot kept serving).");
        let _ = writeln!(out, "# TYPE teamgate_reload_failures_total counter");
        let _ = writeln!(out, "teamgate_reload_failures_total {}", status.failures);
        let _ = writeln!(
            out,
            "# HELP teamgate_last_reload_failed 1 while the last reload failed."
        );
        let _ = writeln!(out, "# TYPE teamgate_last_reload_failed gauge");
        let _ = writeln!(
            out,
            "teamgate_last_reload_failed {}",
            u8::from(status.last_error.is_some())
        );
        let _ = writeln!(
            out,
            "# HELP teamgate_policy_version_info The snapshot version serving."
        );
        let _ = writeln!(out, "# TYPE teamgate_policy_version_info gauge");
        let _ = writeln!(
            out,
            "teamgate_policy_version_info{{version=\"{}\"}} 1",
            status.version
        );
        let (hits, misses) = crate::decision_cache_counts();
        let _ = writeln!(out, "# HELP teamgate_decision_cache_total Decisions answered from the decision cache (hit) or computed (miss).");
        let _ = writeln!(out, "# TYPE teamgate_decision_cache_total counter");
        let _ = writeln!(
            out,
            "teamgate_decision_cache_total{{result=\"hit\"}} {hits}"
        );
        let _ = writeln!(
            out,
            "teamgate_decision_cache_total{{result=\"miss\"}} {misses}"
        );
        let _ = writeln!(out, "# HELP teamgate_connections_refused_total Connections closed on arrival because --max-connections were open.");
        let _ = writeln!(out, "# TYPE teamgate_connections_refused_total counter");
        let _ = writeln!(
            out,
            "teamgate_connections_refused_total {}",
            super::listen::REFUSED_CONNECTIONS.load(Ordering::Relaxed)
        );
        if let Some(w) = &status.watcher {
            let _ = writeln!(
                out,
                "# HELP teamgate_watcher_up 1 while the file watcher runs with its watches set up."
            );
            let _ = writeln!(out, "# TYPE teamgate_watcher_up gauge");
            let _ = writeln!(out, "teamgate_watcher_up {}", u8::from(w.up));
            let _ = writeln!(
                out,
                "# HELP teamgate_watcher_failures_total Reload panics and watch failures."
            );
            let _ = writeln!(out, "# TYPE teamgate_watcher_failures_total counter");
            let _ = writeln!(out, "teamgate_watcher_failures_total {}", w.failures);
            let last = w
                .last_check
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            let _ = writeln!(out, "# HELP teamgate_bundle_last_check_timestamp_seconds When the watcher last looked at the bundle.");
            let _ = writeln!(
                out,
                "# TYPE teamgate_bundle_last_check_timestamp_seconds gauge"
            );
            let _ = writeln!(out, "teamgate_bundle_last_check_timestamp_seconds {last}");
        }
        let _ = writeln!(
            out,
            "# HELP teamgate_data_changes_total Data API changes, taken or refused."
        );
        let _ = writeln!(out, "# TYPE teamgate_data_changes_total counter");
        for (outcome, c) in [
            ("taken", &self.data_changes),
            ("refused", &self.data_refused),
        ] {
            let _ = writeln!(
                out,
                "teamgate_data_changes_total{{outcome=\"{outcome}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP teamgate_data_version_info The entity data version serving, and the changes over the entity files."
        );
        let _ = writeln!(out, "# TYPE teamgate_data_version_info gauge");
        let _ = writeln!(
            out,
            "teamgate_data_version_info{{data_version=\"{}\",changes=\"{}\"}} 1",
            status.data_version, status.data_changes
        );
        let _ = writeln!(
            out,
            "# HELP teamgate_http_errors_total Error answers by status."
        );
        let _ = writeln!(out, "# TYPE teamgate_http_errors_total counter");
        for (code, c) in [
            (400, &self.http_400),
            (401, &self.http_401),
            (408, &self.http_408),
            (413, &self.http_413),
        ] {
            let _ = writeln!(
                out,
                "teamgate_http_errors_total{{status=\"{code}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out
    }
}
