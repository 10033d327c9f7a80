//! The `gateway code` and `gateway keys` commands, run as the real binary. `code mint` and
//! `code inspect` are given the repository's platform key files unless a test gives its own: a
//! build without the `demo` feature has no keys embedded.

use std::process::{Command, Output};

use serde_json::Value;

/// `config/keys/platform.demo-secret.toml`: the platform's demo signing keys.
const PLATFORM_SECRET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/keys/platform.demo-secret.toml"
);
/// `config/keys/platform.trust.toml`: their trust list.
const PLATFORM_TRUST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/keys/platform.trust.toml"
);

fn gateway(args: &[&str]) -> Output {
    let mut args = args.to_vec();
    let given = |flag: &str| args.contains(&flag);
    match args.get(..2) {
        Some(["code", "mint"]) if !given("--keys") => args.extend(["--keys", PLATFORM_SECRET]),
        Some(["code", "inspect"]) if !given("--trust") => args.extend(["--trust", PLATFORM_TRUST]),
        _ => {}
    }
    run(&args)
}

/// The binary with exactly `args`.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(args)
        .output()
        .expect("run gateway")
}

/// `gateway keys generate` into `secret` and `trust`, with `extra` flags.
fn generate_keys(secret: &std::path::Path, trust: &std::path::Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "keys",
        "generate",
        "--out-secret",
        secret.to_str().expect("p"),
        "--out-trust",
        trust.to_str().expect("p"),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

fn mint(extra: &[&str]) -> String {
    let mut args = vec!["code", "mint", "--format", "raw"];
    args.extend_from_slice(extra);
    let out = gateway(&args);
    assert!(out.status.success(), "mint failed: {}", stderr(&out));
    stdout(&out).trim_end_matches('\n').to_string()
}

fn inspect(code: &str, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["code", "inspect", code];
    args.extend_from_slice(extra);
    let out = gateway(&args);
    let json = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("inspect prints JSON ({e}): {}", stdout(&out)));
    (out, json)
}

#[test]
fn mint_then_inspect_round_trips_for_each_profile() {
    for profile in ["eddsa", "es256", "es384", "sm2", "hmac"] {
        let code = mint(&[
            "--subject",
            "demo-000123",
            "--kind",
            "person",
            "--city",
            "370200",
            "--profile",
            profile,
            "--scope",
            "resident-id-card,driving-licence",
        ]);
        assert!(code.starts_with("MZ1:"), "{code}");
        let (out, json) = inspect(&code, &[]);
        assert!(out.status.success(), "{profile}: {}", stderr(&out));
        assert_eq!(json["verified"], true);
        assert_eq!(json["claims"]["subject"], "demo-000123");
        assert_eq!(json["claims"]["kind"], "person");
        assert_eq!(json["claims"]["city"], 370200);
        assert_eq!(json["claims"]["scope"][1], "driving-licence");
        assert_eq!(
            json["algorithm"].as_str().map(str::to_lowercase).as_deref(),
            Some(profile.replace("hmac", "hmac256").as_str())
        );
    }
}

/// The EU DCC vectors signed with RSA-PSS (PS256): no profile mints with PS256, and `inspect`
/// verifies them all the same, with their signer certificate as the trust list.
#[test]
fn inspect_verifies_the_ps256_vectors_and_mint_refuses_ps256() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["CO1", "CO2"] {
        let path = format!(
            "{}/../../shared/conformance/dgc-testdata/common/2DCode/raw/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let raw: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("vector")).expect("json");
        let der = base64::engine::general_purpose::STANDARD
            .decode(raw["TESTCTX"]["CERTIFICATE"].as_str().expect("cert"))
            .expect("base64");
        let cert = dir.path().join(format!("{name}.der"));
        std::fs::write(&cert, der).expect("write der");
        let clock = raw["TESTCTX"]["VALIDATIONCLOCK"].as_str().expect("clock");
        let prefixed = raw["PREFIX"].as_str().expect("prefix");
        let (out, json) = inspect(
            prefixed,
            &[
                "--prefix",
                "HC1:",
                "--trust",
                cert.to_str().expect("path"),
                "--at",
                clock,
            ],
        );
        assert!(out.status.success(), "{name}: {}", stdout(&out));
        assert_eq!(json["algorithm"], "PS256", "{name}");
    }
    let out = gateway(&[
        "code",
        "mint",
        "--subject",
        "x",
        "--kind",
        "person",
        "--profile",
        "ps256",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("PS256 is not a code profile"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_default_output_survives_xargs() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{bin} code mint --keys {PLATFORM_SECRET} --subject org-77 --kind org \
             | xargs {bin} code inspect --trust {PLATFORM_TRUST}",
            bin = env!("CARGO_BIN_EXE_gateway")
        ))
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["claims"]["kind"], "organisation");
}

#[cfg(feature = "demo")]
#[test]
fn asked_by_name_the_embedded_demo_keys_mint_and_verify() {
    let out = run(&[
        "code",
        "mint",
        "--demo-keys",
        "--subject",
        "demo-2",
        "--kind",
        "person",
        "--format",
        "raw",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let code = stdout(&out).trim_end_matches('\n').to_string();
    let out = run(&["code", "inspect", &code]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["verified"], true);
}

#[cfg(not(feature = "demo"))]
#[test]
fn without_the_demo_the_key_files_are_required() {
    let out = run(&[
        "code",
        "mint",
        "--demo-keys",
        "--subject",
        "x",
        "--kind",
        "person",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("built without the demo keys"),
        "{}",
        stderr(&out)
    );
    let out = run(&["code", "inspect", "MZ1:x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--trust is required"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn one_changed_character_fails_with_a_specific_machine_code() {
    let code = mint(&["--subject", "demo-1", "--kind", "person"]);
    let specific = [
        "code.bad_signature",
        "code.bad_base45",
        "code.non_canonical_base45",
        "code.bad_cbor",
        "code.bad_cose",
        "code.bad_claims",
        "code.unknown_key",
        "code.missing_claim",
        "code.bad_prefix",
        "code.unsupported_algorithm",
        "code.missing_algorithm",
        "code.expired",
        "code.not_yet_valid",
        "code.lifetime_too_long",
    ];
    // A character in the signature (end) and one in the claims (middle).
    for position in [code.len() - 5, code.len() / 2] {
        let original = code.as_bytes()[position];
        let replacement = if original == b'A' { "B" } else { "A" };
        let mut tampered = code.clone();
        tampered.replace_range(position..=position, replacement);
        let (out, json) = inspect(&tampered, &[]);
        assert_eq!(out.status.code(), Some(1), "position {position}");
        let machine = json["error"]["code"].as_str().expect("error code");
        assert!(
            specific.contains(&machine),
            "position {position}: {machine}"
        );
        assert!(stderr(&out).contains(machine), "stderr names the code");
        assert_eq!(json["verified"], false);
    }
    // The last signature byte: always the signature check.
    let bytes_changed = {
        let mut t = code.clone();
        let last = t.len() - 1;
        let c = t.as_bytes()[last];
        t.replace_range(last.., if c == b'0' { "1" } else { "0" });
        t
    };
    let (_, json) = inspect(&bytes_changed, &[]);
    assert!(
        ["code.bad_signature", "code.non_canonical_base45"]
            .contains(&json["error"]["code"].as_str().unwrap_or("")),
        "{json}"
    );
}

#[test]
fn inspect_checks_time_against_at() {
    let code = mint(&["--subject", "demo-1", "--kind", "person", "--ttl", "60"]);
    let (out, json) = inspect(&code, &["--at", "2099-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["error"]["code"], "code.expired");
    assert_eq!(
        json["unverified_claims"]["subject"], "demo-1",
        "shows what the code says"
    );
    let (_, json) = inspect(&code, &["--at", "2000-01-01T00:00:00Z"]);
    assert_eq!(json["error"]["code"], "code.not_yet_valid");
}

#[test]
fn inspect_accepts_an_x509_certificate_as_trust() {
    // An EU DCC vector: the signer certificate as DER and as PEM.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/dgc-testdata/DE/2DCode/raw/1.json"
    );
    let raw: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("DE/1 vector")).expect("json");
    use base64::Engine as _;
    let b64 = raw["TESTCTX"]["CERTIFICATE"].as_str().expect("cert");
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let dir = tempfile::tempdir().expect("tempdir");
    let der_path = dir.path().join("signer.der");
    std::fs::write(&der_path, &der).expect("write der");
    let pem_path = dir.path().join("signer.pem");
    std::fs::write(
        &pem_path,
        format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"),
    )
    .expect("write pem");
    let prefixed = raw["PREFIX"].as_str().expect("prefix");
    for trust in [&der_path, &pem_path] {
        let (out, json) = inspect(
            prefixed,
            &[
                "--prefix",
                "HC1:",
                "--trust",
                trust.to_str().expect("path"),
                "--at",
                "2021-06-01T20:00:00+02:00",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(json["algorithm"], "ES256");
        assert_eq!(json["claims"]["issuer"], "DE");
    }
    // Our own trust list does not know the DCC signer.
    let (out, json) = inspect(
        prefixed,
        &["--prefix", "HC1:", "--at", "2021-06-01T20:00:00+02:00"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["error"]["code"], "code.unknown_key");
}

#[test]
fn generated_keys_mint_and_verify_and_the_demo_trust_list_refuses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.toml");
    let trust = dir.path().join("trust.toml");
    let out = generate_keys(&secret, &trust, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = generate_keys(&secret, &trust, &[]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "refuses to overwrite without --force"
    );
    let code = mint(&[
        "--subject",
        "x",
        "--kind",
        "person",
        "--profile",
        "es256",
        "--keys",
        secret.to_str().expect("p"),
    ]);
    let (out, _) = inspect(&code, &["--trust", trust.to_str().expect("p")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (out, json) = inspect(&code, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json["error"]["code"], "code.unknown_key");
}

#[test]
fn bad_arguments_get_clear_errors() {
    let mint = ["code", "mint"];
    let person = ["--kind", "person"];
    let cases: [(&[&str], &str); 4] = [
        (
            &["--subject", "x", "--scope", "no-such-type"],
            "unknown certificate type `no-such-type`",
        ),
        (
            &["--subject", "x", "--city", "999999"],
            "unknown city `999999`",
        ),
        (&["--subject", "no spaces please"], "code.bad_claims"),
        (
            &["--subject", "x", "--kind", "robot"],
            "unknown holder kind `robot`",
        ),
    ];
    for (extra, expected) in cases {
        let kind: &[&str] = if extra.contains(&"--kind") {
            &[]
        } else {
            &person
        };
        let args: Vec<&str> = mint.iter().chain(kind).chain(extra).copied().collect();
        let out = gateway(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// The server, started from an empty folder (so it reads the embedded configuration, whose
/// admin token is the demo one) with `overrides`: what it printed to standard error when it
/// stopped, or a panic when it came up and served.
fn serve_refused(overrides: &[&str]) -> (Option<i32>, String) {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Every listener on a free loopback port, unless `overrides` names it.
    let listeners = [
        ["--listen-public", "127.0.0.1:0"],
        ["--listen-plain", "off"],
        ["--listen-admin", "127.0.0.1:0"],
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .current_dir(dir.path())
        .args(
            listeners
                .iter()
                .filter(|[flag, _]| !overrides.contains(flag))
                .flatten(),
        )
        .arg("--data-dir")
        .arg(&data)
        .args(overrides)
        .env_remove("MIANZHENG_ADMIN_TOKEN")
        .env_remove("MIANZHENG_GATEWAY_CONFIG")
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run gateway");
    let stdout = child.stdout.take().expect("stdout");
    // A refused start prints nothing and exits (end of output); a start prints the banner.
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 stdout");
        if line.contains("gateway ready") {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway started with {overrides:?}");
        }
    }
    let out = child.wait_with_output().expect("wait for gateway");
    (out.status.code(), stderr(&out))
}

#[test]
fn command_line_listeners_are_validated_like_the_file() {
    let (status, err) = serve_refused(&["--listen-admin", "0.0.0.0:0"]);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("admin.token"), "{err}");
    assert!(err.contains("--listen-admin 0.0.0.0:0"), "{err}");

    let (status, err) = serve_refused(&["--listen-plain", "0.0.0.0:0"]);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("listen.public_plain `0.0.0.0:0`"), "{err}");

    let (status, err) = serve_refused(&["--listen-plain", "nowhere"]);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("`nowhere` is neither an address"), "{err}");
}

#[test]
fn mint_without_keys_or_demo_keys_is_refused() {
    let out = run(&["code", "mint", "--subject", "x", "--kind", "person"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--keys FILE") && err.contains("--demo-keys"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "no code is printed");
}

#[cfg(unix)]
#[test]
fn generated_key_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.toml");
    let trust = dir.path().join("trust.toml");
    let generate = |extra: &[&str]| {
        let out = generate_keys(&secret, &trust, extra);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    generate(&[]);
    assert_eq!(mode(&secret), 0o600, "the signing keys");
    assert_eq!(mode(&trust), 0o600, "the trust list holds the HMAC secret");
    // Replacing files someone made world-readable leaves them the owner's only.
    for path in [&secret, &trust] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    generate(&["--force"]);
    assert_eq!((mode(&secret), mode(&trust)), (0o600, 0o600));
}

#[test]
fn a_service_window_code_names_the_items_it_opens() {
    let code = mint(&[
        "--subject",
        "window-1",
        "--kind",
        "person",
        "--purpose",
        "service-window",
        "--scope",
        "item:23,department:public-security",
    ]);
    let (out, json) = inspect(&code, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = json.to_string();
    assert!(text.contains("service-window"), "{text}");
    assert!(text.contains("item:23"), "{text}");

    // Without a scope it would open nothing; an unknown item or a certificate type is not a
    // service window's consent.
    for (scope, error) in [
        (None, "needs --scope"),
        (Some("item:9999"), "names no service item"),
        (Some("department:nobody"), "names no service item"),
        (Some("resident-id-card"), "a service-window scope names"),
    ] {
        let mut args = vec![
            "code",
            "mint",
            "--subject",
            "window-1",
            "--kind",
            "person",
            "--purpose",
            "service-window",
        ];
        if let Some(scope) = scope {
            args.extend(["--scope", scope]);
        }
        let out = gateway(&args);
        assert!(!out.status.success(), "{scope:?} minted");
        assert!(stderr(&out).contains(error), "{scope:?}: {}", stderr(&out));
    }
}

#[test]
fn catalogue_check_reports_coverage_and_fails_on_an_unreached_certificate() {
    let out = run(&["catalogue", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("service items      500"),
        "{}",
        stdout(&out)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    wire::catalogue::EMBEDDED
        .write_to(dir.path())
        .expect("copied");
    let items = dir.path().join(wire::catalogue::SERVICE_ITEMS_FILE);
    // A certificate type only service items ask for, taken out of every item.
    let coverage = wire::catalogue::Catalogue::embedded().coverage();
    let only_items = coverage
        .reached_by_item
        .difference(&coverage.reached_by_scenario)
        .next()
        .expect("a certificate only service items ask for")
        .clone();
    let text = std::fs::read_to_string(&items).expect("read");
    let material = format!("certificate = \"{only_items}\"");
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.contains(&material))
        .collect();
    std::fs::write(&items, kept.join("\n")).expect("write");
    let out = run(&[
        "--config-dir",
        dir.path().to_str().expect("utf-8"),
        "catalogue",
        "check",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains(&only_items), "{}", stdout(&out));
}
