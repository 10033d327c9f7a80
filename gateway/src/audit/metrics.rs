//! The audit writer's counters as Prometheus metrics, read at each scrape: how much it commits
//! and in how many batches, how often it retries or re-chains (`conflicts`: another process
//! appended to this node's chain — never, while node names are leased), replays found at the
//! commit, refusals of a full backlog, and checkpoints.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::writer::AuditWriter;

/// The collector of one writer's metrics.
#[derive(Debug)]
pub struct WriterMetrics(pub AuditWriter);

impl Collector for WriterMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        // Counter names are given without `_total`: the encoder appends it.
        let counters = [
            (
                "mz_audit_entries_committed",
                "Audit entries this node committed to its chain",
                stats.committed,
            ),
            (
                "mz_audit_batches_committed",
                "Group commits of the audit writer (entries per commit = entries / batches)",
                stats.batches,
            ),
            (
                "mz_audit_commit_retries",
                "Audit commits retried after the store failed or was unreachable",
                stats.retries,
            ),
            (
                "mz_audit_chain_conflicts",
                "Audit batches re-chained because another process appended to this node's chain",
                stats.conflicts,
            ),
            (
                "mz_audit_replays",
                "Entries whose code another node (or this one, before a restart) spent first, committed as refusals",
                stats.replays,
            ),
            (
                "mz_audit_backlogged",
                "Verifications refused because the audit backlog was full",
                stats.backlogged,
            ),
            (
                "mz_audit_checkpoints",
                "Checkpoints of this node's chain signed and stored",
                stats.checkpoints,
            ),
            (
                "mz_audit_checkpoint_failures",
                "Checkpoints that could not be written",
                stats.checkpoint_failures,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let backlog = ConstGauge::new(i64::try_from(stats.backlog).unwrap_or(i64::MAX));
        backlog.encode(encoder.encode_descriptor(
            "mz_audit_backlog",
            "Audit entries accepted and not yet committed",
            None,
            backlog.metric_type(),
        )?)?;
        Ok(())
    }
}
