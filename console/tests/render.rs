//! Whole screens drawn with `TestBackend` from hand-made states, as insta snapshots of the
//! text, plus a few style checks (colour where there is colour, none under `NO_COLOR`).
#![allow(clippy::unwrap_used)]

mod support;

use console::event::{Data, Event};
use console::state::{Connection, Detail, Loadable, Lookup, Overlay, Tab};
use console::update::update;
use crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use support::*;

fn on(tab: Tab) -> console::state::State {
    let mut state = full_state();
    state.tab = tab;
    state
}

#[test]
fn overview() {
    insta::assert_snapshot!(screen(&on(Tab::Overview), 100, 24));
}

#[test]
fn overview_before_any_data() {
    insta::assert_snapshot!(screen(&empty_state(), 100, 12));
}

#[test]
fn departments_errors_first() {
    insta::assert_snapshot!(screen(&on(Tab::Departments), 100, 12));
}

#[test]
fn departments_before_any_data() {
    let mut state = empty_state();
    state.tab = Tab::Departments;
    insta::assert_snapshot!(screen(&state, 80, 8));
}

#[test]
fn objections_overdue_first() {
    insta::assert_snapshot!(screen(&on(Tab::Objections), 100, 12));
}

#[test]
fn objections_empty() {
    let mut state = on(Tab::Objections);
    state.objections = Some(Vec::new());
    insta::assert_snapshot!(screen(&state, 80, 8));
}

#[test]
fn objection_detail_with_history() {
    let mut state = on(Tab::Objections);
    state.detail = Some(Detail {
        id: "obj-2".into(),
        data: Loadable::Ready(detail("obj-2")),
    });
    insta::assert_snapshot!(screen(&state, 120, 20));
}

#[test]
fn confirm_step() {
    let mut state = on(Tab::Objections);
    type_keys(&mut state, "jcaddress fixed");
    press(&mut state, KeyCode::Enter);
    assert!(matches!(state.overlay, Some(Overlay::Confirm(_))));
    insta::assert_snapshot!(screen(&state, 100, 12));
}

#[test]
fn note_prompt() {
    let mut state = on(Tab::Objections);
    type_keys(&mut state, "xduplicate of obj");
    insta::assert_snapshot!(screen(&state, 100, 12));
}

#[test]
fn rollout_matrix_and_kpis() {
    insta::assert_snapshot!(screen(&on(Tab::Rollout), 100, 14));
}

#[test]
fn audit_recent_and_lookup() {
    let mut state = on(Tab::Audit);
    let found = audit().items[1].clone();
    state.lookup = Some(Lookup {
        id: found.verification_id.clone(),
        result: Loadable::Ready(found),
    });
    insta::assert_snapshot!(screen(&state, 100, 18));
}

#[test]
fn audit_lookup_not_found() {
    let mut state = on(Tab::Audit);
    state.lookup = Some(Lookup {
        id: "nope".into(),
        result: Loadable::Failed("not found (404): nope".into()),
    });
    insta::assert_snapshot!(screen(&state, 80, 16));
}

#[test]
fn disconnected_banner() {
    let mut state = on(Tab::Overview);
    let since = chrono::NaiveTime::from_hms_opt(11, 58, 3).unwrap();
    update(
        &mut state,
        Event::Data(Data::Disconnected {
            since,
            error: "connection refused".into(),
        }),
    );
    let terminal = terminal(&state, 100, 8);
    insta::assert_snapshot!(terminal.backend().to_string());
    let cell = &terminal.backend().buffer()[(1, 1)];
    assert_eq!((cell.fg, cell.bg), (Color::White, Color::Red));
}

#[test]
fn help_lists_every_key() {
    let mut state = on(Tab::Objections);
    // Keys are offered only to the roles that may take them: mei checks commitments too here.
    if let Some(mei) = state.operator.as_mut() {
        mei.roles.push(wire::admin_api::Role::CommitmentChecker);
    }
    type_keys(&mut state, "?");
    let text = screen(&state, 120, 48);
    for binding in console::keys::BINDINGS {
        assert!(
            text.contains(binding.help),
            "help misses `{}`",
            binding.help
        );
    }
    insta::assert_snapshot!(text);
}

#[test]
fn help_in_read_only_mode_says_so() {
    let mut state = on(Tab::Objections);
    state.read_only = true;
    type_keys(&mut state, "?");
    let text = screen(&state, 120, 40);
    assert_eq!(text.matches("(read-only: off)").count(), 4);
    type_keys(&mut state, "?c");
    insta::assert_snapshot!(screen(&state, 100, 8));
}

#[test]
fn narrow_terminal_keeps_the_tab_bar() {
    for tab in Tab::ALL {
        let mut state = on(tab);
        state.connection = Connection::Disconnected {
            since: chrono::NaiveTime::from_hms_opt(1, 2, 3).unwrap(),
            error: "refused".into(),
        };
        let text = screen(&state, 40, 12);
        assert!(
            text.lines().next().unwrap().contains("1 Overview"),
            "{text}"
        );
        if tab == Tab::Objections {
            insta::assert_snapshot!(text);
        }
    }
    // Even a terminal of almost nothing draws without panicking.
    for (width, height) in [(1, 1), (10, 3), (0, 0)] {
        let mut state = on(Tab::Objections);
        state.overlay = Some(Overlay::Help);
        terminal(&state, width, height);
    }
}

#[test]
fn overdue_rows_are_red_and_closed_ones_dim() {
    let terminal = terminal(&on(Tab::Objections), 100, 12);
    let buffer = terminal.backend().buffer();
    // Row 3 is the first objection (tab bar, border, header); it is the overdue obj-2.
    let row = |y: u16| {
        (0..100)
            .map(|x| buffer[(x, y)].symbol())
            .collect::<String>()
    };
    assert!(row(3).contains("obj-2"), "{}", row(3));
    assert_eq!(buffer[(5, 3)].fg, Color::Red);
    assert!(row(6).contains("obj-4"));
    assert_eq!(buffer[(5, 6)].fg, Color::DarkGray);
}

#[test]
fn breakers_are_coloured_by_state() {
    let terminal = terminal(&on(Tab::Departments), 100, 12);
    let buffer = terminal.backend().buffer();
    let find = |word: &str| {
        (0..12u16)
            .flat_map(|y| (0..100u16).map(move |x| (x, y)))
            .find(|&(x, y)| {
                (0..word.len() as u16).all(|i| {
                    x + i < 100 && buffer[(x + i, y)].symbol() == &word[i as usize..=i as usize]
                })
            })
            .unwrap()
    };
    assert_eq!(buffer[find("open")].fg, Color::Red);
    assert_eq!(buffer[find("half-open")].fg, Color::Yellow);
    assert_eq!(buffer[find("closed")].fg, Color::Green);
}

#[test]
fn no_color_sets_no_colour_anywhere() {
    for tab in Tab::ALL {
        let mut state = on(tab);
        state.color = false;
        state.connection = Connection::Disconnected {
            since: chrono::NaiveTime::from_hms_opt(1, 2, 3).unwrap(),
            error: "refused".into(),
        };
        let terminal = terminal(&state, 100, 20);
        let buffer = terminal.backend().buffer();
        assert!(
            buffer
                .content
                .iter()
                .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset),
            "{tab:?}"
        );
        // The overdue row still stands out, in bold.
        if tab == Tab::Objections {
            assert!(buffer[(5, 4)].modifier.contains(Modifier::BOLD));
        }
    }
}

#[test]
fn help_on_a_small_terminal_scrolls() {
    let mut state = on(Tab::Overview);
    type_keys(&mut state, "?");
    let top = screen(&state, 80, 24);
    assert!(top.contains("j/k scroll"), "{top}");
    type_keys(&mut state, &"j".repeat(100));
    let bottom = screen(&state, 80, 24);
    assert!(
        bottom.contains("close the help") && !bottom.contains("Overview tab"),
        "{bottom}"
    );
    insta::assert_snapshot!(bottom);
}

#[test]
fn rollout_and_audit_before_any_data() {
    let mut screens = String::new();
    for tab in [Tab::Rollout, Tab::Audit] {
        let mut state = empty_state();
        state.tab = tab;
        screens.push_str(&screen(&state, 70, 6));
        screens.push('\n');
    }
    insta::assert_snapshot!(screens);
}
