//! Every verification leaves a hash-chained audit entry: the answer carries its place in the
//! chain, the entries are committed before the answer, and `gateway audit verify` finds the
//! chain intact after the gateway has stopped.

use gateway::commands::audit::{verify, NodeArgs, Verified, VerifyArgs};
use testkit::{Holder, TestGateway};
use wire::api::Verdict;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_is_committed_to_the_chain_and_the_chain_verifies() {
    let gw = TestGateway::start().await;
    let senior = Holder::passing("park-entry-senior");
    let mut seqs = Vec::new();
    for _ in 0..5 {
        let answer = gw.verify_holder(&senior, "park-entry-senior").await;
        assert_eq!(answer.verdict, Verdict::Pass, "{answer:?}");
        seqs.push(answer.audit_seq.expect("the answer names its audit entry"));
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5], "one entry per answer, in order");

    // Committed before the answer: readable now, with the holder only as a keyed hash.
    let store = gw.gateway.service.registry.store().clone();
    let entries = store.audit_range(1, 10).await.expect("read the log");
    assert_eq!(entries.len(), 5);
    assert!(entries
        .iter()
        .all(|e| e.scenario == "park-entry-senior" && e.verdict == "pass"));
    assert_eq!(
        entries[0].subject_hash,
        gw.gateway.service.subjects.hash(&senior.handle)
    );
    assert!(entries.iter().all(|e| e.venue == "jinan-baotu-spring-park"));

    let data_dir = gw.data_dir().to_path_buf();
    let _kept = gw.stop().await;
    let mut out = Vec::new();
    let args = VerifyArgs {
        node: NodeArgs {
            config: None,
            store: None,
            data_dir: Some(data_dir),
        },
        anchor: vec![],
        node_keys: vec![],
        uncovered_after: None,
    };
    let verdict = verify(&args, &mut out).await.expect("the check runs");
    let report = String::from_utf8(out).expect("utf-8");
    assert_eq!(verdict, Verified::Intact, "{report}");
    assert!(report.contains("5 entries checked"), "{report}");
    assert!(report.contains("checkpoints verified"), "{report}");
}
