//! Production mode: a gateway given material of its own (keys made here with the key
//! commands, departments at URLs, no demo venues) starts and its banner says so; each piece of
//! the repository's demo material, given in turn, is refused by name with the command that
//! makes the real one, all pieces at once in one error; secret files others may read are
//! refused; a listener left out is off. Nothing here needs the `demo` feature, so
//! `cargo test -p gateway --no-default-features` runs it too.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gateway::config::{GatewayConfig, Mode};
use wire::catalogue::{
    CERTIFICATES_FILE, CITIES_FILE, DEPARTMENTS_FILE, SCENARIOS_FILE, SERVICE_ITEMS_FILE,
};

/// The repository's `config/` folder.
fn repository_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// An admin token of the deployment's own.
const OWN_TOKEN: &str = "production-admin-token-0123456789";

/// A deployment's material in a folder: platform keys from `gateway keys generate`, seal keys
/// from the issuer's key generation, and the catalogue with every backend at a URL.
struct Material {
    dir: tempfile::TempDir,
}

impl Material {
    fn new() -> Material {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = gateway::commands::keys::GenerateArgs {
            out_secret: dir.path().join("platform.secret.toml"),
            out_trust: dir.path().join("platform.trust.toml"),
            profile: wire::code::Profile::ALL.to_vec(),
            owner: "mianzheng-platform".into(),
            not_before: None,
            not_after: None,
            force: false,
        };
        gateway::commands::keys::generate(&keys, &mut Vec::new()).expect("platform keys");
        let catalogue = wire::catalogue::Catalogue::embedded();
        let seals =
            issuer::seal_keys::generate(catalogue.departments().iter().map(|d| d.id.as_str()), &[])
                .expect("seal keys");
        std::fs::write(
            dir.path().join("seals.trust.toml"),
            issuer::seal_keys::trust_file(&seals),
        )
        .expect("seal trust list");
        let catalogue_dir = dir.path().join("catalogue");
        std::fs::create_dir(&catalogue_dir).expect("catalogue folder");
        for file in [
            CERTIFICATES_FILE,
            CITIES_FILE,
            SCENARIOS_FILE,
            SERVICE_ITEMS_FILE,
        ] {
            std::fs::copy(repository_config().join(file), catalogue_dir.join(file))
                .expect("copy a catalogue file");
        }
        let departments = std::fs::read_to_string(repository_config().join(DEPARTMENTS_FILE))
            .expect("departments.toml")
            .replace(
                r#"province = { endpoint = "embedded" }"#,
                r#"province = { endpoint = "https://departments.example/province" }"#,
            )
            .replace(
                r#"cities = { endpoint = "embedded" }"#,
                r#"cities = { endpoint = "https://departments.example/{city}" }"#,
            )
            .replace(
                "\nendpoint = \"embedded\"\n",
                "\nendpoint = \"https://national-hub.example\"\n",
            );
        std::fs::write(catalogue_dir.join(DEPARTMENTS_FILE), departments)
            .expect("write departments.toml");
        Material { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A production configuration on this material: public listener on loopback port 0,
    /// no plain or admin listener, no venues seeded, its data in `data`.
    fn config(&self, data: &Path) -> GatewayConfig {
        let mut config = GatewayConfig::loopback(data);
        config.mode = Mode::Production;
        config.listen.admin = None;
        config.catalogue.dir = Some(self.path("catalogue"));
        config.codes.trust = Some(self.path("platform.trust.toml"));
        config.departments.seal_trust = Some(self.path("seals.trust.toml"));
        config.venues.file = None;
        config.venues.seed = false;
        config.admin.token = Some(OWN_TOKEN.into());
        config
    }
}

/// The refusal `config` meets at start (panics when it starts).
async fn refusal(config: GatewayConfig) -> String {
    match gateway::app::start(config).await {
        Ok(gateway) => {
            gateway.shutdown.trigger();
            let _ = gateway.run().await;
            panic!("the gateway started");
        }
        Err(e) => format!("{e:#}"),
    }
}

/// The repository's demo key files.
fn demo_keys(name: &str) -> Option<PathBuf> {
    Some(repository_config().join("keys").join(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_each_piece_of_demo_material_by_name() {
    let material = Material::new();
    type Change = fn(&mut GatewayConfig);
    let cases: [(&str, Change, &[&str]); 9] = [
        (
            "embedded platform trust",
            |c| c.codes.trust = None,
            &["`codes.trust` is not set", "gateway keys generate"],
        ),
        (
            "demo platform trust by path",
            |c| c.codes.trust = demo_keys("platform.trust.toml"),
            &[
                "key `13HiHuKilJg=`",
                "key `SDdwkXN3sZg=`",
                "key `lEd5iGfNIr0=` (HMAC256",
                "demo platform key",
                "gateway keys generate",
            ],
        ),
        (
            "embedded seal trust",
            |c| c.departments.seal_trust = None,
            &["`departments.seal_trust` is not set", "issuer keygen"],
        ),
        (
            "demo seal trust by path",
            |c| c.departments.seal_trust = demo_keys("department-seals.trust.toml"),
            &[
                "key `5ueivtiomzc=`",
                "demo department seal key",
                "issuer keygen",
            ],
        ),
        (
            "demo seal keys for embedded departments",
            |c| c.departments.embedded_seal_keys = demo_keys("department-seals.secret.toml"),
            &[
                "departments.embedded_seal_keys",
                "key `AMAdee28LOo=` (education)",
            ],
        ),
        (
            "embedded departments",
            |c| c.catalogue.dir = None,
            &[
                "`embedded` backends",
                "`public-security`",
                r#"endpoint = "https://"#,
            ],
        ),
        (
            "embedded demo venues",
            |c| c.venues.seed = true,
            &[
                "`venues.file` is not set",
                "14 demo venues",
                "gateway venues add",
            ],
        ),
        (
            "demo venues by path",
            |c| {
                c.venues.file = Some(repository_config().join("venues.toml"));
                c.venues.seed = true;
            },
            &[
                "venue `jinan-baotu-spring-park` has the key of demo venue",
                "venue `binzhou-museum` has the key of demo venue",
                "gateway venues add",
            ],
        ),
        (
            "demo admin token",
            |c| c.admin.token = Some(gateway::config::DEMO_ADMIN_TOKEN.into()),
            &["admin.token is the demo admin token"],
        ),
    ];
    for (what, change, expected) in cases {
        let data = tempfile::tempdir().expect("data");
        let mut config = material.config(data.path());
        change(&mut config);
        let err = refusal(config).await;
        assert!(
            err.starts_with("mode = \"production\" refuses to start"),
            "{what}: {err}"
        );
        for expected in expected {
            assert!(err.contains(expected), "{what}: `{expected}` in {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_piece_is_named_in_one_refusal() {
    let material = Material::new();
    let data = tempfile::tempdir().expect("data");
    let mut config = material.config(data.path());
    config.codes.trust = None;
    config.departments.seal_trust = demo_keys("department-seals.trust.toml");
    config.catalogue.dir = None;
    config.venues.seed = true;
    config.admin.token = Some(gateway::config::DEMO_ADMIN_TOKEN.into());
    let err = refusal(config).await;
    for piece in [
        "`codes.trust` is not set",
        "departments.seal_trust `",
        "`embedded` backends",
        "`venues.file` is not set",
        "admin.token is the demo admin token",
    ] {
        assert!(err.contains(piece), "`{piece}` in {err}");
    }
    // 14 demo seal keys (13 departments and the national hub), and the four other pieces.
    assert!(err.contains("(18 found)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_demo_venues_a_demo_run_left_in_the_store() {
    let material = Material::new();
    let data = tempfile::tempdir().expect("data");
    {
        let store = store::Store::open_sqlite_in(data.path())
            .await
            .expect("store");
        let row = |id: &str, key: &str, disabled: bool| store::VenueRow {
            id: id.into(),
            name: id.into(),
            city: 370100,
            scenarios: vec!["park-entry-senior".into()],
            rate_per_sec: 10,
            key_hash: gateway::venues::hash_key(key),
            disabled,
            client_certificate: false,
            service_window: false,
            updated_at: store::now(),
        };
        for venue in [
            row("jinan-baotu-spring-park", "demo-park-7f3c9a1e", false),
            // Disabled, or rotated to a key of its own: no longer demo material.
            row("qingdao-harbour-hotel", "demo-hotel-52d18b0c", true),
            row("yantai-city-bank", "mzv_a-key-of-its-own", false),
        ] {
            store.insert_venue(&venue).await.expect("insert");
        }
    }
    let err = refusal(material.config(data.path())).await;
    assert!(err.contains("(1 found)"), "{err}");
    assert!(
        err.contains("the store holds demo venue `jinan-baotu-spring-park`"),
        "{err}"
    );
    assert!(
        err.contains("gateway venues disable jinan-baotu-spring-park"),
        "{err}"
    );
    assert!(
        err.contains("gateway venues rotate jinan-baotu-spring-park"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_with_its_own_material_starts_with_only_the_listeners_it_names() {
    let material = Material::new();
    let data = tempfile::tempdir().expect("data");
    let gateway = gateway::app::start(material.config(data.path()))
        .await
        .expect("a production gateway on its own material starts");
    assert_eq!(gateway.admin_addr, None, "a listener left out is off");
    assert_eq!(gateway.plain_addr, None);
    let in_use = &gateway.in_use;
    assert_eq!(in_use.mode, Mode::Production);
    assert_eq!(
        in_use.code_trust,
        format!("file `{}`", material.path("platform.trust.toml").display())
    );
    assert!(in_use.seal_trust.starts_with("file `"), "{in_use:?}");
    assert_eq!(in_use.venues, "the store's (no seeding)");
    assert!(in_use.store.starts_with("SQLite `"), "{in_use:?}");
    assert!(
        in_use.departments.ends_with("remote backends") && !in_use.departments.contains("embedded"),
        "{in_use:?}"
    );
    gateway.shutdown.trigger();
    gateway.run().await.expect("stops");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_files_others_may_read_are_refused_in_production_and_warned_about_in_the_demo() {
    use std::os::unix::fs::PermissionsExt as _;
    let material = Material::new();
    let trust = material.path("platform.trust.toml");
    std::fs::set_permissions(&trust, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let data = tempfile::tempdir().expect("data");
    let subject_key = data.path().join("subject-key");
    std::fs::write(&subject_key, "00".repeat(32)).expect("subject key");
    std::fs::set_permissions(&subject_key, std::fs::Permissions::from_mode(0o640)).expect("chmod");

    let err = refusal(material.config(data.path())).await;
    assert!(err.contains("(2 found)"), "{err}");
    assert!(
        err.contains(&format!("run `chmod 600 {}`", trust.display())),
        "{err}"
    );
    assert!(err.contains("HMAC secret"), "{err}");
    assert!(
        err.contains(&format!("run `chmod 600 {}`", subject_key.display())),
        "{err}"
    );

    // The same files in the demo: a warning, and it serves.
    let mut demo = material.config(data.path());
    demo.mode = Mode::Demo;
    let gateway = gateway::app::start(demo).await.expect("the demo starts");
    gateway.shutdown.trigger();
    gateway.run().await.expect("stops");
}

/// The banner of the binary started on `config_text` (written beside the material), up to the
/// line after its listeners; the process is stopped.
fn banner(material: &Material, config_text: &str) -> String {
    banner_and_logs(
        Path::new(env!("CARGO_BIN_EXE_gateway")),
        material,
        config_text,
    )
    .0
}

/// The banner of `binary` started on `config_text`, and what it logged to its standard error
/// (a pipe) until it was stopped.
fn banner_and_logs(binary: &Path, material: &Material, config_text: &str) -> (String, String) {
    let config = material.path("gateway.toml");
    // It holds the admin token: owner-only.
    wire::secret_file::write(
        &config,
        config_text.as_bytes(),
        wire::secret_file::Existing::Replace,
    )
    .expect("write gateway.toml");
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(&config)
        .current_dir(material.dir.path())
        // Debug: the start-up's store queries are logged before the banner, so there is a log to
        // look at in every build (the demo's own lines are not in a build without it).
        .env("MIANZHENG_LOG", "debug")
        .env_remove("MIANZHENG_ADMIN_TOKEN")
        .env_remove("MIANZHENG_GATEWAY_CONFIG")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gateway");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("utf-8");
        let done = line.trim_start().starts_with("admin ");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!lines.is_empty(), "no banner; stderr:\n{logs}");
    (lines.join("\n"), logs)
}

/// The banner says how to start the console: the binary beside the gateway's when there is one,
/// else the cargo command; and logs to a pipe carry no colour codes.
#[test]
fn the_banner_names_the_console_beside_it_and_logs_to_a_pipe_are_plain() {
    let material = Material::new();
    let text = format!(
        "[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n[tls]\nmode = \"off\"\n\
         [admin]\ntoken = \"{OWN_TOKEN}\"\n[data]\ndir = \"data\"\n[catalogue]\ndir = \"catalogue\"\n\
         [codes]\ntrust = \"platform.trust.toml\"\n[venues]\nseed = false\n\
         [departments]\nseal_trust = \"seals.trust.toml\"\n"
    );
    // The gateway's binary linked into a folder of its own, first alone, then with a console.
    let bin = tempfile::tempdir().expect("tempdir");
    let gateway = bin.path().join("gateway");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_gateway"), &gateway).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_gateway"), &gateway).expect("copy the gateway");
    }
    let admin_line = |banner: &str| {
        banner
            .lines()
            .find(|line| line.trim_start().starts_with("admin "))
            .expect("an admin line")
            .to_owned()
    };

    let (alone, logs) = banner_and_logs(&gateway, &material, &text);
    let line = admin_line(&alone);
    assert!(
        line.contains("(console: cargo run --release -p console -- --url http://127.0.0.1:"),
        "{line}"
    );
    assert!(!logs.is_empty(), "the gateway logged nothing");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in a piped log:\n{logs}"
    );

    let console = bin.path().join("console");
    std::fs::write(&console, b"").expect("a console beside it");
    let (beside, _) = banner_and_logs(&gateway, &material, &text);
    let line = admin_line(&beside);
    assert!(
        line.contains(&format!(
            "(console: {} --url http://127.0.0.1:",
            console.display()
        )),
        "{line}"
    );
}

#[test]
fn the_banner_states_the_mode_and_what_is_in_use() {
    let material = Material::new();
    // No `mode`: production; no plain or admin listener: off.
    let text = format!(
        "[listen]\npublic = \"127.0.0.1:0\"\n[tls]\nmode = \"off\"\n[admin]\ntoken = \"{OWN_TOKEN}\"\n\
         [data]\ndir = \"data\"\n[catalogue]\ndir = \"catalogue\"\n[codes]\ntrust = \"platform.trust.toml\"\n\
         [venues]\nseed = false\n[departments]\nseal_trust = \"seals.trust.toml\"\n"
    );
    let banner = banner(&material, &text);
    for expected in [
        "Mianzheng gateway ready",
        "  mode         production",
        "  code trust   file `",
        "platform.trust.toml`",
        "  seal trust   file `",
        "  venues       the store's (no seeding)",
        "  store        SQLite `",
        "  departments  ",
        "remote backends",
        "  public API   http://127.0.0.1:",
        "  plain HTTP   off",
        "  admin        off (listen.admin is not set)",
    ] {
        assert!(banner.contains(expected), "`{expected}` in\n{banner}");
    }
}

/// `gateway venues …` on the SQLite store in `data`: (success, stdout, stderr).
fn venues_command(data: &Path, args: &[&str]) -> (bool, String, String) {
    let store = format!("sqlite://{}", data.join("mianzheng.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("venues")
        .args(args)
        .args(["--store", &store])
        .current_dir(data)
        .env_remove("DATABASE_URL")
        .env_remove("MIANZHENG_GATEWAY_CONFIG")
        .output()
        .expect("run gateway venues");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_venue_commands_clear_the_way_for_production_without_a_running_gateway() {
    let material = Material::new();
    let data = tempfile::tempdir().expect("data");
    // A demo run on this store seeded its demo venues.
    {
        let mut demo = GatewayConfig::loopback(data.path());
        demo.codes.trust = Some(material.path("platform.trust.toml"));
        demo.departments.seal_trust = Some(material.path("seals.trust.toml"));
        demo.catalogue.dir = Some(material.path("catalogue"));
        demo.venues.file = Some(repository_config().join("venues.toml"));
        let gateway = gateway::app::start(demo).await.expect("the demo starts");
        gateway.shutdown.trigger();
        gateway.run().await.expect("stops");
    }
    let err = refusal(material.config(data.path())).await;
    assert!(err.contains("(14 found)"), "every demo venue: {err}");

    let deleted = gateway::demo_material::VENUES
        .iter()
        .map(|v| v.id)
        .find(|id| *id != "jinan-baotu-spring-park")
        .expect("two demo venues");
    for id in gateway::demo_material::VENUES.iter().map(|v| v.id) {
        let command = match id {
            "jinan-baotu-spring-park" => "rotate",
            _ if id == deleted => "delete",
            _ => "disable",
        };
        let (ok, out, err) = venues_command(data.path(), &[command, id]);
        assert!(ok, "venues {command} {id}: {err}");
        assert!(out.contains(&format!("venue `{id}`")), "{out}");
        if command == "rotate" {
            assert!(out.contains("mzv_"), "the new key is printed: {out}");
        }
    }
    let (ok, _, err) = venues_command(data.path(), &["delete", deleted]);
    assert!(!ok, "a venue deleted twice");
    assert!(
        err.contains(&format!("deleting venue `{deleted}`")),
        "{err}"
    );
    let (ok, out, err) = venues_command(
        data.path(),
        &[
            "add",
            "--id",
            "jinan-city-museum",
            "--name",
            "济南市博物馆",
            "--city",
            "370100",
            "--scenario",
            "park-entry-senior",
            "--rate",
            "50",
        ],
    );
    assert!(ok, "venues add: {err}");
    let key = out.lines().last().expect("the key").trim().to_owned();
    assert!(key.starts_with("mzv_"), "{out}");
    let (ok, _, err) = venues_command(
        data.path(),
        &[
            "add",
            "--id",
            "Bad Id",
            "--name",
            "x",
            "--city",
            "1",
            "--scenario",
            "nope",
            "--rate",
            "0",
        ],
    );
    assert!(!ok);
    for problem in [
        "id `Bad Id` must be",
        "city `1` is not in the catalogue",
        "scenario `nope` is not in the catalogue",
        "rate_per_sec must be at least 1",
    ] {
        assert!(err.contains(problem), "`{problem}` in {err}");
    }

    // Nothing of the demo is left: production starts, and knows the new venue by its key.
    let gateway = gateway::app::start(material.config(data.path()))
        .await
        .expect("production starts once the demo venues are disabled or re-keyed");
    let venue = gateway
        .service
        .registry
        .by_key(&key)
        .await
        .expect("store")
        .expect("the added venue");
    assert_eq!(venue.name, "济南市博物馆");
    gateway.shutdown.trigger();
    gateway.run().await.expect("stops");
}
