//! The Commitments tab (告知承诺): its screens as `TestBackend` snapshots, and the key sequences
//! that claim and resolve a commitment, with what the fake admin API receives.
#![allow(clippy::unwrap_used)]

mod support;

use console::action::Effect;
use console::event::{Data, Event};
use console::state::{CommitmentPane, Loadable, Overlay, State, StatusKind, Tab};
use console::update::update;
use crossterm::event::KeyCode;
use support::*;
use wire::admin_api::{CommitmentAction, Role, WhoAmI};

/// The commitments' state, signed in as `wang`, a department's checker.
fn as_checker() -> State {
    let mut state = commitments_state();
    state.operator = Some(WhoAmI {
        name: "wang".to_string(),
        roles: vec![Role::Viewer, Role::CommitmentChecker],
    });
    state
}

#[test]
fn queue_by_department_with_deadlines_and_overdue_marks() {
    insta::assert_snapshot!(screen(&as_checker(), 120, 16));
}

#[test]
fn detail_with_history() {
    let mut state = as_checker();
    type_keys(&mut state, "j");
    state.commitment = Some(CommitmentPane {
        id: "cm-3".into(),
        data: Loadable::Ready(commitment_detail("cm-3")),
    });
    insta::assert_snapshot!(screen(&state, 130, 24));
}

#[test]
fn before_any_data_and_empty() {
    let mut state = empty_state();
    state.tab = Tab::Commitments;
    insta::assert_snapshot!("before_any_data", screen(&state, 80, 6));
    state.commitments = Some(Vec::new());
    insta::assert_snapshot!("empty", screen(&state, 80, 6));
}

#[test]
fn overdue_rows_are_red() {
    let terminal = terminal(&as_checker(), 120, 16);
    let buffer = terminal.backend().buffer();
    // The queue's first row after the header: cm-2 (civil-affairs) is not overdue; cm-3 is.
    let row_of = |id: &str| {
        (0..16)
            .find(|&y| {
                (0..120)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .contains(id)
            })
            .unwrap()
    };
    let bang = (0..120)
        .find(|&x| buffer[(x, row_of("cm-3"))].symbol() == "!")
        .expect("an overdue mark");
    assert_eq!(
        buffer[(bang, row_of("cm-3"))].fg,
        ratatui::style::Color::Red
    );
}

#[tokio::test]
async fn marking_the_selected_commitment_false_needs_a_reason_then_sends_it() {
    let mut state = as_checker();
    let api = FakeApi::default();
    // Row order: cm-2, cm-3, cm-1, cm-4; `j` selects cm-3.
    let mut effects = type_keys(&mut state, "jf");
    effects.extend(press(&mut state, KeyCode::Enter));
    assert!(effects.is_empty(), "{effects:?}");
    let status = state.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert!(
        status.text.contains("reason is required"),
        "{}",
        status.text
    );
    assert!(matches!(state.overlay, Some(Overlay::Prompt(_))));

    type_keys(&mut state, "no lease at that address");
    press(&mut state, KeyCode::Enter);
    match &state.overlay {
        Some(Overlay::Confirm(confirm)) => {
            assert_eq!(confirm.question, "Mark cm-3 as false? y/n")
        }
        other => panic!("expected the confirm step, got {other:?}"),
    }
    let effects = type_keys(&mut state, "y");
    let expected = CommitmentAction::MarkFalse {
        reason: "no lease at that address".to_string(),
    };
    assert_eq!(
        effects,
        vec![Effect::ResolveCommitment {
            id: "cm-3".to_string(),
            action: expected.clone()
        }]
    );
    settle(&mut state, &api, effects).await;
    assert_eq!(
        *api.resolutions.lock().unwrap(),
        vec![("cm-3".to_string(), expected)]
    );
    // The queue and the counts are fetched again after the change.
    let calls = api.calls.lock().unwrap().clone();
    assert_eq!(
        calls[calls.len() - 2..],
        ["commitments 200", "commitment_counts"]
    );
    assert_eq!(state.status.clone().unwrap().text, "cm-3 marked false");
}

#[tokio::test]
async fn confirming_takes_an_optional_note() {
    let mut state = as_checker();
    let api = FakeApi::default();
    let mut effects = type_keys(&mut state, "v");
    effects.extend(press(&mut state, KeyCode::Enter));
    effects.extend(type_keys(&mut state, "y"));
    assert_eq!(
        effects,
        vec![Effect::ResolveCommitment {
            id: "cm-2".to_string(),
            action: CommitmentAction::Confirm { note: None },
        }]
    );
    settle(&mut state, &api, effects).await;
    assert_eq!(state.status.clone().unwrap().text, "cm-2 confirmed");
}

#[tokio::test]
async fn claiming_takes_the_next_of_the_selected_rows_department_and_opens_it() {
    let mut state = as_checker();
    let api = FakeApi::default();
    // cm-3 is public-security's: its oldest pending one is cm-3 itself.
    let effects = type_keys(&mut state, "jc");
    assert!(effects.is_empty(), "nothing before the confirm step");
    match &state.overlay {
        Some(Overlay::Confirm(confirm)) => assert_eq!(
            confirm.question,
            "Claim the next pending commitment of public-security? y/n"
        ),
        other => panic!("expected the confirm step, got {other:?}"),
    }
    let effects = type_keys(&mut state, "y");
    assert_eq!(
        effects,
        vec![Effect::ClaimCommitment {
            department: "public-security".to_string()
        }]
    );
    settle(&mut state, &api, effects).await;
    let pane = state.commitment.clone().expect("the claimed one is open");
    assert_eq!(pane.id, "cm-3");
    match pane.data {
        Loadable::Ready(detail) => assert_eq!(detail.commitment.assignee.as_deref(), Some("mei")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        state.status.clone().unwrap().text,
        "cm-3 claimed: now in check"
    );
    // Esc closes the pane, then the next Esc would quit.
    press(&mut state, KeyCode::Esc);
    assert!(state.commitment.is_none() && !state.quit);
}

#[tokio::test]
async fn an_empty_queue_says_so() {
    let mut state = as_checker();
    let api = FakeApi {
        empty_queues: vec!["civil-affairs".to_string()],
        ..FakeApi::default()
    };
    let effects = type_keys(&mut state, "cy");
    settle(&mut state, &api, effects).await;
    assert!(state.commitment.is_none());
    assert_eq!(
        state.status.clone().unwrap().text,
        "civil-affairs: no pending commitment to claim"
    );
}

#[test]
fn without_the_role_or_read_only_nothing_is_asked() {
    // mei handles objections, not commitments.
    let mut state = commitments_state();
    let effects = type_keys(&mut state, "cvf");
    assert!(effects.is_empty() && state.overlay.is_none());
    assert_eq!(
        state.status.clone().unwrap().text,
        "mei: this needs the `commitment-checker` role"
    );
    let mut state = as_checker();
    state.read_only = true;
    assert!(type_keys(&mut state, "c").is_empty());
    assert!(state.status.clone().unwrap().text.starts_with("read-only"));
}

#[tokio::test]
async fn enter_loads_the_history_and_the_feed_keeps_the_selection() {
    let mut state = as_checker();
    let api = FakeApi::default();
    type_keys(&mut state, "jj");
    let effects = press(&mut state, KeyCode::Enter);
    assert_eq!(effects, vec![Effect::LoadCommitment("cm-1".to_string())]);
    settle(&mut state, &api, effects).await;
    assert!(matches!(
        state.commitment.as_ref().map(|p| &p.data),
        Some(Loadable::Ready(_))
    ));
    // A refresh that reorders the queue keeps the cursor on cm-1.
    let mut reordered = commitments();
    reordered.retain(|c| c.id != "cm-2");
    update(
        &mut state,
        Event::Data(Data::Commitments(Ok((
            wire::admin_api::CommitmentPage {
                items: reordered,
                next: None,
            },
            commitment_counts(),
        )))),
    );
    assert_eq!(state.selected_commitment().unwrap().id, "cm-1");
}
