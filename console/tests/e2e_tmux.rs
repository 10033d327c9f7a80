//! End to end: the real `console` binary in a pseudo-terminal (a detached tmux session on its
//! own server socket) against a real gateway started in-process on loopback (embedded
//! department backends, TLS off, every port 0, a temporary data folder).
//!
//! The test makes a few verifications and files one holder objection, then reads the screen
//! with `capture-pane`: the Overview shows the gateway's totals, and resolving the objection
//! from the Objections tab (`u`, a note, Enter, `y`) changes its state in the gateway, with the
//! operator whose token the console was given in its history (an objection handler the demo
//! operator added; the status line names it); the Commitments tab reads its (empty) queue from
//! the gateway. `q` ends the program.
//!
//! tmux is required: without it the test fails (`.ci/run` installs it). Every wait is bounded
//! by [`PATIENCE`] so a broken console fails the test instead of hanging it; nothing here
//! asserts that anything is fast.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use gateway::config::{GatewayConfig, DEMO_ADMIN_TOKEN};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use issuer::Population;
use serde_json::{json, Value};
use wire::admin_api::ADMIN_PREFIX;
use wire::api::{OBJECTIONS_PATH, VERIFY_PATH};
use wire::catalogue::model::HolderKind;
use wire::catalogue::Catalogue;
use wire::code::{HolderClaims, Minter, Profile, Purpose};

/// Upper bound of every wait; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(200);

const SCENARIO: &str = "park-entry-senior";
const CERTIFICATE: &str = "senior-citizen-card";
const ACTOR: &str = "e2e-operator";
const NOTE: &str = "record checked with the department";
/// How many verifications the test makes before the console starts.
const VERIFICATIONS: usize = 4;
const SESSION: &str = "console";
/// What the shell around the console prints, with the console's exit status, when it ends.
/// The shell then stays (`exec sleep`): the status is not taken from tmux, whose 3.3a server
/// was seen never reaping the ended program (no `#{pane_dead_status}`), and a shell that ends
/// at once can lose its last output with the pseudo-terminal.
const EXIT_MARK: &str = "console exited with status";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let req = req
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a valid request");
    let what = format!("{} {url}", req.method());
    let resp = tokio::time::timeout(PATIENCE, client.request(req))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer after {PATIENCE:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("the body arrives")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

/// A fresh holder code for `handle` (a person), minted with the demo platform key the embedded
/// trust list trusts.
fn mint(population: &Population, handle: &str, purpose: Purpose) -> String {
    let key = wire::keys::parse_signing_keys(gateway::demo::PLATFORM_SECRET)
        .expect("the demo platform keys")
        .into_iter()
        .find(|k| k.algorithm() == Profile::Eddsa.algorithm())
        .expect("an EdDSA demo platform key");
    let city = population.holder(handle, HolderKind::Person).home_city();
    let claims = HolderClaims {
        purpose,
        presenter: None,
        medium: Default::default(),
        ..HolderClaims::fresh_person(handle, Some(city), 300)
    };
    Minter::new(key).mint(&claims)
}

/// A tmux server of the test's own (`-S`, a socket in the test's temporary folder, and a config
/// of its own instead of the user's: only `/bin/sh` to run the command), so a user's tmux is
/// never touched; killed on drop — also when an assertion fails.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("TERM", "xterm-256color")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run tmux ({e}): this test needs tmux on the PATH \
                     (`apt-get install tmux`; `.ci/run` installs it)"
                )
            })
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `command` in a detached 120×40 session, in `dir`, with `config`.
    fn start(socket: PathBuf, config: &Path, dir: &Path, command: &str) -> Tmux {
        let tmux = Tmux { socket };
        let config = config.to_str().expect("a UTF-8 path");
        let dir = dir.to_str().expect("a UTF-8 path");
        tmux.ok(&[
            "-f",
            config,
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            dir,
            command,
        ]);
        tmux
    }

    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", SESSION])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// Polls the screen until `done` holds for it; fails with the last screen after
    /// [`PATIENCE`].
    async fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                !screen.contains(EXIT_MARK),
                "{what}: the console ended; last screen:\n{screen}"
            );
            assert!(
                start.elapsed() < PATIENCE,
                "{what}: not on the screen after {PATIENCE:?}; last screen:\n{screen}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The `total` (since start) figure of a verdict row of the Overview (`│pass   0.2   3│ …`, `│not
/// offered   0.0   0│ …`), if the row is on the screen.
fn total_on_screen(screen: &str, verdict: &str) -> Option<u64> {
    screen.lines().find_map(|line| {
        line.split('│').find_map(|cell| {
            let words: Vec<&str> = cell.split_whitespace().collect();
            match words.as_slice() {
                [name @ .., rate, total]
                    if name.join(" ") == verdict && rate.parse::<f64>().is_ok() =>
                {
                    total.parse().ok()
                }
                _ => None,
            }
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_live_numbers_and_resolves_an_objection() {
    // tmux first: without it there is nothing to test, and the test says so.
    let version = Command::new("tmux").arg("-V").output();
    assert!(
        version.as_ref().is_ok_and(|out| out.status.success()),
        "this test drives the console in tmux, which is not installed \
         (`apt-get install tmux`; `.ci/run` installs it): {version:?}"
    );

    // The gateway under test.
    let data = tempfile::tempdir().expect("a temporary data folder");
    let mut config = GatewayConfig::loopback(data.path());
    config.fetch.deadline_ms = 10_000;
    let gw = tokio::time::timeout(PATIENCE, gateway::app::start(config))
        .await
        .expect("the gateway starts in time")
        .expect("the gateway starts");
    let public = format!("http://{}", gw.public_addr);
    let admin = format!(
        "http://{}{ADMIN_PREFIX}",
        gw.admin_addr.expect("an admin listener")
    );
    let admin_auth = format!("Bearer {DEMO_ADMIN_TOKEN}");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    // A few verifications by the demo venue, of holders likely to pass (aged 60 or more with a
    // valid card); whatever the verdicts, the test counts them as the gateway answered.
    let catalogue = Catalogue::embedded();
    let population = Population::new(issuer::config::DEFAULT_SEED);
    let today = wire::calendar::china_today(Utc::now());
    let holders = population.seniors(&catalogue, "e2e-console-", VERIFICATIONS, today);
    assert_eq!(holders.len(), VERIFICATIONS, "enough demo holders");
    let venues = gateway::venues::Venues::parse(gateway::demo::VENUES, "venues.toml", &catalogue)
        .expect("the demo venues load");
    let venue_auth = format!(
        "Bearer {}",
        venues.demo_for(SCENARIO).expect("a demo venue").1
    );
    let mut answered: Vec<String> = Vec::new();
    for (i, handle) in holders.iter().enumerate() {
        let body = json!({ "code": mint(&population, handle, Purpose::Presentation), "scenario": SCENARIO });
        let request_id = format!("e2e-console-{i}-{:08x}", rand::random::<u32>());
        let (status, answer) = call(
            &client,
            Method::POST,
            &format!("{public}{VERIFY_PATH}"),
            &[
                ("authorization", &venue_auth),
                ("x-request-id", &request_id),
            ],
            Some(&body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answered.push(answer["verdict"].as_str().expect("a verdict").to_string());
    }

    // One holder objection, filed with a fresh code.
    let filing = json!({
        "code": mint(&population, &holders[0], Purpose::HolderAccess),
        "certificate": CERTIFICATE,
        "channel": "app",
        "description": "the card number on record is wrong",
    });
    let (status, filed) = call(
        &client,
        Method::POST,
        &format!("{public}{OBJECTIONS_PATH}"),
        &[],
        Some(&filing),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let objection = filed["objection_id"]
        .as_str()
        .expect("an objection id")
        .to_string();

    // The gateway's own figures, once its snapshot counts every verification (stable from then
    // on: nothing else verifies).
    let start = Instant::now();
    let totals = loop {
        let (status, snapshot) = call(
            &client,
            Method::GET,
            &format!("{admin}/snapshot"),
            &[("authorization", &admin_auth)],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{snapshot}");
        let totals = snapshot["traffic"]["totals"].clone();
        let counted: u64 = ["pass", "fail", "unavailable", "not_offered", "refused"]
            .iter()
            .map(|v| totals[v].as_u64().expect("a total"))
            .sum();
        if counted >= VERIFICATIONS as u64 {
            break totals;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the snapshot counts {counted} of {VERIFICATIONS} verifications: {snapshot}"
        );
        tokio::time::sleep(POLL).await;
    };
    let expected_pass = answered.iter().filter(|v| *v == "pass").count() as u64;
    assert_eq!(totals["pass"].as_u64(), Some(expected_pass), "{totals}");
    // Every row of the Overview's verdict table, as the screen names it and the snapshot counts
    // it (together at least the verifications made: live, non-zero numbers).
    let expected: Vec<(&str, u64)> = [
        ("pass", "pass"),
        ("fail", "fail"),
        ("unavailable", "unavailable"),
        ("not offered", "not_offered"),
        ("refused", "refused"),
    ]
    .into_iter()
    .map(|(row, field)| (row, totals[field].as_u64().expect("a total")))
    .collect();

    // The console's operator, added by the demo operator (who holds every role).
    let (status, issued) = call(
        &client,
        Method::POST,
        &format!("{admin}/operators"),
        &[("authorization", &admin_auth)],
        Some(&json!({ "name": ACTOR, "roles": ["objection-handler"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().expect("the new operator's token");

    // The console, in tmux.
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let tmux_config = scratch.path().join("tmux.conf");
    std::fs::write(&tmux_config, "set -g default-shell /bin/sh\n").expect("write the tmux config");
    let command = format!(
        "'{}' --url http://{} --token {token}; echo \"{EXIT_MARK} $?\"; exec sleep 600",
        env!("CARGO_BIN_EXE_console"),
        gw.admin_addr.expect("an admin listener")
    );
    let socket = scratch.path().join("tmux.sock");
    let tmux = Tmux::start(socket, &tmux_config, scratch.path(), &command);

    // Overview: the gateway's totals, live.
    tmux.wait_for("the Overview's verdict totals", |screen| {
        expected
            .iter()
            .all(|(row, total)| total_on_screen(screen, row) == Some(*total))
    })
    .await;

    // The status line says who is signed in.
    tmux.wait_for("the signed-in operator", |screen| {
        screen.contains(&format!("{ACTOR} (objection-handler)"))
    })
    .await;

    // Objections: the filed one is listed, its id whole at this width.
    tmux.keys(&["3"]);
    tmux.wait_for("the objection in the queue", |screen| {
        screen.contains(objection.as_str()) && screen.contains(CERTIFICATE)
    })
    .await;

    // Resolve it as upheld: the prompt for the note names the selected objection.
    tmux.keys(&["u"]);
    tmux.wait_for("the note prompt", |screen| {
        screen.contains(&format!("resolving {objection} as upheld"))
    })
    .await;
    tmux.type_text(NOTE);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the confirm question", |screen| {
        screen.contains(&format!("Resolve {objection} as upheld? y/n"))
    })
    .await;
    tmux.keys(&["y"]);
    tmux.wait_for("the success status line", |screen| {
        screen.contains(&format!("{objection} resolved as upheld"))
    })
    .await;

    // The gateway has it resolved, by the console's operator, with the note.
    let start = Instant::now();
    loop {
        let (status, detail) = call(
            &client,
            Method::GET,
            &format!("{admin}/objections/{objection}"),
            &[("authorization", &admin_auth)],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        let resolved = detail["objection"]["status"] == "resolved_upheld";
        let by_console = detail["history"].as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["actor"] == ACTOR && e["to_status"] == "resolved_upheld" && e["note"] == NOTE
            })
        });
        if resolved && by_console {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the gateway does not have the console's resolution: {detail}"
        );
        tokio::time::sleep(POLL).await;
    }

    // Commitments: the post-check queues, read from the gateway (none filed here).
    tmux.keys(&["6"]);
    tmux.wait_for("the empty commitments queue", |screen| {
        screen.contains("no commitment waits for its check")
    })
    .await;

    // `q` ends the program, cleanly.
    tmux.keys(&["q"]);
    let screen = tmux
        .wait_for("the console's exit", |screen| screen.contains(EXIT_MARK))
        .await;
    assert!(
        screen.contains(&format!("{EXIT_MARK} 0")),
        "the console's exit status; screen:\n{screen}"
    );
    drop(tmux);

    gw.shutdown.trigger();
    tokio::time::timeout(PATIENCE, gw.run())
        .await
        .expect("the gateway stops in time")
        .expect("a clean stop");
}
