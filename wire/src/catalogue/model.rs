//! The catalogue's data model: certificate types, departments and their backends, cities,
//! scenarios and service items, as the gateway, the issuer and the load tester see them after
//! loading and validation (see `load.rs`). The TOML files in `config/` deserialize into these
//! types; derived look-ups live on [`Catalogue`](super::Catalogue).

use serde::{Deserialize, Serialize};

/// Stable identifier of a certificate type, e.g. `resident-id-card`. Used in codes (consent
/// scope), issuer queries, scenarios and metrics, so it never changes once published.
pub type CertificateCode = String;
/// Stable identifier of a department, e.g. `public-security`.
pub type DepartmentId = String;
/// GB/T 2260 administrative division code of a city, e.g. `370100` (Jinan).
pub type CityCode = u32;

/// Where a certificate type's records are held ("数据层级" in the plan's Annex 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataLevel {
    /// One province-level backend answers for every holder.
    Province,
    /// The backend of the holder's home city answers.
    City,
    /// Issued at both levels; the province backend holds the consolidated register and answers.
    ProvinceAndCity,
}

/// Who can hold a certificate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HolderKind {
    Person,
    Organisation,
}

impl HolderKind {
    /// The kind as the catalogue, the APIs and the logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HolderKind::Person => "person",
            HolderKind::Organisation => "organisation",
        }
    }
}

/// Which holder kinds a certificate type admits (`either` for real-estate certificates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolderKinds {
    Person,
    Organisation,
    Either,
}

/// The value type of one record field; the issuer generates and the gateway checks by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FieldKind {
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// Free text (an address, a school's name).
    Text,
    /// Whole number (a count, a score).
    Integer,
    /// One of a closed list of values (sex, licence class, qualification grade).
    Enum { values: Vec<String> },
    /// A list drawn from a closed set (a driving licence's classes `C1`, `C2`...).
    EnumSet { values: Vec<String> },
    /// A resident ID number (GB 11643). Never disclosed by the gateway.
    ResidentId,
    /// A unified social credit code (GB 32100).
    CreditCode,
}

/// One field that a record of a certificate type carries, beyond the common ones every record
/// has (status, validity, e-licence identifier, holder name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FieldSpecRepr")]
pub struct FieldSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    /// Personal data that may be disclosed only masked, if at all.
    #[serde(default)]
    pub personal: bool,
}

/// How a [`FieldSpec`] is written: `{ name = "sex", kind = "enum", values = ["male", "female"] }`.
/// Serde cannot combine `flatten` with `deny_unknown_fields` (every key then reads as unknown), so
/// a spec is read through this flat form, which refuses unknown keys, and `values` on a kind that
/// has none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpecRepr {
    name: String,
    kind: FieldKindTag,
    values: Option<Vec<String>>,
    #[serde(default)]
    personal: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FieldKindTag {
    Date,
    Text,
    Integer,
    Enum,
    EnumSet,
    ResidentId,
    CreditCode,
}

impl TryFrom<FieldSpecRepr> for FieldSpec {
    type Error = String;

    fn try_from(r: FieldSpecRepr) -> Result<Self, Self::Error> {
        use FieldKindTag as T;
        let kind = match (r.kind, r.values) {
            (T::Enum, Some(values)) => FieldKind::Enum { values },
            (T::EnumSet, Some(values)) => FieldKind::EnumSet { values },
            (T::Enum | T::EnumSet, None) => {
                return Err(format!("field `{}`: missing `values`", r.name))
            }
            (_, Some(_)) => {
                return Err(format!(
                    "field `{}`: `values` is only allowed with kind `enum` or `enum-set`",
                    r.name
                ))
            }
            (T::Date, None) => FieldKind::Date,
            (T::Text, None) => FieldKind::Text,
            (T::Integer, None) => FieldKind::Integer,
            (T::ResidentId, None) => FieldKind::ResidentId,
            (T::CreditCode, None) => FieldKind::CreditCode,
        };
        Ok(FieldSpec {
            name: r.name,
            kind,
            personal: r.personal,
        })
    }
}

/// One of the 50 certificate types of the plan's Annex 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateType {
    pub code: CertificateCode,
    /// Row number in Annex 2.
    pub no: u32,
    pub name_zh: String,
    pub name_en: String,
    /// Issuing departments; the first is the one whose backend answers queries and receives
    /// objections.
    pub departments: Vec<DepartmentId>,
    pub level: DataLevel,
    pub holder: HolderKinds,
    /// How long the gateway may cache an answer for this type, in seconds.
    pub cache_ttl_secs: u32,
    /// The 21-character certificate type code of the national e-licence identifier
    /// (GB/T 36904): issuing authority's credit code (18) + sequence (3).
    pub licence_type_code: String,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

/// The address of one issuer backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// Started in-process by the gateway's demo mode on a loopback port.
    Embedded,
    /// Reached over HTTP or HTTPS at this base URL.
    Url(String),
}

/// Which part of a department's records a backend holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendScope {
    Province,
    City(CityCode),
}

/// One department backend after loading: province-level or one city's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub department: DepartmentId,
    pub scope: BackendScope,
    pub endpoint: Endpoint,
    /// Unified social credit code of the issuing unit at this level (e.g. the city bureau);
    /// it appears in every e-licence identifier this backend issues.
    pub unit_credit_code: String,
}

/// A department that issues certificates and answers for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: DepartmentId,
    pub name_zh: String,
    pub name_en: String,
    /// Service level for objections: hours from filing to the deadline.
    pub objection_sla_hours: u32,
    /// The province-level backend, then one per city that has city-level data, by city code.
    pub backends: Vec<Backend>,
}

/// One of the 16 cities (`shared/data/cities.tsv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    pub code: CityCode,
    pub name_zh: String,
    pub name_en: String,
}

/// A condition a record must meet for a requirement to pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Predicate {
    /// Status `valid` and the verification day inside the validity dates.
    ValidOnDay,
    /// The holder's age on the verification day, from the named date field, is at least `years`.
    AgeAtLeast { field: String, years: u32 },
    /// The named enum-set field contains `value` (e.g. a driving licence covering `C1`).
    Covers { field: String, value: String },
    /// The named enum field equals one of `values`.
    OneOf { field: String, values: Vec<String> },
}

/// One certificate a scenario requires, with its predicates and what may be disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub certificate: CertificateCode,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
    /// Record fields the venue may see (masked where personal). The verdict and a masked holder
    /// name are always given; nothing else unless listed here.
    #[serde(default)]
    pub disclose: Vec<String>,
}

/// A venue's use case ("用证场景"): what it must check and may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub holder: HolderKind,
    pub requirements: Vec<Requirement>,
    /// Whether a cached answer past its TTL may serve while the department is down.
    #[serde(default)]
    pub allow_stale: bool,
    /// Whether a code made with the HMAC profile is accepted. Its secret is shared by every
    /// gateway node that verifies it, so whoever holds one node's trust list can mint such
    /// codes: low-risk concessions only. Signed profiles (EdDSA, ES256) are always accepted.
    #[serde(default)]
    pub allow_hmac: bool,
}

/// One of the 500 service items of the plan's Annex 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceItem {
    pub no: u32,
    pub department_zh: String,
    pub name_zh: String,
    /// Certificate types that supply this item's materials, where the item is standardised.
    #[serde(default)]
    pub materials: Vec<CertificateCode>,
    /// Annex 1 row is illegible in the source document.
    #[serde(default)]
    pub illegible: bool,
}
