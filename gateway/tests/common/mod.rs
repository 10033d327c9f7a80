//! What the audit trail's test files share: an entry to append, and a way to tamper with the
//! store behind the gateway's back.

use gateway::audit::AuditRecord;
use store::Store;

/// The `i`-th entry of `node`, with a verification id no other run repeats.
pub fn record(node: &str, i: usize) -> AuditRecord {
    AuditRecord {
        at: chrono::Utc::now(),
        node: node.into(),
        venue: format!("venue-{}", i % 7),
        scenario: "hotel-checkin".into(),
        certificates: vec!["id-card".into()],
        verdict: "pass".into(),
        requirement_verdicts: vec![("id-card".into(), "pass".into())],
        latency_us: 900,
        subject_hash: [u8::try_from(i % 251).expect("small"); 32],
        verification_id: format!("{node}-{i}-{}", rand::random::<u32>()),
        means: Default::default(),
        presented_by: None,
    }
}

/// Runs `sql` on the store directly, as someone with access to the database would; how many
/// rows it changed.
pub async fn tamper_rows(store: &Store, sql: &str) -> u64 {
    match store {
        Store::Sqlite(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        Store::Postgres(pool) => sqlx::query(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
