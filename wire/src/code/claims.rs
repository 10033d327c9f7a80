//! CWT claims (RFC 8392): the standard ones every COSE-signed token may carry, and the holder
//! claims of a Mianzheng code on top of them.

use ciborium::value::{Integer, Value};
use serde::{Deserialize, Serialize};

use super::error::CodeError;
use crate::catalogue::model::{CityCode, HolderKind};

/// CWT claim keys (RFC 8392 §4) and our private-use keys (below −65536, RFC 8392 §9.1).
mod label {
    pub const ISS: i128 = 1;
    pub const SUB: i128 = 2;
    pub const EXP: i128 = 4;
    pub const NBF: i128 = 5;
    pub const IAT: i128 = 6;
    pub const CTI: i128 = 7;
    pub const HOLDER_KIND: i128 = -65537;
    pub const CITY: i128 = -65538;
    pub const SCOPE: i128 = -65539;
    pub const PURPOSE: i128 = -65540;
    pub const PRESENTER: i128 = -65541;
    pub const MEDIUM: i128 = -65542;
}

/// The registered claims of any CWT, plus the rest by label for callers that know them
/// (the EU DCC puts its certificate under −260).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CwtClaims {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub expires_at: Option<i64>,
    pub not_before: Option<i64>,
    pub issued_at: Option<i64>,
    pub cti: Option<Vec<u8>>,
    pub other: Vec<(i128, Value)>,
}

/// The earliest claim time accepted (the Unix epoch): no code or CWT we read predates it.
pub const MIN_TIME: i64 = 0;
/// The latest claim time accepted (9999-12-31T23:59:59Z). Bounding every claim time to
/// `MIN_TIME..=MAX_TIME` keeps all arithmetic on them (lifetime, skew, expiry buckets) far from
/// overflow, and every such time is a valid `chrono` date.
pub const MAX_TIME: i64 = 253_402_300_799;

fn bad(msg: impl Into<String>) -> CodeError {
    CodeError::BadClaims(msg.into())
}

fn as_time(v: &Value, name: &'static str) -> Result<i64, CodeError> {
    let out_of_range = |value: i128| CodeError::TimeOutOfRange { claim: name, value };
    let time = match v {
        Value::Integer(i) => i128::from(*i),
        // NumericDate may be a float (RFC 8392 §2); fractions are dropped.
        Value::Float(f) if f.is_finite() && f.abs() < 1e15 => *f as i128,
        Value::Float(f) if f.is_finite() => return Err(out_of_range(*f as i128)),
        _ => return Err(bad(format!("`{name}` is not a NumericDate"))),
    };
    match i64::try_from(time) {
        Ok(t) if (MIN_TIME..=MAX_TIME).contains(&t) => Ok(t),
        _ => Err(out_of_range(time)),
    }
}

fn as_text(v: Value, name: &str) -> Result<String, CodeError> {
    match v {
        Value::Text(s) => Ok(s),
        _ => Err(bad(format!("`{name}` is not a text string"))),
    }
}

impl CwtClaims {
    /// Parses a claims map. Duplicate keys and non-integer keys are refused; unknown integer
    /// keys are kept in `other`.
    pub fn from_value(value: Value) -> Result<CwtClaims, CodeError> {
        let Value::Map(entries) = value else {
            return Err(bad("payload is not a CBOR map"));
        };
        let mut claims = CwtClaims::default();
        let mut seen = Vec::with_capacity(entries.len());
        for (key, v) in entries {
            let key = match key {
                Value::Integer(i) => i128::from(i),
                // Text keys are allowed by RFC 8392 but never used by us or the DCC.
                Value::Text(t) => {
                    return Err(bad(format!("text claim key `{t}` is not supported")))
                }
                _ => return Err(bad("claim key is neither integer nor text")),
            };
            if seen.contains(&key) {
                return Err(bad(format!("claim {key} appears twice")));
            }
            seen.push(key);
            match key {
                label::ISS => claims.issuer = Some(as_text(v, "iss")?),
                label::SUB => claims.subject = Some(as_text(v, "sub")?),
                label::EXP => claims.expires_at = Some(as_time(&v, "exp")?),
                label::NBF => claims.not_before = Some(as_time(&v, "nbf")?),
                label::IAT => claims.issued_at = Some(as_time(&v, "iat")?),
                label::CTI => match v {
                    Value::Bytes(b) => claims.cti = Some(b),
                    _ => return Err(bad("`cti` is not a byte string")),
                },
                _ => claims.other.push((key, v)),
            }
        }
        Ok(claims)
    }

    /// Whether this looks like a Mianzheng holder code (it carries our holder-kind claim)
    /// rather than a foreign CWT such as an EU DCC.
    pub fn is_holder_code(&self) -> bool {
        self.get(label::HOLDER_KIND).is_some()
    }

    /// The claim with private label `key`, if present.
    pub fn get(&self, key: i128) -> Option<&Value> {
        self.other.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Checks the time window at `now` (Unix seconds), allowing `skew` seconds either way:
    /// not expired, not issued in the future, not before `nbf`.
    pub fn check_time(&self, now: i64, skew: i64) -> Result<(), CodeError> {
        if let Some(exp) = self.expires_at {
            if now > exp.saturating_add(skew) {
                return Err(CodeError::Expired {
                    expired_at: exp,
                    now,
                });
            }
        }
        for from in [self.issued_at, self.not_before].into_iter().flatten() {
            if now < from.saturating_sub(skew) {
                return Err(CodeError::NotYetValid {
                    valid_from: from,
                    now,
                });
            }
        }
        Ok(())
    }
}

/// What a Mianzheng holder code asserts: who minted it, for which pseudonymous holder, for how
/// long, and (optionally) for which certificate types the holder consents to its use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderClaims {
    /// The minting platform.
    pub issuer: String,
    /// Pseudonymous subject handle; never an ID number.
    pub subject: String,
    pub kind: HolderKind,
    /// Home city (GB/T 2260), which routes city-level certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<CityCode>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Nonce for replay detection, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    /// Certificate types this code may be used for ("授权展码"); absent means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// What the code is for: shown to a venue, or the holder's own access to their records.
    #[serde(default)]
    pub purpose: Purpose,
    /// Who shows the code when it is not the holder: an agent for a company, a family member
    /// for an elder or a child. Absent: the holder shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presenter: Option<Presenter>,
    /// On a phone (dynamic, minutes) or printed on paper (for a holder without a smartphone).
    #[serde(default)]
    pub medium: Medium,
}

/// Who presents a code that names someone else as its holder (`sub`), and under which
/// delegation: the code is refused once the delegation is revoked, on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presenter {
    pub relation: Relation,
    /// The delegation's id: the company's authorization of its agent, or the holder's grant to
    /// a family member.
    pub delegation: String,
    /// The presenter's own subject handle.
    pub subject: String,
    /// The presenter's name as the venue sees it, masked (张*三).
    pub name: String,
}

/// How the presenter stands to the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// An agent (经办人) a company's legal representative authorized for some certificates.
    Agent,
    /// A family member the holder granted standing permission for some scenarios (代亮码).
    Family,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Agent => "agent",
            Relation::Family => "family",
        }
    }

    fn label_value(self) -> i128 {
        match self {
            Relation::Agent => 0,
            Relation::Family => 1,
        }
    }
}

/// What a code is shown on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    /// A dynamic code on the holder's phone, living minutes. A code without the claim is one.
    #[default]
    Phone,
    /// A printed code for a holder without a smartphone: it lives long (up to the verifier's
    /// paper lifetime), is accepted only by scenarios marked `paper_ok`, may be used once per
    /// venue per day, and is revoked when reported lost.
    Paper,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Phone => "phone",
            Medium::Paper => "paper",
        }
    }
}

/// What a code is for, signed into it, so that a code shown to a venue (or photographed there)
/// cannot open the holder's own routes, and a code for those routes cannot be verified by a
/// venue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Shown to a venue for a verification (`POST /v1/verify`; a venue's objection). A code
    /// without the claim is for this.
    #[default]
    Presentation,
    /// The holder's own access: "who checked me" and filing an objection as the holder.
    HolderAccess,
    /// Shown at a government service window (免证办, `POST /v1/materials`): the service
    /// window pulls the materials of one service item. Its consent scope must name the item
    /// (`item:<no>`) or the item's department (`department:<id>`); without a scope it opens
    /// nothing.
    ServiceWindow,
}

impl Purpose {
    /// The claim's value; [`Purpose::Presentation`] is written as no claim at all.
    fn label_value(self) -> Option<i128> {
        match self {
            Purpose::Presentation => None,
            Purpose::HolderAccess => Some(1),
            Purpose::ServiceWindow => Some(2),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Presentation => "presentation",
            Purpose::HolderAccess => "holder-access",
            Purpose::ServiceWindow => "service-window",
        }
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Longest subject handle accepted; handles are pseudonyms, not documents.
pub const MAX_SUBJECT_LEN: usize = 64;
/// Shortest and longest nonce (`cti`) accepted; ours are 16 random bytes.
pub const MIN_NONCE_LEN: usize = 8;
pub const MAX_NONCE_LEN: usize = 64;
/// Most certificate types one consent scope may list.
pub const MAX_SCOPE_LEN: usize = 64;
/// Longest delegation id a presenter claim may carry.
pub const MAX_DELEGATION_LEN: usize = 64;
/// Longest presenter name (characters) a presenter claim may carry.
pub const MAX_PRESENTER_NAME_CHARS: usize = 32;

/// Whether `handle` is a subject handle: 1–64 characters of A–Z a–z 0–9 - _ .
pub fn is_subject_handle(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= MAX_SUBJECT_LEN
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl HolderClaims {
    /// A person's claims as the platform mints them for `subject` of `city`: issued now, valid
    /// for `lifetime_secs`, a random nonce, no consent scope.
    pub fn fresh_person(subject: &str, city: Option<CityCode>, lifetime_secs: i64) -> HolderClaims {
        let now = chrono::Utc::now().timestamp();
        HolderClaims {
            issuer: "mianzheng-platform".into(),
            subject: subject.to_string(),
            kind: HolderKind::Person,
            city,
            issued_at: now,
            expires_at: now + lifetime_secs,
            nonce: rand::random::<[u8; 16]>().to_vec(),
            scope: None,
            purpose: Purpose::Presentation,
            presenter: None,
            medium: Medium::Phone,
        }
    }

    /// The holder claims of a verified CWT; every claim but `city` and `scope` is required.
    pub fn from_cwt(cwt: &CwtClaims) -> Result<HolderClaims, CodeError> {
        let subject = cwt.subject.clone().ok_or(CodeError::MissingClaim("sub"))?;
        if !is_subject_handle(&subject) {
            return Err(bad("`sub` must be 1–64 characters of A–Z a–z 0–9 - _ ."));
        }
        let kind = match cwt.get(label::HOLDER_KIND) {
            Some(Value::Integer(i)) if i128::from(*i) == 0 => HolderKind::Person,
            Some(Value::Integer(i)) if i128::from(*i) == 1 => HolderKind::Organisation,
            Some(_) => {
                return Err(bad(
                    "holder kind is neither 0 (person) nor 1 (organisation)",
                ))
            }
            None => return Err(CodeError::MissingClaim("holder_kind")),
        };
        let city = match cwt.get(label::CITY) {
            None => None,
            Some(Value::Integer(i)) => Some(
                CityCode::try_from(i128::from(*i))
                    .ok()
                    .filter(|c| (100_000..1_000_000).contains(c))
                    .ok_or_else(|| bad("city is not a 6-digit GB/T 2260 code"))?,
            ),
            Some(_) => return Err(bad("city is not an integer")),
        };
        let scope = match cwt.get(label::SCOPE) {
            None => None,
            Some(Value::Array(items)) if items.len() <= MAX_SCOPE_LEN => Some(
                items
                    .iter()
                    .map(|v| match v {
                        Value::Text(t) => Ok(t.clone()),
                        _ => Err(bad("scope entries must be text")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(bad("scope is not an array of at most 64 types")),
        };
        let purpose = match cwt.get(label::PURPOSE) {
            None => Purpose::Presentation,
            Some(Value::Integer(i)) if i128::from(*i) == 1 => Purpose::HolderAccess,
            Some(Value::Integer(i)) if i128::from(*i) == 2 => Purpose::ServiceWindow,
            Some(_) => {
                return Err(bad(
                    "purpose is neither 1 (holder access) nor 2 (service window); a presentation code carries no purpose",
                ))
            }
        };
        let presenter = cwt.get(label::PRESENTER).map(presenter_from).transpose()?;
        let medium = match cwt.get(label::MEDIUM) {
            None => Medium::Phone,
            Some(Value::Integer(i)) if i128::from(*i) == 1 => Medium::Paper,
            Some(_) => {
                return Err(bad(
                    "medium is not 1 (paper); a code on a phone carries no medium",
                ))
            }
        };
        Ok(HolderClaims {
            issuer: cwt.issuer.clone().ok_or(CodeError::MissingClaim("iss"))?,
            subject,
            kind,
            city,
            issued_at: cwt.issued_at.ok_or(CodeError::MissingClaim("iat"))?,
            expires_at: cwt.expires_at.ok_or(CodeError::MissingClaim("exp"))?,
            nonce: cwt
                .cti
                .clone()
                .filter(|n| (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&n.len()))
                .ok_or_else(|| match cwt.cti {
                    None => CodeError::MissingClaim("cti"),
                    Some(_) => bad("`cti` must be 8 to 64 bytes"),
                })?,
            scope,
            purpose,
            presenter,
            medium,
        })
    }

    /// The claims as a CWT claims map, keys in ascending deterministic order.
    pub fn to_value(&self) -> Value {
        let int = |i: i128| Value::Integer(Integer::try_from(i).expect("label fits"));
        let mut map = vec![
            (int(label::ISS), Value::Text(self.issuer.clone())),
            (int(label::SUB), Value::Text(self.subject.clone())),
            (int(label::EXP), Value::Integer(self.expires_at.into())),
            (int(label::IAT), Value::Integer(self.issued_at.into())),
            (int(label::CTI), Value::Bytes(self.nonce.clone())),
            (
                int(label::HOLDER_KIND),
                Value::Integer(match self.kind {
                    HolderKind::Person => 0.into(),
                    HolderKind::Organisation => 1.into(),
                }),
            ),
        ];
        if let Some(city) = self.city {
            map.push((int(label::CITY), Value::Integer(city.into())));
        }
        if let Some(scope) = &self.scope {
            map.push((
                int(label::SCOPE),
                Value::Array(scope.iter().cloned().map(Value::Text).collect()),
            ));
        }
        if let Some(purpose) = self.purpose.label_value() {
            map.push((int(label::PURPOSE), int(purpose)));
        }
        if let Some(presenter) = &self.presenter {
            map.push((
                int(label::PRESENTER),
                Value::Array(vec![
                    int(presenter.relation.label_value()),
                    Value::Text(presenter.delegation.clone()),
                    Value::Text(presenter.subject.clone()),
                    Value::Text(presenter.name.clone()),
                ]),
            ));
        }
        if self.medium == Medium::Paper {
            map.push((int(label::MEDIUM), int(1)));
        }
        Value::Map(map)
    }

    /// Whether the holder consented to `certificate` being checked with this code.
    pub fn allows(&self, certificate: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.iter().any(|c| c == certificate))
    }

    /// Whether the holder consented to a service window pulling the materials of service
    /// item `item` of department `department`: the scope names `item:<item>` or
    /// `department:<department>`. A code without a scope consents to no item.
    pub fn allows_item(&self, item: u32, department: &str) -> bool {
        self.scope.as_ref().is_some_and(|scope| {
            scope.iter().any(|entry| match entry.split_once(':') {
                Some((ITEM_SCOPE, no)) => no.parse() == Ok(item),
                Some((DEPARTMENT_SCOPE, id)) => id == department,
                _ => false,
            })
        })
    }
}

/// The presenter claim: `[relation (0 agent, 1 family), delegation, subject, name]`.
fn presenter_from(value: &Value) -> Result<Presenter, CodeError> {
    let malformed = || bad("presenter is not [relation, delegation, subject, name]");
    let Value::Array(parts) = value else {
        return Err(malformed());
    };
    let [Value::Integer(relation), Value::Text(delegation), Value::Text(subject), Value::Text(name)] =
        parts.as_slice()
    else {
        return Err(malformed());
    };
    let relation = match i128::from(*relation) {
        0 => Relation::Agent,
        1 => Relation::Family,
        _ => {
            return Err(bad(
                "presenter relation is neither 0 (agent) nor 1 (family)",
            ))
        }
    };
    if delegation.is_empty()
        || delegation.len() > MAX_DELEGATION_LEN
        || !delegation
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err(bad(
            "presenter delegation must be 1–64 characters of A–Z a–z 0–9 - _",
        ));
    }
    if !is_subject_handle(subject) {
        return Err(bad(
            "presenter subject must be 1–64 characters of A–Z a–z 0–9 - _ .",
        ));
    }
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_PRESENTER_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(bad("presenter name must be 1–32 printable characters"));
    }
    Ok(Presenter {
        relation,
        delegation: delegation.clone(),
        subject: subject.clone(),
        name: name.clone(),
    })
}

/// A service-window code's scope entry naming one service item: `item:23`.
pub const ITEM_SCOPE: &str = "item";
/// A service-window code's scope entry naming every item of a department:
/// `department:public-security`.
pub const DEPARTMENT_SCOPE: &str = "department";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HolderClaims {
        HolderClaims {
            issuer: "mianzheng-platform".into(),
            subject: "demo-000001".into(),
            kind: HolderKind::Person,
            city: Some(370100),
            issued_at: 1_800_000_000,
            expires_at: 1_800_000_120,
            nonce: vec![1; 16],
            scope: Some(vec!["senior-citizen-card".into()]),
            purpose: Purpose::Presentation,
            presenter: None,
            medium: Medium::Phone,
        }
    }

    #[test]
    fn presenter_and_paper_round_trip_and_bad_ones_are_refused() {
        let shown_for = HolderClaims {
            presenter: Some(Presenter {
                relation: Relation::Family,
                delegation: "g-0193abc".into(),
                subject: "demo-000002".into(),
                name: "李*".into(),
            }),
            medium: Medium::Paper,
            ..sample()
        };
        let cwt = CwtClaims::from_value(shown_for.to_value()).expect("cwt");
        assert_eq!(HolderClaims::from_cwt(&cwt).expect("holder"), shown_for);
        let with = |value: Value, label: i128| {
            let Value::Map(mut map) = sample().to_value() else {
                unreachable!()
            };
            map.push((Value::Integer(label.try_into().expect("label")), value));
            let cwt = CwtClaims::from_value(Value::Map(map)).expect("cwt");
            HolderClaims::from_cwt(&cwt).map_err(|e| e.to_string())
        };
        let text = |s: &str| Value::Text(s.into());
        let int = |i: i64| Value::Integer(i.into());
        for (value, why) in [
            (
                Value::Array(vec![int(2), text("g-1"), text("a"), text("n")]),
                "relation",
            ),
            (
                Value::Array(vec![int(0), text(""), text("a"), text("n")]),
                "delegation",
            ),
            (
                Value::Array(vec![int(0), text("g 1"), text("a"), text("n")]),
                "delegation",
            ),
            (
                Value::Array(vec![int(0), text("g-1"), text("a b"), text("n")]),
                "subject",
            ),
            (
                Value::Array(vec![int(0), text("g-1"), text("a"), text("")]),
                "name",
            ),
            (
                Value::Array(vec![int(0), text("g-1"), text("a")]),
                "[relation",
            ),
            (text("agent"), "[relation"),
        ] {
            let refused = with(value, label::PRESENTER).expect_err(why);
            assert!(refused.contains(why), "{refused} should name {why}");
        }
        assert!(with(int(2), label::MEDIUM).is_err());
        assert_eq!(
            with(int(1), label::MEDIUM).map(|c| c.medium),
            Ok(Medium::Paper)
        );
    }

    #[test]
    fn holder_claims_round_trip() {
        let c = sample();
        let cwt = CwtClaims::from_value(c.to_value()).expect("cwt");
        assert_eq!(HolderClaims::from_cwt(&cwt).expect("holder"), c);
        let own = HolderClaims {
            purpose: Purpose::HolderAccess,
            ..sample()
        };
        let cwt = CwtClaims::from_value(own.to_value()).expect("cwt");
        assert_eq!(HolderClaims::from_cwt(&cwt).expect("holder"), own);
        assert!(c.allows("senior-citizen-card"));
        assert!(!c.allows("resident-id-card"));
    }

    #[test]
    fn time_window_with_skew() {
        let cwt = CwtClaims::from_value(sample().to_value()).expect("cwt");
        assert!(cwt.check_time(1_800_000_060, 0).is_ok());
        assert_eq!(
            cwt.check_time(1_800_000_121, 0).map_err(|e| e.code()),
            Err("code.expired")
        );
        assert!(cwt.check_time(1_800_000_121, 5).is_ok());
        assert_eq!(
            cwt.check_time(1_799_999_999, 0).map_err(|e| e.code()),
            Err("code.not_yet_valid")
        );
        assert!(cwt.check_time(1_799_999_999, 5).is_ok());
    }

    #[test]
    fn duplicate_and_mistyped_claims_are_refused() {
        let Value::Map(mut map) = sample().to_value() else {
            unreachable!()
        };
        map.push((Value::Integer(2.into()), Value::Text("other".into())));
        assert_eq!(
            CwtClaims::from_value(Value::Map(map)).map_err(|e| e.code()),
            Err("code.bad_claims")
        );
        let map = vec![(Value::Integer(4.into()), Value::Text("soon".into()))];
        assert_eq!(
            CwtClaims::from_value(Value::Map(map)).map_err(|e| e.code()),
            Err("code.bad_claims")
        );
        let cwt = CwtClaims::from_value(Value::Map(vec![])).expect("empty map is a CWT");
        assert_eq!(
            HolderClaims::from_cwt(&cwt),
            Err(CodeError::MissingClaim("sub"))
        );
    }
}
