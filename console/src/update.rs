//! `update(&mut State, Event) -> Vec<Effect>`: the console's only state transition. Pure: no
//! I/O and no clock; what must reach the gateway comes back as [`Effect`]s.

use crate::action::{Action, Effect};
use crate::event::{Data, Event};
use crate::keys::{self, Input};
use crate::state::{
    CommitmentPane, Confirm, Connection, Detail, Loadable, Lookup, Overlay, Prompt, PromptFor,
    Sends, State, Status, StatusKind, Tab,
};
use crate::verb;

/// Applies one event; returns the work it asks of the I/O layer.
pub fn update(state: &mut State, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(key) => input(state, Input::from_key(key)),
        Event::Mouse(mouse) => input(state, Input::from_mouse(mouse)),
        // The next frame is laid out for the new size; nothing in the state depends on it.
        Event::Resize(..) => Vec::new(),
        Event::Tick(now) => {
            state.now = now;
            Vec::new()
        }
        Event::Data(data) => receive(state, data),
    }
}

fn input(state: &mut State, input: Option<Input>) -> Vec<Effect> {
    match input.and_then(|input| keys::action_for(state.mode(), state.tab, input)) {
        Some(action) => apply(state, action),
        None => Vec::new(),
    }
}

/// Carries out one [`Action`] (what a key is bound to).
pub fn apply(state: &mut State, action: Action) -> Vec<Effect> {
    if action.mutates() && state.read_only {
        set_status(
            state,
            StatusKind::Error,
            "read-only: objection and commitment actions are disabled",
        );
        return Vec::new();
    }
    if let Some(needed) = action.needs().filter(|_| !action.allowed(state)) {
        let who = state
            .operator
            .as_ref()
            .map_or("not signed in yet".to_string(), |who| who.name.clone());
        let text = format!("{who}: this needs the `{needed}` role");
        set_status(state, StatusKind::Error, &text);
        return Vec::new();
    }
    match action {
        Action::SwitchTab(tab) => switch_tab(state, tab),
        Action::NextTab => switch_tab(state, state.tab.step(true)),
        Action::PrevTab => switch_tab(state, state.tab.step(false)),
        Action::Move(delta) => move_by(state, delta),
        Action::MoveToTop => state.list_mut(state.tab).selected = 0,
        Action::MoveToBottom => {
            let rows = state.row_count(state.tab);
            state.list_mut(state.tab).selected = rows.saturating_sub(1);
        }
        Action::OpenDetail => return open_detail(state),
        Action::Back => back(state),
        Action::Quit => state.quit = true,
        Action::ToggleHelp => {
            state.overlay = match state.overlay {
                Some(Overlay::Help) => None,
                _ => {
                    state.help_scroll = 0;
                    Some(Overlay::Help)
                }
            }
        }
        Action::StartFilter => {
            if state.tab.filterable() {
                let input = state.list(state.tab).filter.clone();
                state.overlay = Some(Overlay::Prompt(Prompt {
                    purpose: PromptFor::Filter,
                    label: format!("filter {}", state.tab.title()),
                    input,
                }));
            } else {
                set_status(state, StatusKind::Info, "nothing to filter on this tab");
            }
        }
        Action::StartLookup => {
            state.overlay = Some(Overlay::Prompt(Prompt {
                purpose: PromptFor::Lookup,
                label: "verification id".to_string(),
                input: String::new(),
            }))
        }
        Action::CycleSort => state.department_sort = state.department_sort.next(),
        Action::StartObjection(verb) => match state.target_objection() {
            Some(id) => {
                state.overlay = Some(Overlay::Prompt(Prompt {
                    label: verb.prompt(&id),
                    purpose: PromptFor::Objection { id, verb },
                    input: String::new(),
                }))
            }
            None => set_status(state, StatusKind::Error, "no objection selected"),
        },
        Action::ClaimCommitment => match state.claim_department() {
            Some(department) => {
                state.overlay = Some(Overlay::Confirm(Confirm {
                    question: verb::claim_question(&department),
                    sends: Sends::ClaimCommitment { department },
                }))
            }
            None => set_status(
                state,
                StatusKind::Error,
                "no commitment selected: select one of the department whose queue to claim from",
            ),
        },
        Action::StartCommitment(verb) => match state.target_commitment() {
            Some(id) => {
                state.overlay = Some(Overlay::Prompt(Prompt {
                    label: verb.prompt(&id),
                    purpose: PromptFor::Commitment { id, verb },
                    input: String::new(),
                }))
            }
            None => set_status(state, StatusKind::Error, "no commitment selected"),
        },
        Action::Input(c) => edit_prompt(state, |input| input.push(c)),
        Action::DeleteChar => edit_prompt(state, |input| {
            input.pop();
        }),
        Action::Submit => return submit(state),
        Action::Cancel => {
            if let Some(Overlay::Prompt(Prompt {
                purpose: PromptFor::Filter,
                ..
            })) = state.overlay
            {
                state.list_mut(state.tab).filter.clear();
                state.clamp_selections();
            }
            state.overlay = None;
        }
        Action::Confirm => {
            if let Some(Overlay::Confirm(Confirm { question, sends })) = state.overlay.take() {
                let text = format!("sending: {}", question.trim_end_matches("? y/n"));
                set_status(state, StatusKind::Info, &text);
                return vec![match sends {
                    Sends::Objection { id, action } => Effect::Execute { id, action },
                    Sends::Commitment { id, action } => Effect::ResolveCommitment { id, action },
                    Sends::ClaimCommitment { department } => Effect::ClaimCommitment { department },
                }];
            }
        }
        Action::Deny => {
            state.overlay = None;
            set_status(state, StatusKind::Info, "cancelled");
        }
    }
    Vec::new()
}

fn switch_tab(state: &mut State, tab: Tab) {
    state.tab = tab;
}

fn move_by(state: &mut State, delta: i32) {
    if state.overlay == Some(Overlay::Help) {
        // The renderer stops at the last line; this only keeps the number sane.
        let target = state.help_scroll as i64 + i64::from(delta);
        state.help_scroll = target.clamp(0, keys::BINDINGS.len() as i64 * 2) as usize;
        return;
    }
    let rows = state.row_count(state.tab);
    let list = state.list_mut(state.tab);
    let target = list.selected as i64 + i64::from(delta);
    list.selected = target.clamp(0, rows.saturating_sub(1) as i64) as usize;
}

fn open_detail(state: &mut State) -> Vec<Effect> {
    if state.tab == Tab::Commitments {
        let Some(id) = state.selected_commitment().map(|c| c.id.clone()) else {
            return Vec::new();
        };
        state.commitment = Some(CommitmentPane {
            id: id.clone(),
            data: Loadable::Loading,
        });
        return vec![Effect::LoadCommitment(id)];
    }
    let Some(id) = state.target_objection() else {
        return Vec::new();
    };
    state.detail = Some(Detail {
        id: id.clone(),
        data: Loadable::Loading,
    });
    vec![Effect::LoadObjection(id)]
}

/// Esc at the top level: the innermost open thing closes; with nothing open, quit.
fn back(state: &mut State) {
    if state.tab == Tab::Objections && state.detail.is_some() {
        state.detail = None;
    } else if state.tab == Tab::Commitments && state.commitment.is_some() {
        state.commitment = None;
    } else if state.tab == Tab::Audit && state.lookup.is_some() {
        state.lookup = None;
    } else if !state.list(state.tab).filter.is_empty() {
        state.list_mut(state.tab).filter.clear();
        state.clamp_selections();
    } else {
        state.quit = true;
    }
}

fn edit_prompt(state: &mut State, edit: impl FnOnce(&mut String)) {
    let Some(Overlay::Prompt(prompt)) = &mut state.overlay else {
        return;
    };
    edit(&mut prompt.input);
    if prompt.purpose == PromptFor::Filter {
        let filter = prompt.input.clone();
        state.list_mut(state.tab).filter = filter;
        state.clamp_selections();
    }
}

fn submit(state: &mut State) -> Vec<Effect> {
    let Some(Overlay::Prompt(prompt)) = state.overlay.clone() else {
        return Vec::new();
    };
    match prompt.purpose {
        PromptFor::Filter => state.overlay = None,
        PromptFor::Lookup => {
            state.overlay = None;
            let id = prompt.input.trim().to_string();
            if !id.is_empty() {
                state.lookup = Some(Lookup {
                    id: id.clone(),
                    result: Loadable::Loading,
                });
                return vec![Effect::LookupAudit(id)];
            }
        }
        PromptFor::Objection { id, verb } => {
            if let Some(why) = verb.refuse(&prompt.input) {
                // The prompt stays open for the missing text.
                set_status(state, StatusKind::Error, why);
                return Vec::new();
            }
            let action = verb.action(&prompt.input);
            state.overlay = Some(Overlay::Confirm(Confirm {
                question: verb::question(&id, &action),
                sends: Sends::Objection { id, action },
            }));
        }
        PromptFor::Commitment { id, verb } => {
            if let Some(why) = verb.refuse(&prompt.input) {
                set_status(state, StatusKind::Error, why);
                return Vec::new();
            }
            let action = verb.action(&prompt.input);
            state.overlay = Some(Overlay::Confirm(Confirm {
                question: verb::commitment_question(&id, &action),
                sends: Sends::Commitment { id, action },
            }));
        }
    }
    Vec::new()
}

fn receive(state: &mut State, data: Data) -> Vec<Effect> {
    match data {
        Data::Snapshot(snapshot) => {
            state.snapshot = Some(*snapshot);
            state.connection = Connection::Connected;
        }
        Data::SignedIn(Ok(who)) => state.operator = Some(who),
        Data::SignedIn(Err(error)) => {
            state.operator = None;
            set_status(state, StatusKind::Error, &format!("sign-in: {error}"));
        }
        Data::Disconnected { since, error } => {
            // Keep the first failure's time while the outage lasts.
            let since = match &state.connection {
                Connection::Disconnected { since, .. } => *since,
                _ => since,
            };
            state.connection = Connection::Disconnected { since, error };
        }
        Data::Objections(Ok(page)) => {
            // Keep the cursor on the same objection when the queue reorders.
            let selected = state
                .visible_objections()
                .get(state.list(Tab::Objections).selected)
                .map(|o| o.id.clone());
            state.objections = Some(page.items);
            if let Some(id) = selected {
                if let Some(at) = state.visible_objections().iter().position(|o| o.id == id) {
                    state.list_mut(Tab::Objections).selected = at;
                }
            }
        }
        Data::AuditRecent(Ok(page)) => state.audit = Some(page.items),
        Data::Kpis(kpis) => state.kpis = Some(kpis),
        Data::Objections(Err(error)) | Data::AuditRecent(Err(error)) => {
            // While disconnected the banner says it already.
            if state.connection == Connection::Connected {
                set_status(state, StatusKind::Error, &error);
            }
        }
        Data::ObjectionLoaded { id, result } => {
            if let Some(detail) = state.detail.as_mut().filter(|detail| detail.id == id) {
                detail.data = match result {
                    Ok(loaded) => Loadable::Ready(loaded),
                    Err(error) => Loadable::Failed(error),
                };
            }
        }
        Data::ActionDone { id, action, result } => {
            match result {
                Ok(loaded) => {
                    set_status(state, StatusKind::Info, &verb::done(&id, &action));
                    if let Some(detail) = state.detail.as_mut().filter(|detail| detail.id == id) {
                        detail.data = Loadable::Ready(loaded);
                    }
                }
                Err(error) => set_status(state, StatusKind::Error, &format!("{id}: {error}")),
            }
            state.clamp_selections();
            return vec![Effect::RefreshObjections];
        }
        Data::Commitments(Ok((page, counts))) => {
            // Keep the cursor on the same commitment when the queue reorders.
            let selected = state.selected_commitment().map(|c| c.id.clone());
            state.commitments = Some(page.items);
            state.commitment_counts = Some(counts);
            if let Some(id) = selected {
                if let Some(at) = state.visible_commitments().iter().position(|c| c.id == id) {
                    state.list_mut(Tab::Commitments).selected = at;
                }
            }
        }
        Data::Commitments(Err(error)) => {
            if state.connection == Connection::Connected {
                set_status(state, StatusKind::Error, &error);
            }
        }
        Data::CommitmentLoaded { id, result } => {
            if let Some(pane) = state.commitment.as_mut().filter(|pane| pane.id == id) {
                pane.data = match result {
                    Ok(loaded) => Loadable::Ready(loaded),
                    Err(error) => Loadable::Failed(error),
                };
            }
        }
        Data::CommitmentResolved { id, action, result } => {
            match result {
                Ok(loaded) => {
                    set_status(
                        state,
                        StatusKind::Info,
                        &verb::commitment_done(&id, &action),
                    );
                    if let Some(pane) = state.commitment.as_mut().filter(|pane| pane.id == id) {
                        pane.data = Loadable::Ready(loaded);
                    }
                }
                Err(error) => set_status(state, StatusKind::Error, &format!("{id}: {error}")),
            }
            state.clamp_selections();
            return vec![Effect::RefreshCommitments];
        }
        Data::CommitmentClaimed { department, result } => {
            match result {
                Ok(Some(claimed)) => {
                    let id = claimed.commitment.id.clone();
                    set_status(
                        state,
                        StatusKind::Info,
                        &format!("{id} claimed: now in check"),
                    );
                    // The claimed one opens, ready to be resolved.
                    state.commitment = Some(CommitmentPane {
                        id,
                        data: Loadable::Ready(claimed),
                    });
                }
                Ok(None) => set_status(
                    state,
                    StatusKind::Info,
                    &format!("{department}: no pending commitment to claim"),
                ),
                Err(error) => {
                    set_status(state, StatusKind::Error, &format!("{department}: {error}"))
                }
            }
            state.clamp_selections();
            return vec![Effect::RefreshCommitments];
        }
        Data::AuditFound { id, result } => {
            if let Some(lookup) = state.lookup.as_mut().filter(|lookup| lookup.id == id) {
                lookup.result = match result {
                    Ok(found) => Loadable::Ready(found),
                    Err(error) => Loadable::Failed(error),
                };
            }
        }
    }
    state.clamp_selections();
    Vec::new()
}

fn set_status(state: &mut State, kind: StatusKind, text: &str) {
    state.status = Some(Status {
        kind,
        text: text.to_string(),
    });
}
