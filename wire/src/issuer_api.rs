//! The record query protocol between the gateway and department backends ("谁制发、谁核验"),
//! the department seal over each record, and the change notifications departments push.
//!
//! # The query
//!
//! `POST {base}/v1/records:query` with a [`RecordQuery`]; the answer is a [`RecordResponse`] with
//! one [`Record`] per asked certificate type, in the order asked. A base URL names one backend
//! (a department at province level or in one city). Failures are RFC 9457 problems
//! ([`Problem`], `application/problem+json`) with a stable `code` from [`problem_codes`].
//!
//! ```json
//! { "subject": "h-8f3a", "holder_kind": "person",
//!   "certificates": ["resident-id-card", "driving-licence"], "request_id": "r-1",
//!   "nonce": "q-7c1e0a9b4d2f8e63a5b0c7d9e1f2a3b4" }
//! ```
//!
//! The `nonce` is fresh for every query the gateway sends; the department copies it into every
//! record it answers with (`query_nonce`), under the seal. With the seal's `issued_at` it makes
//! an answer fresh: the gateway refuses a record sealed for another query, or sealed longer ago
//! than its configured freshness (`department.stale_record`), so an old valid record cannot be
//! replayed after a revocation by anyone who kept it (a middleman, a cache in between, a
//! restored backup of a backend).
//!
//! # The seal
//!
//! Every record carries its department's signature ([`Seal`]) over a canonical encoding of the
//! record without the seal ([`Record::signed_bytes`]), so the gateway can keep it in a cache, hand
//! it on and check it later without trusting the transport. The encoding is deterministic CBOR
//! (RFC 8949 §4.2.1: shortest integer and length forms, definite lengths, map keys sorted by
//! their encoded bytes) of the array
//!
//! ```text
//! [ "mianzheng-record-seal/1",   ; context: a seal never verifies as anything else
//!   kid  : bstr,                 ; the sealing key's id, so a seal cannot move to another key
//!   alg  : tstr,                 ; "EdDSA" | "ES256"
//!   record : { "certificate": tstr, "department": tstr, "subject": tstr, "status": tstr,
//!              ? "valid_from": tstr, ? "valid_until": tstr,      ; "YYYY-MM-DD"
//!              ? "licence_id": tstr, ? "holder_name": tstr,
//!              ? "query_nonce": tstr,                           ; the query's `nonce`
//!              "fields": { * name => { "text": tstr } / { "date": tstr } /
//!                                    { "integer": int } / { "list": [* tstr] } },
//!              "issued_at": tstr } ]                             ; RFC 3339, UTC, `Z`
//! ```
//!
//! Absent optional values are left out of the map (never `null`). The record carries the
//! `subject` it answers for, so a sealed record cannot be replayed as another holder's.
//!
//! # Change notifications
//!
//! Departments `POST {gateway}/v1/issuer-events` an [`IssuerEvent`] (bearer token per
//! department) when a record is revoked, suspended, reinstated or corrected; the gateway drops
//! its cached answers for that `(subject, certificate)` and asks again.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::model::{
    CertificateCode, CertificateType, DepartmentId, FieldKind, HolderKind,
};
use crate::ident::{self, IdentError};
use crate::keys::{Algorithm, KeyError, KeyId, SigningKey, TrustList};

/// Path of the record query below a backend's base URL.
pub const QUERY_PATH: &str = "/v1/records:query";
/// Path of the index query below a province backend's base URL ([`LocateQuery`]).
pub const LOCATE_PATH: &str = "/v1/records:locate";
/// Path of the change notification endpoint below the gateway's base URL.
pub const EVENTS_PATH: &str = "/v1/issuer-events";
/// Most certificate types one query may ask for.
pub const MAX_CERTIFICATES_PER_QUERY: usize = 64;
/// Longest subject handle a query may carry, in bytes.
pub const MAX_SUBJECT_LEN: usize = 128;
/// Longest request id a query may carry, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Longest query nonce, in bytes (the gateway sends 34: `q-` and 32 hex digits).
pub const MAX_NONCE_LEN: usize = 128;
/// The context string that opens every sealed structure.
pub const SEAL_CONTEXT: &str = "mianzheng-record-seal/1";

// ---------------------------------------------------------------------------------------------
// Query and response
// ---------------------------------------------------------------------------------------------

/// The body of `POST {base}/v1/records:query`: which of one holder's certificates to answer for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// The pseudonymous subject handle from the holder's code (never an ID-card number).
    pub subject: String,
    pub holder_kind: HolderKind,
    /// Certificate type codes, each at most once, at most [`MAX_CERTIFICATES_PER_QUERY`].
    pub certificates: Vec<CertificateCode>,
    /// The gateway's request id, echoed in the backend's logs to follow one verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Fresh per query: every record of the answer carries it under the seal
    /// ([`Record::query_nonce`]). The gateway always sends one and refuses records without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// Why a query is refused before any record is looked at. The client's fault; retrying the
/// same query does not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("`subject` must be 1 to {MAX_SUBJECT_LEN} bytes of visible ASCII")]
    BadSubject,
    #[error("`certificates` must name 1 to {MAX_CERTIFICATES_PER_QUERY} types")]
    BadCount,
    #[error("certificate type `{0}` is asked twice")]
    Duplicate(String),
    #[error("`request_id` must be at most {MAX_REQUEST_ID_LEN} bytes of visible ASCII")]
    BadRequestId,
    #[error("`nonce` must be 1 to {MAX_NONCE_LEN} bytes of visible ASCII")]
    BadNonce,
}

impl QueryError {
    /// The stable machine code, as in [`problem_codes`].
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::BadSubject => problem_codes::BAD_SUBJECT,
            QueryError::BadCount => problem_codes::TOO_MANY_CERTIFICATES,
            QueryError::Duplicate(_) => problem_codes::DUPLICATE_CERTIFICATE,
            QueryError::BadRequestId => problem_codes::BAD_REQUEST_ID,
            QueryError::BadNonce => problem_codes::BAD_NONCE,
        }
    }
}

fn visible_ascii(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `subject` is a well-formed subject handle: 1 to [`MAX_SUBJECT_LEN`] bytes of
/// visible ASCII.
pub fn valid_subject(subject: &str) -> bool {
    visible_ascii(subject, MAX_SUBJECT_LEN)
}

impl RecordQuery {
    /// Checks the bounds a backend enforces before looking anything up.
    pub fn validate(&self) -> Result<(), QueryError> {
        if !valid_subject(&self.subject) {
            return Err(QueryError::BadSubject);
        }
        if self.certificates.is_empty() || self.certificates.len() > MAX_CERTIFICATES_PER_QUERY {
            return Err(QueryError::BadCount);
        }
        for (i, code) in self.certificates.iter().enumerate() {
            if self.certificates[..i].contains(code) {
                return Err(QueryError::Duplicate(code.clone()));
            }
        }
        if let Some(id) = &self.request_id {
            if !visible_ascii(id, MAX_REQUEST_ID_LEN) {
                return Err(QueryError::BadRequestId);
            }
        }
        if let Some(nonce) = &self.nonce {
            if !visible_ascii(nonce, MAX_NONCE_LEN) {
                return Err(QueryError::BadNonce);
            }
        }
        Ok(())
    }
}

/// The answer to a [`RecordQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordResponse {
    /// The backend that answered: `<department>/<province|city code>`, e.g.
    /// `public-security/370100`.
    pub backend: String,
    /// One record per asked type, in the order asked.
    pub records: Vec<Record>,
}

/// Why a response does not answer the query it was sent for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("asked for {asked} records, got {got}")]
    WrongCount { asked: usize, got: usize },
    #[error("record {index} is for `{got}`, asked `{asked}`")]
    WrongCertificate {
        index: usize,
        asked: String,
        got: String,
    },
    #[error("record {index} is for another subject")]
    WrongSubject { index: usize },
}

impl RecordResponse {
    /// Checks that this response answers `query`: one record per asked type, in order, each for
    /// the asked subject. The gateway calls this, then [`Record::verify_seal`] and
    /// [`Record::validate_identifiers`] on each record, before caching.
    pub fn answers(&self, query: &RecordQuery) -> Result<(), ResponseError> {
        if self.records.len() != query.certificates.len() {
            return Err(ResponseError::WrongCount {
                asked: query.certificates.len(),
                got: self.records.len(),
            });
        }
        for (index, (record, asked)) in self.records.iter().zip(&query.certificates).enumerate() {
            if &record.certificate != asked {
                return Err(ResponseError::WrongCertificate {
                    index,
                    asked: asked.clone(),
                    got: record.certificate.clone(),
                });
            }
            if record.subject != query.subject {
                return Err(ResponseError::WrongSubject { index });
            }
        }
        Ok(())
    }
}

/// The body of `POST {base}/v1/records:locate`, asked of the province backend that keeps the
/// index of where a type's records are held (`Catalogue::index_of`): a [`RecordQuery`], whose
/// `nonce`, if any, is not used — a location is not sealed. A wrong location cannot pass for a
/// record: the backend it names answers with its own seal, for this holder and type, or
/// `not_found`.
pub type LocateQuery = RecordQuery;

/// The answer to a [`LocateQuery`]: one location per asked type, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocateResponse {
    pub locations: Vec<Location>,
}

/// Where one holder's record of one type is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub certificate: CertificateCode,
    /// The issuing department that holds the record; `None`: the index knows of no record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentId>,
    /// For a city-level type, the city where the record is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<crate::catalogue::model::CityCode>,
}

impl LocateResponse {
    /// Checks that this response answers `query`: one location per asked type, in order.
    pub fn answers(&self, query: &LocateQuery) -> Result<(), ResponseError> {
        if self.locations.len() != query.certificates.len() {
            return Err(ResponseError::WrongCount {
                asked: query.certificates.len(),
                got: self.locations.len(),
            });
        }
        for (index, (location, asked)) in self.locations.iter().zip(&query.certificates).enumerate()
        {
            if &location.certificate != asked {
                return Err(ResponseError::WrongCertificate {
                    index,
                    asked: asked.clone(),
                    got: location.certificate.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Whether a URL's host is a loopback address (or `localhost`): the only place plain `http://`
/// is allowed between the gateway and the departments, either way (records and change notices
/// travel in clear over it).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a department backend's endpoint `url` may not be used: not an absolute `https://` URL,
/// nor `http://` on loopback.
pub fn check_backend_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    match scheme {
        "https" if !host.is_empty() => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" if !host.is_empty() => Err(format!(
            "endpoint `{url}` is plain http:// off loopback: department records would travel in clear; use https://"
        )),
        _ => Err(format!(
            "endpoint `{url}` must be an https:// URL (or http:// on loopback)"
        )),
    }
}

/// `<department>/<province|city code|national>`: how a backend is named in responses, URLs and
/// stats.
pub fn backend_name(department: &str, scope: crate::catalogue::model::BackendScope) -> String {
    match scope {
        crate::catalogue::model::BackendScope::Province => format!("{department}/province"),
        crate::catalogue::model::BackendScope::National => format!("{department}/national"),
        crate::catalogue::model::BackendScope::City(code) => format!("{department}/{code}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// The state of one holder's certificate of one type, as the department's register has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Valid,
    Expired,
    Revoked,
    Suspended,
    /// The holder has no certificate of this type here. Such a record carries no dates,
    /// licence id, name or fields, and is sealed all the same (a signed "no").
    NotFound,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Valid => "valid",
            RecordStatus::Expired => "expired",
            RecordStatus::Revoked => "revoked",
            RecordStatus::Suspended => "suspended",
            RecordStatus::NotFound => "not_found",
        }
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of one record field, typed by the certificate type's [`FieldKind`]: dates,
/// integers, text (also enum values and identifiers) and lists (enum sets). In JSON an object
/// with one key naming the type: `{"date": "1950-03-02"}`, `{"list": ["C1", "C2"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldValue {
    Text(String),
    Date(NaiveDate),
    Integer(i64),
    List(Vec<String>),
}

impl FieldValue {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_date(&self) -> Option<NaiveDate> {
        match self {
            FieldValue::Date(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            FieldValue::Integer(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            FieldValue::List(l) => Some(l),
            _ => None,
        }
    }
}

/// The value in full, as a form shows it: a date `YYYY-MM-DD`, a list comma-separated.
impl std::fmt::Display for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Text(t) => f.write_str(t),
            FieldValue::Date(d) => write!(f, "{d}"),
            FieldValue::Integer(n) => write!(f, "{n}"),
            FieldValue::List(items) => f.write_str(&items.join(",")),
        }
    }
}

/// A department's answer about one holder's certificate of one type, sealed by the department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub certificate: CertificateCode,
    /// The department that answers for (and seals) this record.
    pub department: DepartmentId,
    /// The subject handle the record answers for.
    pub subject: String,
    pub status: RecordStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
    /// The national e-licence identifier (GB/T 36904). Absent for `not_found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence_id: Option<String>,
    /// The holder's name (a person's or an organisation's). Absent for `not_found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    /// The type's own fields, by name (see the catalogue's `FieldSpec`s).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldValue>,
    /// When this answer was produced.
    pub issued_at: DateTime<Utc>,
    /// The `nonce` of the query this record answers, copied by the department and covered by
    /// the seal. Absent only when the query carried none (the gateway always sends one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_nonce: Option<String>,
    /// The department's seal; absent only before [`Record::seal`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
}

/// A department's signature over a record: `sig` over [`Record::signed_bytes`] with the key
/// `kid` under `alg`. `kid` and `sig` are base64 (standard alphabet, padded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    pub kid: String,
    pub alg: Algorithm,
    pub sig: String,
}

/// Why a seal does not hold. Each has a stable code; all are the department's (or a
/// middleman's) fault and a retry of the same answer does not help.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("record has no seal")]
    Missing,
    #[error("seal is malformed: {0}")]
    Malformed(&'static str),
    #[error("seals are signatures; `{0}` is not allowed")]
    AlgorithmNotAllowed(Algorithm),
    #[error("no sealing key `{0}` in the trust list")]
    UnknownKey(KeyId),
    #[error("sealing key `{0}` is not valid at the time of checking")]
    KeyNotValid(KeyId),
    #[error("sealing key belongs to `{owner}`, not to the record's department `{department}`")]
    WrongOwner { owner: String, department: String },
    #[error("seal does not verify")]
    BadSignature,
}

impl SealError {
    /// The stable machine code, e.g. `seal.bad_signature`.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::Missing => "seal.missing",
            SealError::Malformed(_) => "seal.malformed",
            SealError::AlgorithmNotAllowed(_) => "seal.algorithm_not_allowed",
            SealError::UnknownKey(_) => "seal.unknown_key",
            SealError::KeyNotValid(_) => "seal.key_not_valid",
            SealError::WrongOwner { .. } => "seal.wrong_owner",
            SealError::BadSignature => "seal.bad_signature",
        }
    }
}

/// Why a record's content is refused (independent of its seal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("a `{0}` record must carry a licence id and validity dates")]
    MissingContent(RecordStatus),
    #[error("a `not_found` record must carry no licence id, dates, name or fields")]
    UnexpectedContent,
    #[error("`valid_from` is after `valid_until`")]
    BadValidity,
    #[error("licence id: {0}")]
    BadLicenceId(IdentError),
    #[error("field `{0}` is not a field of this certificate type")]
    UnknownField(String),
    #[error("field `{0}` has the wrong value type")]
    FieldKind(String),
    #[error("field `{field}`: {source}")]
    BadIdentifier { field: String, source: IdentError },
    #[error("field `{0}` has a value outside its list")]
    BadEnumValue(String),
    #[error("record is for `{got}`, expected `{expected}`")]
    WrongCertificate { expected: String, got: String },
}

impl RecordError {
    /// The stable machine code, e.g. `record.bad_licence_id`.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::MissingContent(_) => "record.missing_content",
            RecordError::UnexpectedContent => "record.unexpected_content",
            RecordError::BadValidity => "record.bad_validity",
            RecordError::BadLicenceId(_) => "record.bad_licence_id",
            RecordError::UnknownField(_) => "record.unknown_field",
            RecordError::FieldKind(_) => "record.field_kind",
            RecordError::BadIdentifier { .. } => "record.bad_identifier",
            RecordError::BadEnumValue(_) => "record.bad_enum_value",
            RecordError::WrongCertificate { .. } => "record.wrong_certificate",
        }
    }
}

impl Record {
    /// The value of field `name` in full, the holder's name under
    /// [`HOLDER_NAME`](crate::catalogue::model::HOLDER_NAME): what fills a form's field.
    pub fn value_in_full(&self, name: &str) -> Option<String> {
        if name == crate::catalogue::model::HOLDER_NAME {
            self.holder_name.clone()
        } else {
            self.fields.get(name).map(FieldValue::to_string)
        }
    }

    /// A `not_found` answer: the holder has no certificate of this type at this backend.
    pub fn not_found(
        certificate: &str,
        department: &str,
        subject: &str,
        issued_at: DateTime<Utc>,
    ) -> Record {
        Record {
            certificate: certificate.to_string(),
            department: department.to_string(),
            subject: subject.to_string(),
            status: RecordStatus::NotFound,
            valid_from: None,
            valid_until: None,
            licence_id: None,
            holder_name: None,
            fields: BTreeMap::new(),
            issued_at,
            query_nonce: None,
            seal: None,
        }
    }

    /// The bytes a seal made with `kid` under `alg` signs: see the module documentation.
    pub fn signed_bytes(&self, kid: &KeyId, alg: Algorithm) -> Vec<u8> {
        use ciborium::Value;
        let text = |s: &str| Value::Text(s.to_string());
        let date = |d: NaiveDate| Value::Text(d.format("%Y-%m-%d").to_string());
        let mut record: Vec<(Value, Value)> = vec![
            (text("certificate"), text(&self.certificate)),
            (text("department"), text(&self.department)),
            (text("subject"), text(&self.subject)),
            (text("status"), text(self.status.as_str())),
        ];
        let optional = [
            ("valid_from", self.valid_from.map(date)),
            ("valid_until", self.valid_until.map(date)),
            ("licence_id", self.licence_id.as_deref().map(text)),
            ("holder_name", self.holder_name.as_deref().map(text)),
            ("query_nonce", self.query_nonce.as_deref().map(text)),
        ];
        record.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (text(k), v))),
        );
        let fields = self
            .fields
            .iter()
            .map(|(name, value)| {
                let (kind, v) = match value {
                    FieldValue::Text(s) => ("text", text(s)),
                    FieldValue::Date(d) => ("date", date(*d)),
                    FieldValue::Integer(n) => ("integer", Value::Integer((*n).into())),
                    FieldValue::List(l) => {
                        ("list", Value::Array(l.iter().map(|s| text(s)).collect()))
                    }
                };
                (text(name), Value::Map(vec![(text(kind), v)]))
            })
            .collect();
        record.push((text("fields"), deterministic_map(fields)));
        record.push((
            text("issued_at"),
            text(&self.issued_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        ));
        let sealed = Value::Array(vec![
            text(SEAL_CONTEXT),
            Value::Bytes(kid.as_bytes().to_vec()),
            text(alg.name()),
            deterministic_map(record),
        ]);
        let mut out = Vec::with_capacity(512);
        ciborium::into_writer(&sealed, &mut out).expect("writing CBOR to a Vec cannot fail");
        out
    }

    /// Seals the record with the department's key, replacing any previous seal. The key's owner
    /// should be `self.department`; [`Record::verify_seal`] refuses it otherwise.
    pub fn seal(&mut self, key: &SigningKey) {
        let sig = key.sign(&self.signed_bytes(key.kid(), key.algorithm()));
        self.seal = Some(Seal {
            kid: key.kid().to_string(),
            alg: key.algorithm(),
            sig: B64.encode(sig),
        });
    }

    /// Checks the seal against `trust` at time `at` (normally now): the key exists and is valid
    /// then, belongs to the record's department, is a signature key, and the signature holds
    /// over the record as it is.
    pub fn verify_seal(&self, trust: &TrustList, at: DateTime<Utc>) -> Result<(), SealError> {
        let seal = self.seal.as_ref().ok_or(SealError::Missing)?;
        if seal.alg.is_mac() {
            return Err(SealError::AlgorithmNotAllowed(seal.alg));
        }
        let kid = KeyId::new(
            B64.decode(&seal.kid)
                .map_err(|_| SealError::Malformed("`kid` is not base64"))?,
        );
        let sig = B64
            .decode(&seal.sig)
            .map_err(|_| SealError::Malformed("`sig` is not base64"))?;
        let key = trust.find(&kid, at).map_err(|e| match e {
            KeyError::NotValidAt { kid, .. } => SealError::KeyNotValid(kid),
            _ => SealError::UnknownKey(kid.clone()),
        })?;
        if key.owner() != self.department {
            return Err(SealError::WrongOwner {
                owner: key.owner().to_string(),
                department: self.department.clone(),
            });
        }
        key.verify(seal.alg, &self.signed_bytes(&kid, seal.alg), &sig)
            .map_err(|_| SealError::BadSignature)
    }

    /// Checks the record's shape and its e-licence identifier: a `not_found` record carries
    /// nothing; any other carries a well-formed licence id (GB/T 36904, check character
    /// included) and validity dates in order.
    pub fn validate_identifiers(&self) -> Result<(), RecordError> {
        if self.status == RecordStatus::NotFound {
            let empty = self.valid_from.is_none()
                && self.valid_until.is_none()
                && self.licence_id.is_none()
                && self.holder_name.is_none()
                && self.fields.is_empty();
            return if empty {
                Ok(())
            } else {
                Err(RecordError::UnexpectedContent)
            };
        }
        let (Some(from), Some(until), Some(licence_id)) =
            (self.valid_from, self.valid_until, &self.licence_id)
        else {
            return Err(RecordError::MissingContent(self.status));
        };
        if from > until {
            return Err(RecordError::BadValidity);
        }
        ident::LicenceId::parse(licence_id).map_err(RecordError::BadLicenceId)?;
        Ok(())
    }

    /// Checks the record's fields against its certificate type: every field is one the type
    /// declares, of its kind, enum values from their lists, identifiers with valid check
    /// characters. Fields may be missing (a department may not have them all).
    pub fn validate_fields(&self, cert: &CertificateType) -> Result<(), RecordError> {
        if self.certificate != cert.code {
            return Err(RecordError::WrongCertificate {
                expected: cert.code.clone(),
                got: self.certificate.clone(),
            });
        }
        for (name, value) in &self.fields {
            let spec = cert
                .fields
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| RecordError::UnknownField(name.clone()))?;
            let kind_err = || RecordError::FieldKind(name.clone());
            let ident_err = |source| RecordError::BadIdentifier {
                field: name.clone(),
                source,
            };
            match (&spec.kind, value) {
                (FieldKind::Date, FieldValue::Date(_))
                | (FieldKind::Text, FieldValue::Text(_))
                | (FieldKind::Integer, FieldValue::Integer(_)) => {}
                (FieldKind::Enum { values }, FieldValue::Text(v)) => {
                    if !values.contains(v) {
                        return Err(RecordError::BadEnumValue(name.clone()));
                    }
                }
                (FieldKind::EnumSet { values }, FieldValue::List(vs)) => {
                    if !vs.iter().all(|v| values.contains(v)) {
                        return Err(RecordError::BadEnumValue(name.clone()));
                    }
                }
                (FieldKind::ResidentId, FieldValue::Text(v)) => {
                    ident::parse_resident_id(v).map_err(ident_err)?;
                }
                (FieldKind::CreditCode, FieldValue::Text(v)) => {
                    ident::parse_credit_code(v).map_err(ident_err)?;
                }
                _ => return Err(kind_err()),
            }
        }
        Ok(())
    }
}

/// A CBOR map with its entries sorted by the bytes of their encoded keys (RFC 8949 §4.2.1).
fn deterministic_map(entries: Vec<(ciborium::Value, ciborium::Value)>) -> ciborium::Value {
    let mut keyed: Vec<(Vec<u8>, (ciborium::Value, ciborium::Value))> = entries
        .into_iter()
        .map(|(k, v)| {
            let mut key = Vec::new();
            ciborium::into_writer(&k, &mut key).expect("writing CBOR to a Vec cannot fail");
            (key, (k, v))
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    ciborium::Value::Map(keyed.into_iter().map(|(_, kv)| kv).collect())
}

// ---------------------------------------------------------------------------------------------
// Change notifications
// ---------------------------------------------------------------------------------------------

/// What changed about a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    Revoked,
    Suspended,
    /// A revocation or suspension was lifted.
    Reinstated,
    /// The value of `field` was corrected (e.g. after an objection).
    Corrected {
        field: String,
    },
}

/// A department's notice that one holder's record of one type changed: the gateway drops what
/// it cached for `(subject, certificate)`. Delivery is at least once; `event_id` lets the
/// receiver drop duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "event_id": "5f0c2b9e8d7a41c3b6e1f2a3d4c5b6a7",
    "department": "health",
    "subject": "h-6",
    "certificate": "senior-citizen-card",
    "change": { "kind": "revoked" },
    "at": "2026-11-26T08:00:00Z"
})))]
pub struct IssuerEvent {
    /// The department's id of this notice; a notice sent twice keeps it.
    pub event_id: String,
    /// The department speaking: the one that issues `certificate`, and one the bearer token
    /// speaks for.
    #[schema(value_type = String)]
    pub department: DepartmentId,
    /// The holder's subject handle, as in the department's record queries.
    pub subject: String,
    /// The certificate type whose record changed.
    #[schema(value_type = String)]
    pub certificate: CertificateCode,
    pub change: Change,
    pub at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------------

pub use crate::problem::{Problem, PROBLEM_CONTENT_TYPE};

/// The stable `code`s of backend problems.
pub mod problem_codes {
    /// 400: the body is not a JSON [`RecordQuery`](super::RecordQuery).
    pub const BAD_JSON: &str = "query.bad_json";
    /// 400: empty, oversized or non-ASCII subject handle.
    pub const BAD_SUBJECT: &str = "query.bad_subject";
    /// 400: no certificate types, or more than the bound.
    pub const TOO_MANY_CERTIFICATES: &str = "query.certificate_count";
    /// 400: a type asked twice.
    pub const DUPLICATE_CERTIFICATE: &str = "query.duplicate_certificate";
    /// 400: oversized request id.
    pub const BAD_REQUEST_ID: &str = "query.bad_request_id";
    /// 400: empty, oversized or non-ASCII query nonce.
    pub const BAD_NONCE: &str = "query.bad_nonce";
    /// 400: a type that is not in the catalogue.
    pub const UNKNOWN_CERTIFICATE: &str = "query.unknown_certificate";
    /// 400: a type this backend does not answer for (another department, or another level).
    pub const WRONG_BACKEND: &str = "query.wrong_backend";
    /// 400: a type the holder kind cannot hold (a person asking for a business licence).
    pub const WRONG_HOLDER_KIND: &str = "query.wrong_holder_kind";
    /// 413: the body is over the limit.
    pub const TOO_LARGE: &str = "request.too_large";
    /// 415: the body is not `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "request.unsupported_media_type";
    /// 404: no such backend or path.
    pub const NOT_FOUND: &str = "request.not_found";
    /// 405: wrong method for the path.
    pub const METHOD_NOT_ALLOWED: &str = "request.method_not_allowed";
    /// 401: admin endpoint without the right bearer token.
    pub const UNAUTHORIZED: &str = "admin.unauthorized";
    /// 503: the backend is unavailable (down, overloaded, or a fault injected on purpose);
    /// retrying later may help.
    pub const UNAVAILABLE: &str = "backend.unavailable";
    /// 500: the backend failed; retrying may help.
    pub const INTERNAL: &str = "backend.internal";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Validity;

    fn key(owner: &str) -> SigningKey {
        SigningKey::generate(Algorithm::EdDsa, owner, Validity::default()).expect("key")
    }

    fn record() -> Record {
        let mut fields = BTreeMap::new();
        fields.insert(
            "birth_date".to_string(),
            FieldValue::Date(NaiveDate::from_ymd_opt(1950, 3, 2).expect("date")),
        );
        fields.insert(
            "classes".into(),
            FieldValue::List(vec!["C1".into(), "C2".into()]),
        );
        fields.insert("points".into(), FieldValue::Integer(12));
        fields.insert("address".into(), FieldValue::Text("历下区泉城路1号".into()));
        Record {
            certificate: "driving-licence".into(),
            department: "public-security".into(),
            subject: "h-1".into(),
            status: RecordStatus::Valid,
            valid_from: NaiveDate::from_ymd_opt(2020, 1, 1),
            valid_until: NaiveDate::from_ymd_opt(2030, 1, 1),
            licence_id: Some(
                ident::LicenceId::build(
                    "11100000000013338W032",
                    "11220000013544541J",
                    "2430599",
                    1,
                )
                .expect("id"),
            ),
            holder_name: Some("张伟".into()),
            fields,
            issued_at: "2026-03-01T08:00:00.123Z".parse().expect("time"),
            query_nonce: Some("q-1".into()),
            seal: None,
        }
    }

    #[test]
    fn backend_urls_are_https_or_plain_on_loopback_only() {
        for ok in [
            "https://records.example.gov.cn/v1",
            "http://127.0.0.1:4000",
            "http://localhost:4000/x",
            "http://[::1]:4000",
        ] {
            assert!(check_backend_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.7:4000",
            "http://records.example.gov.cn",
            "ftp://127.0.0.1",
            "records",
        ] {
            assert!(check_backend_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seal_round_trips_through_json() {
        let k = key("public-security");
        let trust = TrustList::new([k.trusted()]);
        let mut r = record();
        r.seal(&k);
        let json = serde_json::to_string(&r).expect("json");
        let back: Record = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, r);
        back.verify_seal(&trust, Utc::now()).expect("verifies");
        back.validate_identifiers().expect("identifiers");
    }

    #[test]
    fn not_found_records_are_sealed_too() {
        let k = key("health");
        let trust = TrustList::new([k.trusted()]);
        let mut r = Record::not_found("senior-card", "health", "h-2", Utc::now());
        r.seal(&k);
        r.verify_seal(&trust, Utc::now()).expect("verifies");
        r.validate_identifiers().expect("empty is fine");
        r.holder_name = Some("x".into());
        assert_eq!(
            r.validate_identifiers().map_err(|e| e.code()),
            Err("record.unexpected_content")
        );
    }

    #[test]
    fn tampering_with_any_part_breaks_the_seal() {
        let k = key("public-security");
        let trust = TrustList::new([k.trusted()]);
        let mut sealed = record();
        sealed.seal(&k);
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        type Tamper = Box<dyn Fn(&mut Record)>;
        let tampers: Vec<(&str, Tamper)> = vec![
            (
                "certificate",
                Box::new(|r| r.certificate = "senior-card".into()),
            ),
            ("subject", Box::new(|r| r.subject = "h-2".into())),
            ("status", Box::new(|r| r.status = RecordStatus::Revoked)),
            (
                "valid_from",
                Box::new(move |r| r.valid_from = d(2020, 1, 2)),
            ),
            (
                "valid_until",
                Box::new(move |r| r.valid_until = d(2031, 1, 1)),
            ),
            ("valid_until absent", Box::new(|r| r.valid_until = None)),
            ("licence_id", Box::new(|r| r.licence_id = None)),
            (
                "holder_name",
                Box::new(|r| r.holder_name = Some("张伟伟".into())),
            ),
            (
                "field value",
                Box::new(|r| {
                    r.fields.insert("points".into(), FieldValue::Integer(11));
                }),
            ),
            (
                "field type",
                Box::new(|r| {
                    r.fields
                        .insert("points".into(), FieldValue::Text("12".into()));
                }),
            ),
            (
                "field list",
                Box::new(|r| {
                    r.fields
                        .insert("classes".into(), FieldValue::List(vec!["C1".into()]));
                }),
            ),
            (
                "field added",
                Box::new(|r| {
                    r.fields.insert("extra".into(), FieldValue::Integer(0));
                }),
            ),
            (
                "field removed",
                Box::new(|r| {
                    r.fields.remove("address");
                }),
            ),
            (
                "issued_at",
                Box::new(|r| {
                    r.issued_at += chrono::Duration::nanoseconds(1);
                }),
            ),
            (
                "query_nonce",
                Box::new(|r| r.query_nonce = Some("q-2".into())),
            ),
            ("query_nonce removed", Box::new(|r| r.query_nonce = None)),
            (
                "alg",
                Box::new(|r| {
                    if let Some(s) = r.seal.as_mut() {
                        s.alg = Algorithm::Es256;
                    }
                }),
            ),
            (
                "sig",
                Box::new(|r| {
                    if let Some(s) = r.seal.as_mut() {
                        let mut raw = B64.decode(&s.sig).expect("b64");
                        raw[0] ^= 1;
                        s.sig = B64.encode(raw);
                    }
                }),
            ),
        ];
        for (what, tamper) in tampers {
            let mut r = sealed.clone();
            tamper(&mut r);
            assert!(
                r.verify_seal(&trust, Utc::now()).is_err(),
                "{what} tampered but verified"
            );
        }
        // The department is checked against the key's owner first.
        let mut r = sealed.clone();
        r.department = "health".into();
        assert_eq!(
            r.verify_seal(&trust, Utc::now()).map_err(|e| e.code()),
            Err("seal.wrong_owner")
        );
    }

    #[test]
    fn a_key_of_another_department_is_refused() {
        let k = key("health");
        let trust = TrustList::new([k.trusted()]);
        let mut r = record(); // public-security's record sealed with health's key
        r.seal(&k);
        assert_eq!(
            r.verify_seal(&trust, Utc::now()).map_err(|e| e.code()),
            Err("seal.wrong_owner")
        );
    }

    #[test]
    fn unknown_keys_missing_seals_and_macs_are_refused() {
        let k = key("public-security");
        let mut r = record();
        assert_eq!(
            r.verify_seal(&TrustList::default(), Utc::now())
                .map_err(|e| e.code()),
            Err("seal.missing")
        );
        r.seal(&k);
        let other = TrustList::new([key("public-security").trusted()]);
        assert_eq!(
            r.verify_seal(&other, Utc::now()).map_err(|e| e.code()),
            Err("seal.unknown_key")
        );
        let mac = SigningKey::generate(Algorithm::Hmac256, "public-security", Validity::default())
            .expect("mac");
        r.seal(&mac);
        assert_eq!(
            r.verify_seal(&TrustList::new([mac.trusted()]), Utc::now())
                .map_err(|e| e.code()),
            Err("seal.algorithm_not_allowed")
        );
    }

    #[test]
    fn expired_keys_are_refused() {
        let validity = Validity {
            not_before: None,
            not_after: Some("2026-01-01T00:00:00Z".parse().expect("time")),
        };
        let k = SigningKey::generate(Algorithm::EdDsa, "public-security", validity).expect("key");
        let mut r = record();
        r.seal(&k);
        let trust = TrustList::new([k.trusted()]);
        assert!(r
            .verify_seal(&trust, "2025-12-01T00:00:00Z".parse().expect("t"))
            .is_ok());
        assert_eq!(
            r.verify_seal(&trust, "2026-02-01T00:00:00Z".parse().expect("t"))
                .map_err(|e| e.code()),
            Err("seal.key_not_valid")
        );
    }

    #[test]
    fn signed_bytes_are_deterministic_cbor() {
        let r = record();
        let kid = KeyId::new(*b"kid");
        let a = r.signed_bytes(&kid, Algorithm::EdDsa);
        assert_eq!(a, r.clone().signed_bytes(&kid, Algorithm::EdDsa));
        // Map keys sorted by encoded bytes: shorter keys first ("fields" before "status"...).
        let v: ciborium::Value = ciborium::from_reader(a.as_slice()).expect("cbor");
        let ciborium::Value::Array(parts) = v else {
            panic!("array")
        };
        assert_eq!(parts[0], ciborium::Value::Text(SEAL_CONTEXT.into()));
        let ciborium::Value::Map(m) = &parts[3] else {
            panic!("map")
        };
        let keys: Vec<&str> = m.iter().filter_map(|(k, _)| k.as_text()).collect();
        assert_eq!(
            keys,
            [
                "fields",
                "status",
                "subject",
                "issued_at",
                "department",
                "licence_id",
                "valid_from",
                "certificate",
                "holder_name",
                "query_nonce",
                "valid_until"
            ]
        );
    }

    #[test]
    fn malformed_licence_ids_are_refused() {
        let mut r = record();
        let id = r.licence_id.clone().expect("id");
        r.licence_id = Some(format!("{}0", &id[..id.len() - 1]));
        assert_eq!(
            r.validate_identifiers().map_err(|e| e.code()),
            Err("record.bad_licence_id")
        );
        r.licence_id = None;
        assert_eq!(
            r.validate_identifiers().map_err(|e| e.code()),
            Err("record.missing_content")
        );
    }

    #[test]
    fn queries_are_bounded() {
        let q = |certs: Vec<String>| RecordQuery {
            subject: "h-1".into(),
            holder_kind: HolderKind::Person,
            certificates: certs,
            request_id: None,
            nonce: Some("q-1".into()),
        };
        assert!(q(vec!["a".into()]).validate().is_ok());
        assert_eq!(q(vec![]).validate(), Err(QueryError::BadCount));
        let many = (0..=MAX_CERTIFICATES_PER_QUERY)
            .map(|i| format!("c{i}"))
            .collect();
        assert_eq!(q(many).validate(), Err(QueryError::BadCount));
        assert_eq!(
            q(vec!["a".into(), "a".into()]).validate(),
            Err(QueryError::Duplicate("a".into()))
        );
        let mut bad = q(vec!["a".into()]);
        bad.subject = "张".into();
        assert_eq!(bad.validate(), Err(QueryError::BadSubject));
        let mut bad = q(vec!["a".into()]);
        bad.nonce = Some(String::new());
        assert_eq!(bad.validate(), Err(QueryError::BadNonce));
        bad.nonce = Some("n".repeat(MAX_NONCE_LEN + 1));
        assert_eq!(bad.validate(), Err(QueryError::BadNonce));
        let json = r#"{"subject":"h","holder_kind":"organisation","certificates":["x"]}"#;
        let parsed: RecordQuery = serde_json::from_str(json).expect("parse");
        assert_eq!(parsed.holder_kind, HolderKind::Organisation);
    }

    #[test]
    fn events_serialize_with_a_tagged_change() {
        let e = IssuerEvent {
            event_id: "e1".into(),
            department: "health".into(),
            subject: "h".into(),
            certificate: "senior-card".into(),
            change: Change::Corrected {
                field: "address".into(),
            },
            at: "2026-03-01T00:00:00Z".parse().expect("t"),
        };
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(
            v["change"],
            serde_json::json!({"kind": "corrected", "field": "address"})
        );
        let back: IssuerEvent = serde_json::from_value(v).expect("back");
        assert_eq!(back, e);
    }
}
