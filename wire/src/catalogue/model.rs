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
    /// A city backend answers: the one of the city where the record is registered, which the
    /// department's index names (see `Catalogue::route_for`); by default the holder's home city.
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
    /// A resident ID number (GB 11643). Disclosed only where the requirement records a legal
    /// basis ([`Requirement::legal_basis`]), then in full; never otherwise.
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
    /// Issuing departments. A holder's record is held by one of them; the first keeps the
    /// index of which one (and which city), and is asked when the index names none.
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
    /// The national hub's one backend: every type, for holders from another province.
    National,
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

/// The name `disclose` gives the holder's name by: every record carries it, so no certificate
/// type may have a field of its own called so. Listed under a legal basis, a person's name is
/// given in full instead of masked.
pub const HOLDER_NAME: &str = "holder_name";

/// One certificate a scenario requires, with its predicates and what may be disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub certificate: CertificateCode,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
    /// Record fields the venue may see (masked where personal), and [`HOLDER_NAME`] for the
    /// holder's name in full. The verdict and a masked holder name are always given; nothing
    /// else unless listed here.
    #[serde(default)]
    pub disclose: Vec<String>,
    /// The provision under which the venue needs what this requirement discloses, e.g.
    /// `《旅馆业治安管理办法》第六条` (a hotel registers each guest). Only under one may
    /// `disclose` list a resident ID number (then given in full) or [`HOLDER_NAME`]; other
    /// personal fields stay masked.
    #[serde(default)]
    pub legal_basis: Option<String>,
}

impl Requirement {
    /// The recorded legal basis, if any: a blank one counts as none.
    pub fn legal_basis(&self) -> Option<&str> {
        self.legal_basis
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
    }
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
    /// Whether a printed code (for a holder without a smartphone) is accepted: once per venue
    /// per day, for the concessions and services an elder without a phone must still reach.
    #[serde(default)]
    pub paper_ok: bool,
    /// Whether the holder's physical ID card, read by a reader registered to the venue, is
    /// accepted instead of a code (the traditional way, kept for those without a smartphone).
    #[serde(default)]
    pub card_reader_ok: bool,
}

/// One of the 500 service items of the plan's Annex 1, with the materials an applicant would
/// otherwise bring on paper: the materials library of 免证办.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceItem {
    pub no: u32,
    pub department_zh: String,
    pub name_zh: String,
    /// Our id of the item's department: what a holder's consent may name
    /// (`department:<id>`), and where a commitment to a paper material is checked afterwards.
    pub department: String,
    /// Who applies: the holder kind of the code a service window is shown. Absent only on an
    /// illegible row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant: Option<HolderKind>,
    /// Whether the materials are the province's (`plan`) or a proposal awaiting review
    /// (`assumed`). Figures over the two are reported apart.
    #[serde(default)]
    pub source: MaterialsSource,
    /// Form fields only the applicant can write: no certificate supplies them.
    #[serde(default)]
    pub applicant_fields: Vec<String>,
    #[serde(default)]
    pub materials: Vec<Material>,
    /// Annex 1 row is illegible in the source document.
    #[serde(default)]
    pub illegible: bool,
}

impl ServiceItem {
    /// The material with this id (a certificate code or a paper material's id).
    pub fn material(&self, id: &str) -> Option<&Material> {
        self.materials.iter().find(|m| m.id() == id)
    }

    /// Every field on the item's form, each once: those its materials fill (a field two
    /// certificates carry, such as the holder's name, is one field), then the applicant's own.
    pub fn form_fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        let filled = self.materials.iter().flat_map(|m| &m.fields);
        for field in filled.chain(&self.applicant_fields) {
            if !fields.contains(&field.as_str()) {
                fields.push(field);
            }
        }
        fields
    }
}

/// Where a service item's materials list comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaterialsSource {
    /// Confirmed by the province's staff.
    Plan,
    /// Proposed from the item's name and department (`config/tools/propose_materials.py`).
    #[default]
    Assumed,
}

impl MaterialsSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialsSource::Plan => "plan",
            MaterialsSource::Assumed => "assumed",
        }
    }
}

/// One material a service item requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MaterialRepr", into = "MaterialRepr")]
pub struct Material {
    pub supply: Supply,
    /// The form fields it fills, named as its certificate's record fields (`holder_name`: the
    /// record's holder). Empty for a paper material.
    pub fields: Vec<String>,
    /// Whether a signed commitment (告知承诺) may replace it.
    pub commitment: bool,
}

/// Where a material comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supply {
    /// Pulled from the department that issues this certificate type.
    Certificate(CertificateCode),
    /// No certificate supplies it: presented on paper. `id` is a slug unique in its item.
    Paper { id: String, name_zh: String },
}

impl Material {
    /// The material's id within its item: its certificate code, or its paper id.
    pub fn id(&self) -> &str {
        match &self.supply {
            Supply::Certificate(code) => code,
            Supply::Paper { id, .. } => id,
        }
    }

    /// The certificate type that supplies it, if any.
    pub fn certificate(&self) -> Option<&str> {
        match &self.supply {
            Supply::Certificate(code) => Some(code),
            Supply::Paper { .. } => None,
        }
    }
}

/// How a [`Material`] is written: `{ certificate = "...", fields = [...] }` or
/// `{ paper = "...", name_zh = "..." }`, each with an optional `commitment`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateCode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paper: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_zh: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    commitment: bool,
}

impl TryFrom<MaterialRepr> for Material {
    type Error = String;

    fn try_from(r: MaterialRepr) -> Result<Self, Self::Error> {
        let supply = match (r.certificate, r.paper, r.name_zh) {
            (Some(code), None, None) => Supply::Certificate(code),
            (Some(code), _, _) => {
                return Err(format!(
                    "material `{code}`: `certificate` cannot be combined with `paper` or `name_zh`"
                ))
            }
            (None, Some(id), _) if !r.fields.is_empty() => {
                return Err(format!(
                    "paper material `{id}`: `fields` only come from a certificate"
                ))
            }
            (None, Some(id), Some(name_zh)) => Supply::Paper { id, name_zh },
            (None, Some(id), None) => {
                return Err(format!("paper material `{id}`: missing `name_zh`"))
            }
            (None, None, _) => return Err("a material needs `certificate` or `paper`".to_string()),
        };
        Ok(Material {
            supply,
            fields: r.fields,
            commitment: r.commitment,
        })
    }
}

impl From<Material> for MaterialRepr {
    fn from(m: Material) -> Self {
        let (certificate, paper, name_zh) = match m.supply {
            Supply::Certificate(code) => (Some(code), None, None),
            Supply::Paper { id, name_zh } => (None, Some(id), Some(name_zh)),
        };
        MaterialRepr {
            certificate,
            fields: m.fields,
            paper,
            name_zh,
            commitment: m.commitment,
        }
    }
}
