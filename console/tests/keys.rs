//! Scripted key sequences through `update`: the effects they ask for, and what a fake admin
//! API receives when those effects are carried out.
#![allow(clippy::unwrap_used)]

mod support;

use console::action::Effect;
use console::event::{Data, Event};
use console::state::{Overlay, StatusKind, Tab};
use console::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use support::*;
use wire::admin_api::ObjectionAction;
use wire::problem::Problem;

#[tokio::test]
async fn resolving_the_second_objection_as_corrected_sends_exactly_that() {
    let mut state = full_state();
    let api = FakeApi::default();
    let mut effects = type_keys(&mut state, "3jc");
    effects.extend(type_keys(&mut state, "address fixed"));
    effects.extend(press(&mut state, KeyCode::Enter));
    assert!(
        effects.is_empty(),
        "nothing is sent before the confirm step: {effects:?}"
    );
    match &state.overlay {
        Some(Overlay::Confirm(confirm)) => {
            assert_eq!(confirm.question, "Resolve obj-1 as corrected? y/n")
        }
        other => panic!("expected the confirm step, got {other:?}"),
    }
    let effects = type_keys(&mut state, "y");
    let expected = ObjectionAction::ResolveCorrected {
        actor: None,
        note: "address fixed".to_string(),
        correction: None,
    };
    assert_eq!(
        effects,
        vec![Effect::Execute {
            id: "obj-1".to_string(),
            action: expected.clone()
        }]
    );
    assert!(state.overlay.is_none());

    settle(&mut state, &api, effects).await;
    assert_eq!(
        *api.acts.lock().unwrap(),
        vec![("obj-1".to_string(), expected)]
    );
    // The list is fetched again after the action.
    assert_eq!(api.calls.lock().unwrap().last().unwrap(), "objections 200");
    let status = state.status.clone().unwrap();
    assert_eq!(
        (status.kind, status.text.as_str()),
        (StatusKind::Info, "obj-1 resolved as corrected")
    );
}

#[test]
fn n_at_the_confirm_step_sends_nothing() {
    let mut state = full_state();
    let mut effects = type_keys(&mut state, "3uright record");
    effects.extend(press(&mut state, KeyCode::Enter));
    effects.extend(type_keys(&mut state, "n"));
    assert!(effects.is_empty());
    assert!(state.overlay.is_none());
    assert_eq!(state.status.unwrap().text, "cancelled");
}

#[test]
fn reject_needs_a_reason() {
    let mut state = full_state();
    type_keys(&mut state, "3x");
    let effects = press(&mut state, KeyCode::Enter);
    assert!(effects.is_empty());
    assert!(
        matches!(state.overlay, Some(Overlay::Prompt(_))),
        "the prompt stays open"
    );
    assert_eq!(state.status.clone().unwrap().text, "a reason is required");

    type_keys(&mut state, "duplicate");
    press(&mut state, KeyCode::Enter);
    let effects = type_keys(&mut state, "y");
    let expected = ObjectionAction::Reject {
        actor: None,
        reason: "duplicate".to_string(),
    };
    // The first row of the queue is the overdue obj-2.
    assert_eq!(
        effects,
        vec![Effect::Execute {
            id: "obj-2".to_string(),
            action: expected
        }]
    );
}

#[test]
fn assign_asks_for_an_assignee_and_esc_cancels_the_prompt() {
    let mut state = full_state();
    type_keys(&mut state, "3a");
    press(&mut state, KeyCode::Esc);
    assert!(state.overlay.is_none());
    assert!(!state.quit, "Esc closes the prompt, it does not quit");

    type_keys(&mut state, "awang");
    press(&mut state, KeyCode::Enter);
    let effects = type_keys(&mut state, "y");
    let expected = ObjectionAction::Assign {
        actor: None,
        assignee: "wang".to_string(),
    };
    assert_eq!(
        effects,
        vec![Effect::Execute {
            id: "obj-2".to_string(),
            action: expected
        }]
    );
}

#[test]
fn read_only_blocks_every_action() {
    let mut state = full_state();
    state.read_only = true;
    for verb in ["a", "c", "u", "x"] {
        let effects = type_keys(&mut state, &format!("3{verb}"));
        assert!(effects.is_empty());
        assert!(state.overlay.is_none(), "{verb} opened a prompt");
        assert!(state.status.clone().unwrap().text.starts_with("read-only"));
    }
}

#[tokio::test]
async fn a_refused_action_shows_the_problem_and_refreshes_the_list() {
    let mut state = full_state();
    let api = FakeApi {
        refuse_with: Some(Problem::new(
            409,
            "objection.workflow",
            "conflict",
            Some("already resolved".into()),
        )),
        ..FakeApi::default()
    };
    let mut effects = type_keys(&mut state, "3ucorrect as filed");
    effects.extend(press(&mut state, KeyCode::Enter));
    effects.extend(type_keys(&mut state, "y"));
    settle(&mut state, &api, effects).await;
    let status = state.status.clone().unwrap();
    assert_eq!(status.kind, StatusKind::Error);
    assert_eq!(status.text, "obj-2: conflict (409): already resolved");
    assert_eq!(
        api.calls.lock().unwrap().as_slice(),
        ["act obj-2", "objections 200"]
    );
}

#[tokio::test]
async fn enter_opens_the_detail_with_history_and_actions_target_it() {
    let mut state = full_state();
    let api = FakeApi::default();
    let mut effects = type_keys(&mut state, "3jj");
    effects.extend(press(&mut state, KeyCode::Enter));
    assert_eq!(effects, vec![Effect::LoadObjection("obj-3".to_string())]);
    settle(&mut state, &api, effects).await;
    let detail = state.detail.clone().unwrap();
    assert!(matches!(detail.data, console::state::Loadable::Ready(ref d) if d.history.len() == 2));

    press(&mut state, KeyCode::Esc);
    assert!(
        state.detail.is_none() && !state.quit,
        "Esc closes the detail first"
    );
}

#[test]
fn question_mark_toggles_the_help() {
    let mut state = full_state();
    type_keys(&mut state, "?");
    assert_eq!(state.overlay, Some(Overlay::Help));
    type_keys(&mut state, "?");
    assert_eq!(state.overlay, None);
    type_keys(&mut state, "?");
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.overlay, None);
    assert!(!state.quit);
}

#[test]
fn q_quits_and_esc_quits_at_the_top() {
    let mut state = full_state();
    type_keys(&mut state, "q");
    assert!(state.quit);

    let mut state = full_state();
    press(&mut state, KeyCode::Esc);
    assert!(state.quit);

    let mut state = full_state();
    update(
        &mut state,
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(state.quit);
}

#[test]
fn slash_filters_the_list_as_it_is_typed() {
    let mut state = full_state();
    type_keys(&mut state, "2/edu");
    assert_eq!(state.visible_departments().len(), 1);
    press(&mut state, KeyCode::Enter);
    assert!(state.overlay.is_none());
    assert_eq!(
        state.list(Tab::Departments).filter,
        "edu",
        "Enter keeps the filter"
    );
    press(&mut state, KeyCode::Esc);
    assert_eq!(
        state.visible_departments().len(),
        4,
        "Esc clears the filter"
    );
    assert!(!state.quit);

    type_keys(&mut state, "3/obj-3");
    let ids: Vec<&str> = state
        .visible_objections()
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(ids, ["obj-3"]);
    // Esc in the prompt drops the filter.
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.visible_objections().len(), 4);
}

#[test]
fn keys_in_a_prompt_are_text_not_commands() {
    let mut state = full_state();
    type_keys(&mut state, "3/q12?");
    assert!(!state.quit);
    assert_eq!(state.tab, Tab::Objections);
    assert_eq!(state.list(Tab::Objections).filter, "q12?");
    press(&mut state, KeyCode::Backspace);
    assert_eq!(state.list(Tab::Objections).filter, "q12");
}

#[tokio::test]
async fn slash_on_audit_looks_a_verification_up() {
    let mut state = full_state();
    let api = FakeApi::default();
    let mut effects = type_keys(&mut state, "5/ver-0002");
    effects.extend(press(&mut state, KeyCode::Enter));
    assert_eq!(effects, vec![Effect::LookupAudit("ver-0002".to_string())]);
    settle(&mut state, &api, effects).await;
    let lookup = state.lookup.clone().unwrap();
    assert!(
        matches!(lookup.result, console::state::Loadable::Ready(ref found) if found.verdict == "fail")
    );
}

#[test]
fn tabs_by_number_tab_and_shift_tab() {
    let mut state = full_state();
    type_keys(&mut state, "4");
    assert_eq!(state.tab, Tab::Rollout);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.tab, Tab::Audit);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.tab, Tab::Commitments);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.tab, Tab::Overview);
    press(&mut state, KeyCode::BackTab);
    assert_eq!(state.tab, Tab::Commitments);
}

#[test]
fn moving_stays_inside_the_list_and_the_wheel_moves_too() {
    let mut state = full_state();
    type_keys(&mut state, "3jjjjjjj");
    assert_eq!(state.list(Tab::Objections).selected, 3);
    type_keys(&mut state, "kkkkkkk");
    assert_eq!(state.list(Tab::Objections).selected, 0);
    let wheel = |kind| {
        Event::Mouse(MouseEvent {
            kind,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        })
    };
    update(&mut state, wheel(MouseEventKind::ScrollDown));
    assert_eq!(state.list(Tab::Objections).selected, 1);
    update(&mut state, wheel(MouseEventKind::ScrollUp));
    assert_eq!(state.list(Tab::Objections).selected, 0);
    type_keys(&mut state, "G");
    assert_eq!(state.list(Tab::Objections).selected, 3);
}

#[test]
fn a_refresh_keeps_the_cursor_on_the_same_objection() {
    let mut state = full_state();
    type_keys(&mut state, "3jj");
    let before = state.visible_objections()[2].id.clone();
    let mut items = objections();
    // obj-0 sorts first now: the cursor must follow obj-3, not stay on row 2.
    items.push(objection(
        "obj-0",
        at(25, 8, 0),
        wire::admin_api::ObjectionStatus::Open,
        true,
    ));
    update(
        &mut state,
        Event::Data(Data::Objections(Ok(wire::admin_api::ObjectionPage {
            items,
            next: None,
        }))),
    );
    let selected = state.list(Tab::Objections).selected;
    assert_eq!(state.visible_objections()[selected].id, before);
}

#[test]
fn the_outage_keeps_its_first_time_and_a_snapshot_ends_it() {
    let mut state = full_state();
    let first = chrono::NaiveTime::from_hms_opt(11, 0, 0).unwrap();
    let later = chrono::NaiveTime::from_hms_opt(11, 0, 5).unwrap();
    for since in [first, later] {
        update(
            &mut state,
            Event::Data(Data::Disconnected {
                since,
                error: "refused".into(),
            }),
        );
    }
    assert!(
        matches!(state.connection, console::state::Connection::Disconnected { since, .. } if since == first)
    );
    update(
        &mut state,
        Event::Data(Data::Snapshot(Box::new(snapshot()))),
    );
    assert_eq!(state.connection, console::state::Connection::Connected);
}

#[test]
fn a_viewer_is_offered_no_objection_actions() {
    let mut state = full_state();
    state.operator = Some(wire::admin_api::WhoAmI {
        name: "zhao".to_string(),
        roles: vec![wire::admin_api::Role::Viewer],
    });
    for key in ["a", "c", "u", "x"] {
        let effects = type_keys(&mut state, &format!("3{key}"));
        assert!(effects.is_empty(), "{key}: {effects:?}");
        assert_eq!(state.overlay, None, "{key}: no prompt opens");
        let status = state.status.clone().unwrap();
        assert_eq!(status.kind, StatusKind::Error);
        assert_eq!(status.text, "zhao: this needs the `objection-handler` role");
    }
    // The help lists no objection action, and the status line says who is signed in.
    type_keys(&mut state, "?");
    let help = screen(&state, 160, 50);
    for action in [
        "assign to an operator",
        "resolve: corrected",
        "resolve: upheld",
        "reject (reason required)",
    ] {
        assert!(!help.contains(action), "{action} offered:\n{help}");
    }
    assert!(help.contains("detail and history"), "{help}");
    assert!(help.contains("zhao (viewer)"), "{help}");
}

#[test]
fn who_is_signed_in_comes_from_the_gateway() {
    let mut state = full_state();
    state.operator = None;
    let effects = type_keys(&mut state, "3c");
    assert!(
        effects.is_empty() && state.overlay.is_none(),
        "not before sign-in"
    );
    update(&mut state, Event::Data(Data::SignedIn(Ok(mei()))));
    assert_eq!(state.operator, Some(mei()));
    type_keys(&mut state, "c");
    assert!(state.overlay.is_some(), "an objection handler may resolve");
}
