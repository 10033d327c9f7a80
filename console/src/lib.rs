//! `console`: the operator console of the Mianzheng gateway, a ratatui +
//! crossterm program over the gateway's admin API ([`wire::admin_api`]).
//!
//! The program is an Elm-style loop: input and data arrive as [`event::Event`]s, the pure
//! [`update::update`] turns each into state changes and [`action::Effect`]s, [`run`] carries
//! the effects out against an [`client::AdminApi`], and the pure [`render::render`] draws the
//! [`state::State`]. Only `run`, `feed` and `client` do I/O.
//!
//! - [`cli`] — the flags, and how the URL and the operator's token are found (flags,
//!   environment, `config/gateway.toml`).
//! - [`config`] — the few fields of `gateway.toml` the console reads.
//! - [`client`] — the admin API client: the [`client::AdminApi`] trait and its hyper
//!   implementation (no terminal types).
//! - [`feed`] — background tasks: the snapshot long poll with reconnect back-off, and the
//!   periodic refresh of the objection queue, the commitments' queue and the audit log.
//! - [`event`] — what reaches the loop: keys, mouse, resize, ticks and data.
//! - [`action`] — what the user asked for ([`action::Action`]) and what the I/O layer must do
//!   ([`action::Effect`]).
//! - [`verb`] — the operator's verbs on an objection or a commitment, and the prompts and lines
//!   about them.
//! - [`keys`] — the one key table: the handler looks keys up in it and the help overlay lists it.
//! - [`state`] — the console's state, pure data, and the filtered/sorted views of its lists.
//! - [`update`] — `update(&mut State, Event) -> Vec<Effect>`.
//! - [`perform`] — carries one effect out against an [`client::AdminApi`] and says what came back.
//! - [`render`] — `render(&State, &mut Frame)`: one file per tab plus the shared widgets.
//! - [`run`] — terminal setup and restore (also on panic), the event loop.

//!
//! Run it with `cargo run -p console` from the repository (URL and token from
//! `config/gateway.toml`), or anywhere with only `--url http://127.0.0.1:9090 --token …`: no
//! file is read then. That second form is what an end-to-end test drives (the binary in tmux
//! against a real gateway on a free port, reading the screen with `capture-pane`); the tests in
//! `tests/` cover everything short of that with a fake [`client::AdminApi`].

pub mod action;
pub mod cli;
pub mod client;
pub mod config;
pub mod event;
pub mod feed;
pub mod keys;
pub mod perform;
pub mod render;
pub mod run;
pub mod state;
pub mod update;
pub mod verb;
