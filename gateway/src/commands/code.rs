//! `gateway code inspect` and `gateway code mint`.
//!
//! `inspect` decodes a code, verifies it against a trust list at a given time and prints what
//! it says as JSON; it exits non-zero with the machine code when the code does not verify.
//! `mint` makes a fresh code with the platform's key from `--keys FILE`, or with the
//! repository's demo key only when asked by name (`--demo-keys`).

use std::io::{Read as _, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::json;
use wire::catalogue::model::HolderKind;
use wire::catalogue::Catalogue;
use wire::code::{
    CwtClaims, HeaderPolicy, HolderClaims, Minter, Profile, Purpose, Verifier, DEPARTMENT_SCOPE,
    ITEM_SCOPE, PREFIX,
};

#[cfg(feature = "demo")]
use crate::demo;
use wire::keys::{self, SigningKey, TrustList};

/// Arguments of `gateway code inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The code text, or `-` to read it from standard input.
    pub code: String,
    /// Trust list: our TOML key file, or a DER/PEM X.509 signer certificate
    /// [default: the embedded demo trust list].
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Verify as of this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<Utc>>,
    /// The code's prefix. Another prefix (e.g. `HC1:` for an EU DCC) also admits the
    /// algorithm in the unprotected header when the protected one is empty, as the DCC does.
    #[arg(long, default_value = PREFIX)]
    pub prefix: String,
    /// Clock skew tolerated on `iat`/`exp`, in seconds.
    #[arg(long, default_value_t = 30)]
    pub skew: u32,
}

/// What `inspect` concluded; the binary turns it into the exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Inspected {
    Verified,
    Refused(&'static str),
}

pub fn inspect(args: &InspectArgs, out: &mut dyn Write) -> Result<Inspected> {
    let text = if args.code == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the code from standard input")?;
        s
    } else {
        args.code.clone()
    };
    let text = text.trim();
    let at = args.at.unwrap_or_else(Utc::now);
    let policy = if args.prefix == PREFIX {
        HeaderPolicy::Strict
    } else {
        HeaderPolicy::Dcc
    };
    // Inspection names what it finds: a code of any algorithm a trusted key verifies, PS256 (the
    // EU DCC signers') included, whichever profiles a gateway accepts.
    let verifier = Verifier::new(trust_list(args.trust.as_deref())?)
        .accept_every_algorithm()
        .prefix(&args.prefix)
        .clock_skew(args.skew)
        .header_policy(policy);

    let decoded = verifier.decode(text);
    let outcome = decoded.as_ref().map_err(Clone::clone).and_then(|decoded| {
        if decoded.claims.is_holder_code() {
            verifier.check(decoded, at).map(|v| Some(v.claims))
        } else {
            verifier.check_cwt(decoded, at).map(|()| None)
        }
    });
    let report = match (&outcome, &decoded) {
        (Ok(holder), Ok(decoded)) => json!({
            "verified": true,
            "checked_at": at.to_rfc3339(),
            "algorithm": decoded.message.algorithm().name(),
            "kid": decoded.message.key_id().to_string(),
            "claims": claims_json(&decoded.claims, holder.as_ref()),
        }),
        (Err(err), _) | (Ok(_), Err(err)) => {
            // Show what the code says even when it does not verify, marked as unverified.
            let unverified = decoded.as_ref().ok().map(|d| {
                let holder = HolderClaims::from_cwt(&d.claims).ok();
                claims_json(&d.claims, holder.as_ref())
            });
            json!({
                "verified": false,
                "checked_at": at.to_rfc3339(),
                "error": { "code": err.code(), "message": err.to_string() },
                "unverified_claims": unverified,
            })
        }
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(match outcome {
        Ok(_) => Inspected::Verified,
        Err(e) => Inspected::Refused(e.code()),
    })
}

fn time(secs: Option<i64>) -> serde_json::Value {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or(serde_json::Value::Null, |t| json!(t.to_rfc3339()))
}

fn claims_json(cwt: &CwtClaims, holder: Option<&HolderClaims>) -> serde_json::Value {
    match holder {
        Some(h) => {
            let mut v = serde_json::to_value(h).expect("claims serialize");
            v["issued_at_time"] = time(Some(h.issued_at));
            v["expires_at_time"] = time(Some(h.expires_at));
            v
        }
        None => json!({
            "issuer": cwt.issuer,
            "subject": cwt.subject,
            "issued_at": cwt.issued_at,
            "issued_at_time": time(cwt.issued_at),
            "expires_at": cwt.expires_at,
            "expires_at_time": time(cwt.expires_at),
            "not_before": cwt.not_before,
            "cti": cwt.cti.as_ref().map(hex::encode),
            "other": cwt.other.iter().map(|(k, v)| (k.to_string(), serde_json::to_value(v).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        }),
    }
}

fn purpose(text: &str) -> Result<Purpose, String> {
    match text {
        "presentation" => Ok(Purpose::Presentation),
        "holder-access" => Ok(Purpose::HolderAccess),
        "service-window" => Ok(Purpose::ServiceWindow),
        other => Err(format!(
            "`{other}` is not `presentation`, `holder-access` or `service-window`"
        )),
    }
}

/// Arguments of `gateway code mint`.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// Pseudonymous subject handle (1–64 of A–Z a–z 0–9 - _ .); never an ID number.
    #[arg(long)]
    pub subject: String,
    /// Holder kind.
    #[arg(long, value_parser = parse_kind)]
    pub kind: HolderKind,
    /// Home city, GB/T 2260 code (e.g. 370100 for Jinan); routes city-level certificates.
    #[arg(long)]
    pub city: Option<u32>,
    /// Seconds the code lives.
    #[arg(long, default_value_t = 120)]
    pub ttl: u32,
    /// What the holder consents to (comma-separated): certificate types for a presentation
    /// code (absent = any); `item:<no>` or `department:<id>` for a service-window code (which
    /// needs one).
    #[arg(long, value_delimiter = ',')]
    pub scope: Option<Vec<String>>,
    /// What the code is for: `presentation` (shown to a venue), `holder-access` (the
    /// holder's own "who checked me" and objections) or `service-window` (a service hall
    /// pulls one service item's materials).
    #[arg(long, default_value = "presentation", value_parser = purpose)]
    pub purpose: Purpose,
    /// Protection profile: eddsa, es256, es384, sm2 or hmac.
    #[arg(long, default_value = "eddsa")]
    pub profile: Profile,
    /// Signing key file (from `gateway keys generate`).
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Sign with the repository's demo platform keys (the demo only: anyone can mint with them).
    #[arg(long, conflicts_with = "keys")]
    pub demo_keys: bool,
    /// Deflate before base45.
    #[arg(long)]
    pub compress: bool,
    /// Issuer claim.
    #[arg(long, default_value = "mianzheng-platform")]
    pub issuer: String,
    /// How to print the code. Base45 contains spaces and `$`, so the default quotes it for a
    /// shell (and for `xargs`); `raw` is the text a QR code carries; `json` a JSON string.
    #[arg(long, value_enum, default_value_t = Format::Shell)]
    pub format: Format,
}

/// Output format of `mint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Shell,
    Raw,
    Json,
}

impl Format {
    /// `code` as this format prints it. Base45 has no quote or backslash, so single quotes
    /// make it one shell word, and it needs no escaping in JSON.
    pub fn render(self, code: &str) -> String {
        match self {
            Format::Shell => format!("'{code}'"),
            Format::Raw => code.to_string(),
            Format::Json => serde_json::to_string(code).expect("a string serializes"),
        }
    }
}

fn parse_kind(s: &str) -> Result<HolderKind, String> {
    match s {
        "person" => Ok(HolderKind::Person),
        "org" | "organisation" => Ok(HolderKind::Organisation),
        _ => Err(format!(
            "unknown holder kind `{s}` (expected person or org)"
        )),
    }
}

pub fn mint(args: &MintArgs, catalogue: &Catalogue, out: &mut dyn Write) -> Result<()> {
    if let Some(city) = args.city {
        if catalogue.city(city).is_none() {
            bail!("unknown city `{city}`: see config/cities.toml");
        }
    }
    for entry in args.scope.iter().flatten() {
        check_scope_entry(entry, args.purpose, catalogue)?;
    }
    if args.purpose == Purpose::ServiceWindow && args.scope.is_none() {
        bail!("a service-window code needs --scope naming `item:<no>` or `department:<id>`");
    }
    let key = signing_keys(args.keys.as_deref(), args.demo_keys)?
        .into_iter()
        .find(|k| k.algorithm() == args.profile.algorithm())
        .with_context(|| format!("no {} key in the key file", args.profile.algorithm()))?;
    let now = Utc::now().timestamp();
    let claims = HolderClaims {
        issuer: args.issuer.clone(),
        subject: args.subject.clone(),
        kind: args.kind,
        city: args.city,
        issued_at: now,
        expires_at: now + i64::from(args.ttl),
        nonce: rand_nonce(),
        scope: args.scope.clone(),
        purpose: args.purpose,
        presenter: None,
        medium: Default::default(),
    };
    // Refuse what a verifier would refuse, rather than print a code that cannot work.
    let cwt = CwtClaims::from_value(claims.to_value()).context("building claims")?;
    HolderClaims::from_cwt(&cwt).map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    let code = Minter::new(key).compress(args.compress).mint(&claims);
    writeln!(out, "{}", args.format.render(&code))?;
    Ok(())
}

/// A `--scope` entry a verifier would honour for `purpose`: a certificate type, or for a
/// service-window code a service item or a department some item names.
fn check_scope_entry(entry: &str, purpose: Purpose, catalogue: &Catalogue) -> Result<()> {
    if purpose != Purpose::ServiceWindow {
        if catalogue.certificate(entry).is_none() {
            bail!("unknown certificate type `{entry}` in --scope: see config/certificates.toml");
        }
        return Ok(());
    }
    let items = catalogue.service_items();
    let known = match entry.split_once(':') {
        Some((ITEM_SCOPE, no)) => no
            .parse::<u32>()
            .is_ok_and(|no| catalogue.service_item(no).is_some()),
        Some((DEPARTMENT_SCOPE, id)) => items.iter().any(|item| item.department == id),
        _ => bail!(
            "`{entry}` in --scope: a service-window scope names `item:<no>` or `department:<id>`"
        ),
    };
    if !known {
        bail!("`{entry}` in --scope names no service item: see config/service-items.toml");
    }
    Ok(())
}

fn rand_nonce() -> Vec<u8> {
    use rand::RngCore as _;
    let mut n = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

/// The trust list at `path` (key file, PEM or DER certificate); without one, the demo's.
fn trust_list(path: Option<&std::path::Path>) -> Result<TrustList> {
    match path {
        Some(p) => {
            TrustList::load(p).with_context(|| format!("loading trust list from `{}`", p.display()))
        }
        #[cfg(feature = "demo")]
        None => demo::platform_trust(),
        #[cfg(not(feature = "demo"))]
        None => bail!("--trust is required: this gateway is built without the demo keys"),
    }
}

/// The signing keys at `path`, or the demo's when asked for by name; never the demo's by
/// default.
fn signing_keys(path: Option<&std::path::Path>, demo_keys: bool) -> Result<Vec<SigningKey>> {
    match (path, demo_keys) {
        (Some(p), _) => keys::load_signing_keys(p)
            .with_context(|| format!("loading signing keys from `{}`", p.display())),
        #[cfg(feature = "demo")]
        (None, true) => demo::platform_keys(),
        #[cfg(not(feature = "demo"))]
        (None, true) => {
            bail!("--demo-keys: this gateway is built without the demo keys; pass --keys FILE")
        }
        (None, false) => bail!(
            "code mint needs the keys to sign with: pass --keys FILE (made by `gateway keys \
             generate`), or --demo-keys to sign with the repository's demo keys"
        ),
    }
}
