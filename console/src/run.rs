//! The terminal and the event loop: raw mode and the alternate screen (restored on every exit,
//! panics included), the background feeds, and one `select!` over input, data and the clock.
//! Each [`Effect`] runs as its own task so a slow call never freezes the screen.

use std::io::{stdout, Stdout};
use std::time::Duration;

use anyhow::Context;
use chrono::{Local, NaiveTime, Utc};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::action::Effect;
use crate::cli::{Args, Settings};
use crate::client::{AdminApi, HttpAdminClient};
use crate::event::Event;
use crate::feed;
use crate::perform::perform;
use crate::render::render;
use crate::state::State;
use crate::update::update;

/// Resolves the settings and runs the console until the operator quits.
pub fn main(args: Args) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let settings = args.settings(&cwd, &|name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let api = HttpAdminClient::new(&settings.url, &settings.token);
    runtime.block_on(run(api, settings))
}

/// Runs the console against `api` (any [`AdminApi`]) in the real terminal.
pub async fn run<A: AdminApi>(api: A, settings: Settings) -> anyhow::Result<()> {
    install_panic_hook();
    let _restore = TerminalGuard;
    let mut terminal = enter().context("cannot set up the terminal")?;
    event_loop(&mut terminal, api, State::new(&settings, Utc::now())).await
}

async fn event_loop<A: AdminApi>(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    api: A,
    mut state: State,
) -> anyhow::Result<()> {
    let (events, mut data) = mpsc::channel::<Event>(64);
    let feeds = [
        tokio::spawn(feed::follow_snapshots(
            api.clone(),
            events.clone(),
            local_time,
        )),
        tokio::spawn(feed::refresh_lists(api.clone(), events.clone())),
        tokio::spawn(feed::refresh_kpis(api.clone(), events.clone())),
    ];
    let mut input = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        if let Err(err) = terminal.draw(|frame| render(&state, frame)) {
            break Err(err).context("cannot draw");
        }
        let event = tokio::select! {
            next = input.next() => match next {
                Some(Ok(event)) => from_terminal(event),
                Some(Err(err)) => break Err(err).context("cannot read the terminal"),
                None => break Ok(()),
            },
            Some(event) = data.recv() => Some(event),
            _ = clock.tick() => Some(Event::Tick(Utc::now())),
        };
        let Some(event) = event else { continue };
        if let Event::Resize(..) = event {
            // Redraw everything rather than patch a screen of the old size.
            if let Err(err) = terminal.autoresize().and_then(|()| terminal.clear()) {
                break Err(err).context("cannot resize");
            }
        }
        for effect in update(&mut state, event) {
            spawn_effect(api.clone(), effect, events.clone());
        }
        if state.quit {
            break Ok(());
        }
    };
    for task in feeds {
        task.abort();
    }
    result
}

fn spawn_effect<A: AdminApi>(api: A, effect: Effect, events: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        let data = perform(&api, effect).await;
        // The loop may have ended meanwhile; nothing to tell then.
        let _ = events.send(Event::Data(data)).await;
    });
}

fn from_terminal(event: crossterm::event::Event) -> Option<Event> {
    match event {
        crossterm::event::Event::Key(key) => Some(Event::Key(key)),
        crossterm::event::Event::Mouse(mouse) => Some(Event::Mouse(mouse)),
        crossterm::event::Event::Resize(width, height) => Some(Event::Resize(width, height)),
        _ => None,
    }
}

fn local_time() -> NaiveTime {
    Local::now().time()
}

fn enter() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        cursor::Hide
    )?;
    Terminal::new(CrosstermBackend::new(stdout()))
}

/// Gives the terminal back as it was. Safe to call twice (panic hook, then the guard).
fn restore() -> std::io::Result<()> {
    let raw = disable_raw_mode();
    let screen = execute!(
        stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    raw.and(screen)
}

/// Restores the terminal when the loop ends, however it ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = restore();
    }
}

/// A panic restores the terminal first, so that its message is readable, then reports as usual.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore();
        previous(info);
    }));
}
