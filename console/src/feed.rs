//! Background tasks that keep the console's data fresh: the snapshot long poll (which also
//! tells whether the gateway is reachable, and asks who is signed in after each connection)
//! and the periodic refresh of the objection queue, the commitments' queue and the recent audit
//! entries. They send
//! [`Event::Data`] and end when the loop is gone.

use std::time::Duration;

use chrono::NaiveTime;
use tokio::sync::mpsc::Sender;

use crate::action::Effect;
use crate::client::AdminApi;
use crate::event::{Data, Event};
use crate::perform::{perform, AUDIT_LIMIT};

/// First wait after a failed poll; doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How often the objection queue and the audit entries are fetched again.
pub const LIST_REFRESH: Duration = Duration::from_secs(3);
/// How often the plan's targets are fetched again (the nodes add their counts every 5 s).
pub const KPI_REFRESH: Duration = Duration::from_secs(15);

/// Follows the gateway's snapshots for as long as `events` is open: each snapshot is sent on,
/// and a failure to reach the gateway is sent as [`Data::Disconnected`] before retrying with
/// back-off. After each (re)connection it asks who the token signs in ([`Data::SignedIn`]):
/// the gateway may have restarted, or the operator's roles changed. `clock` gives the local
/// time of day for the banner.
pub async fn follow_snapshots<A: AdminApi>(
    api: A,
    events: Sender<Event>,
    clock: fn() -> NaiveTime,
) {
    let mut after = None;
    let mut backoff = FIRST_BACKOFF;
    let mut down_since = None;
    let mut signed_in = false;
    loop {
        match api.snapshot(after).await {
            Ok(snapshot) => {
                after = Some(snapshot.generation);
                backoff = FIRST_BACKOFF;
                down_since = None;
                if !signed_in {
                    let who = api.whoami().await.map_err(|err| err.to_string());
                    signed_in = who.is_ok();
                    if events.send(Event::Data(Data::SignedIn(who))).await.is_err() {
                        return;
                    }
                }
                if events
                    .send(Event::Data(Data::Snapshot(Box::new(snapshot))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(err) => {
                // A restarted gateway counts generations from the start again.
                after = None;
                signed_in = false;
                let since = *down_since.get_or_insert_with(clock);
                let data = Data::Disconnected {
                    since,
                    error: err.to_string(),
                };
                if events.send(Event::Data(data)).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Fetches the objection queue, the commitments' queue and the recent audit entries every
/// [`LIST_REFRESH`].
pub async fn refresh_lists<A: AdminApi>(api: A, events: Sender<Event>) {
    let mut every = tokio::time::interval(LIST_REFRESH);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let objections = perform(&api, Effect::RefreshObjections).await;
        let commitments = perform(&api, Effect::RefreshCommitments).await;
        let audit = Data::AuditRecent(
            api.audit_recent(AUDIT_LIMIT)
                .await
                .map_err(|err| err.to_string()),
        );
        for data in [objections, commitments, audit] {
            if events.send(Event::Data(data)).await.is_err() {
                return;
            }
        }
    }
}

/// Fetches the plan's targets measured from traffic every [`KPI_REFRESH`].
pub async fn refresh_kpis<A: AdminApi>(api: A, events: Sender<Event>) {
    let mut every = tokio::time::interval(KPI_REFRESH);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let kpis = Data::Kpis(api.kpis().await.map_err(|err| err.to_string()));
        if events.send(Event::Data(kpis)).await.is_err() {
            return;
        }
    }
}
