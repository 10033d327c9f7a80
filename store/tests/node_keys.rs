//! The nodes' checkpoint keys on both engines: registered once, listed, retired on rotation.

use store::testing::Fixture;
use store::NodeKey;

store::engine_suite!(keys_are_registered_once_listed_and_retired);

fn key(node: &str, kid: &str) -> NodeKey {
    NodeKey {
        node: node.into(),
        kid: kid.into(),
        public_key: format!("[[key]]\nkid = \"{kid}\"\n"),
        registered_at: store::now(),
        retired_at: None,
    }
}

async fn keys_are_registered_once_listed_and_retired(fx: Fixture) {
    let store = fx.open().await;
    assert!(store.node_keys().await.expect("list").is_empty());
    let a1 = key("node-a", "a1");
    store.register_node_key(&a1).await.expect("register");
    // A restart registers the same key again: nothing changes.
    let mut again = a1.clone();
    again.registered_at = store::now();
    store.register_node_key(&again).await.expect("again");
    store
        .register_node_key(&key("node-b", "b1"))
        .await
        .expect("register");
    assert_eq!(
        store.active_node_keys("node-a").await.expect("active"),
        vec![a1.clone()]
    );

    let retired_at = store::now();
    assert_eq!(
        store
            .retire_node_keys("node-a", retired_at)
            .await
            .expect("retire"),
        1
    );
    let a2 = key("node-a", "a2");
    store.register_node_key(&a2).await.expect("register");
    assert_eq!(
        store.active_node_keys("node-a").await.expect("active"),
        vec![a2.clone()]
    );
    let all = store.node_keys().await.expect("list");
    assert_eq!(all.len(), 3);
    let old = all.iter().find(|k| k.kid == "a1").expect("kept");
    assert_eq!(old.retired_at, Some(retired_at));
    assert_eq!(
        store
            .active_node_keys("node-b")
            .await
            .expect("active")
            .len(),
        1
    );
}
