//! Record generation: what a department's register says about one holder's certificate of one
//! type, derived from the population without storing anything.
//!
//! For each (handle, certificate type) a keyed hash decides:
//! - **held or not**, plausibly per type (`rule_for`): a senior citizen card only from 60, a
//!   driving licence for most adults up to 80, a disability certificate for few, a business
//!   licence for almost every organisation.
//! - **where** ([`Placement`]): a type with two issuing departments is held by the second for
//!   [`SECOND_DEPARTMENT_PER_MILLE`] of holders; a city-level record is registered in a city
//!   other than the home city for [`ELSEWHERE_PER_MILLE`] of them (a residence permit where the
//!   holder lives now). Every other backend answers `not_found`; the national hub holds every
//!   type for its own population ([`Population::out_of_province`]).
//! - **dates**: first issue within a few years of the age the type needs (or of an
//!   organisation's founding), fixed per holder and type; renewable types run in
//!   fixed terms from then on (the current term is the one containing today, so a record stays
//!   the same for the whole term); long-term types are valid until [`LONG_TERM`].
//! - **status**: mostly valid; 2.5 % revoked, 2.5 % suspended and, for renewable types, 5 %
//!   expired (the previous term, which ended before today).
//! - **licence id** (GB/T 36904) from the type's `licence_type_code`, the answering backend's
//!   `unit_credit_code`, a number and the term as version.
//! - **fields** by [`FieldKind`] and name: `birth_date`, `sex` and resident-id fields are the
//!   person's own; credit codes the organisation's; enum values drawn from their lists (a
//!   driving licence covers `C1` three times out of four); dates consistent with validity.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveTime};
use wire::catalogue::model::{
    Backend, BackendScope, CertificateType, CityCode, DataLevel, FieldKind, FieldSpec, HolderKind,
    HolderKinds,
};
use wire::catalogue::Catalogue;
use wire::ident::{LicenceId, Sex};
use wire::issuer_api::{FieldValue, Record, RecordStatus};

use crate::population::{add_years, age_between, from_day_number, Draws, Holder, Population};

/// Per mille of holders whose record of a type with two issuing departments the second holds.
pub const SECOND_DEPARTMENT_PER_MILLE: u32 = 300;
/// Per mille of holders whose city-level record is registered outside their home city.
pub const ELSEWHERE_PER_MILLE: u32 = 200;

/// Where a holder's record of one type is held, should they have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'c> {
    /// The issuing department that holds it.
    pub department: &'c str,
    /// For a city-level type, the city where it is registered.
    pub city: Option<CityCode>,
}

impl Placement<'_> {
    /// Whether `backend` is where the record is held (the national hub holds its own
    /// population's records of every type).
    pub fn at(&self, backend: &Backend) -> bool {
        match backend.scope {
            BackendScope::National => true,
            BackendScope::Province => self.department == backend.department && self.city.is_none(),
            BackendScope::City(city) => {
                self.department == backend.department && self.city == Some(city)
            }
        }
    }
}

/// The `valid_until` of long-term ("长期") certificates.
pub const LONG_TERM: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => panic!("9999-12-31 is a date"),
};

/// How a certificate type's validity runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    /// Renewed every `days` from the first issue.
    Renewing { days: i64 },
    /// Issued once, valid until [`LONG_TERM`].
    LongTerm,
}

const YEAR: i64 = 365;
/// A person's certificate is first issued within this many years of becoming eligible.
const ISSUE_SPREAD_YEARS: i64 = 4;

/// Who holds a type and for how long: the rule behind a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Chance among eligible holders, per mille.
    pub per_mille: u32,
    /// Persons: ages (on today) that can hold it, inclusive. Ignored for organisations.
    pub ages: (u32, u32),
    /// Persons: the age from which it can first have been issued.
    pub issue_age: u32,
    pub term: Term,
}

const fn rule(per_mille: u32, ages: (u32, u32), issue_age: u32, term: Term) -> Rule {
    Rule {
        per_mille,
        ages,
        issue_age,
        term,
    }
}

const fn years(n: i64) -> Term {
    Term::Renewing { days: n * YEAR }
}

const ANY: (u32, u32) = (0, 200);
const ADULT: (u32, u32) = (18, 200);

/// The holding rule of a certificate type for a holder kind. Types not listed get a modest
/// default, so a catalogue can grow without the issuer knowing every type.
pub(crate) fn rule_for(code: &str, kind: HolderKind, age: u32) -> Rule {
    use Term::LongTerm;
    if kind == HolderKind::Organisation {
        return match code {
            "business-licence" => rule(960, ANY, 0, LongTerm),
            "food-business-licence" => rule(250, ANY, 0, years(5)),
            "food-production-licence" => rule(80, ANY, 0, years(5)),
            "hygiene-licence" => rule(150, ANY, 0, years(4)),
            "drug-business-licence" => rule(50, ANY, 0, years(5)),
            "mining-licence" => rule(20, ANY, 0, years(10)),
            "real-estate-registration-certificate"
            | "real-estate-title-certificate"
            | "real-estate-inquiry-certificate" => rule(400, ANY, 0, LongTerm),
            "enterprise-change-certificate" => rule(200, ANY, 0, LongTerm),
            "social-organisation-registration" | "private-non-enterprise-registration" => {
                rule(60, ANY, 0, years(5))
            }
            _ => rule(100, ANY, 0, years(5)),
        };
    }
    match code {
        "resident-id-card" => {
            // 5 years under 16, 10 to 25, 20 to 45, long-term after.
            let term = match age {
                0..16 => years(5),
                16..26 => years(10),
                26..46 => years(20),
                _ => LongTerm,
            };
            if age >= 16 {
                rule(980, ANY, 16, term)
            } else {
                rule(400, ANY, 0, term)
            }
        }
        "temporary-identity-certificate" => rule(10, (16, 200), 16, Term::Renewing { days: 90 }),
        "vehicle-licence" => rule(350, (18, 80), 18, years(6)),
        "driving-licence" => match age {
            18..=70 => rule(700, ADULT, 18, years(10)),
            71..=80 => rule(300, ADULT, 18, years(10)),
            _ => rule(0, ADULT, 18, years(10)),
        },
        "residence-permit" => rule(80, ADULT, 18, years(1)),
        "vehicle-inspection-mark" => rule(300, (18, 80), 18, years(2)),
        "household-cancellation-certificate" => rule(10, ADULT, 18, LongTerm),
        "academic-record-certificate" | "academic-diploma" => rule(450, (22, 200), 22, LongTerm),
        "degree-certificate" => rule(300, (22, 200), 22, LongTerm),
        "employment-registration-card" => rule(200, (22, 45), 22, LongTerm),
        "marriage-record-certificate" => rule(700, (22, 200), 22, years(1)),
        "marriage-certificate" => rule(600, (22, 200), 22, LongTerm),
        "divorce-certificate" => rule(60, (25, 200), 25, LongTerm),
        "cremation-certificate" | "medical-death-certificate" => rule(5, ADULT, 18, LongTerm),
        "social-security-card" => rule(if age >= 16 { 950 } else { 700 }, ANY, 0, years(10)),
        "employment-entrepreneurship-card" => rule(150, (18, 60), 18, years(5)),
        "professional-qualification-certificate" => rule(150, (22, 65), 22, LongTerm),
        "medical-insurance-voucher" => rule(950, ANY, 0, years(1)),
        "medical-birth-certificate" => rule(900, (0, 40), 0, LongTerm),
        "blood-donation-certificate" => rule(120, (18, 70), 18, LongTerm),
        "senior-citizen-card" => rule(850, (60, 200), 60, LongTerm),
        "family-planning-booklet" => rule(250, (22, 49), 22, years(5)),
        "physician-practising-certificate" => rule(20, (25, 70), 25, years(5)),
        "special-operations-permit" => rule(50, (18, 60), 18, years(6)),
        "work-safety-competence-certificate" => rule(40, (22, 60), 22, years(3)),
        "real-estate-registration-certificate" | "real-estate-title-certificate" => {
            rule(500, (22, 200), 22, LongTerm)
        }
        "real-estate-inquiry-certificate" => rule(100, ADULT, 18, Term::Renewing { days: 30 }),
        "disability-certificate" => rule(40, ANY, 0, years(10)),
        "health-certificate" => rule(150, (18, 60), 18, years(1)),
        _ => rule(100, ADULT, 18, years(5)),
    }
}

/// Whether a holder of `kind` can hold a type admitting `holders`.
pub fn admits(holders: HolderKinds, kind: HolderKind) -> bool {
    matches!(
        (holders, kind),
        (HolderKinds::Either, _)
            | (HolderKinds::Person, HolderKind::Person)
            | (HolderKinds::Organisation, HolderKind::Organisation)
    )
}

/// A holder's records, as the population's departments hold them.
impl Population {
    /// The record `backend` holds about `handle`'s certificate of type `cert` on `today`
    /// (the day in China Standard Time), unsealed, as generated: without the override store's
    /// changes. `issued_at` is midnight UTC of `today`; a server sets the real time before
    /// sealing. Deterministic in all its arguments.
    pub fn record(
        &self,
        handle: &str,
        kind: HolderKind,
        cert: &CertificateType,
        backend: &Backend,
        today: NaiveDate,
    ) -> Record {
        generate(
            self,
            handle,
            &self.holder(handle, kind),
            cert,
            backend,
            today,
        )
    }

    /// Where `handle`'s record of `cert` is held, should they have one: which issuing
    /// department, and for a city-level type which city. Deterministic, and drawn apart from
    /// the record itself, so a record is the same wherever it is held.
    pub fn placement<'c>(
        &self,
        handle: &str,
        holder: &Holder,
        cert: &'c CertificateType,
    ) -> Placement<'c> {
        let mut d = self.draws("placement", &[holder.kind().as_str(), handle, &cert.code]);
        let department = match cert.departments.as_slice() {
            [first, second, ..] => match d.chance(SECOND_DEPARTMENT_PER_MILLE) {
                true => second.as_str(),
                false => first.as_str(),
            },
            [only] => only.as_str(),
            [] => "",
        };
        let home = holder.home_city();
        let city = (cert.level == DataLevel::City).then(|| {
            let elsewhere: Vec<CityCode> = self.city_codes().filter(|&c| c != home).collect();
            match d.chance(ELSEWHERE_PER_MILLE) && !elsewhere.is_empty() {
                true => *d.pick(&elsewhere),
                false => home,
            }
        });
        Placement { department, city }
    }

    /// The backend that holds `handle`'s record of `code`: for this population's holders,
    /// where [`Population::placement`] puts it; for a holder the catalogue sends to the
    /// national hub (this population lives in other provinces), the hub. `None` if `code` is
    /// not in the catalogue or the backend is not either.
    pub fn holding_backend<'c>(
        &self,
        catalogue: &'c Catalogue,
        handle: &str,
        kind: HolderKind,
        code: &str,
    ) -> Option<&'c Backend> {
        let cert = catalogue.certificate(code)?;
        let holder = self.holder(handle, kind);
        let route = catalogue.route_for(code, Some(holder.home_city())).ok()?;
        if route.backend.scope == BackendScope::National {
            return Some(route.backend);
        }
        let placed = self.placement(handle, &holder, cert);
        let scope = placed
            .city
            .map_or(BackendScope::Province, BackendScope::City);
        catalogue.holding_backend(cert, placed.department, scope)
    }

    /// The record the backend that holds it has about `handle`'s certificate `code`
    /// ([`Population::holding_backend`]), or `None` if `code` is not in the catalogue or has no
    /// such backend. What the gateway would be told.
    pub fn record_in(
        &self,
        catalogue: &Catalogue,
        handle: &str,
        kind: HolderKind,
        code: &str,
        today: NaiveDate,
    ) -> Option<Record> {
        let cert = catalogue.certificate(code)?;
        let backend = self.holding_backend(catalogue, handle, kind, code)?;
        let holder = self.holder(handle, kind);
        Some(generate(self, handle, &holder, cert, backend, today))
    }

    /// Up to `n` handles `"{prefix}{i}"` of persons aged 60 or more on `today` who hold a
    /// senior citizen card valid that day: the holders the demo, the benchmarks and the tests
    /// send to a park.
    pub fn seniors(
        &self,
        catalogue: &Catalogue,
        prefix: &str,
        n: usize,
        today: NaiveDate,
    ) -> Vec<String> {
        self.find_handles(prefix, n, |h| {
            self.person(h).age_on(today) >= 60
                && self
                    .record_in(
                        catalogue,
                        h,
                        HolderKind::Person,
                        "senior-citizen-card",
                        today,
                    )
                    .is_some_and(|r| {
                        r.status == RecordStatus::Valid && r.valid_until.is_none_or(|u| u > today)
                    })
        })
    }
}

/// Generates the record `backend` holds about `handle` (as `holder`) for `cert` on `today`.
pub(crate) fn generate(
    pop: &Population,
    handle: &str,
    holder: &Holder,
    cert: &CertificateType,
    backend: &Backend,
    today: NaiveDate,
) -> Record {
    let issued_at = today.and_time(NaiveTime::MIN).and_utc();
    let not_found = || Record::not_found(&cert.code, &backend.department, handle, issued_at);
    let kind_admitted = admits(cert.holder, holder.kind());
    if !kind_admitted {
        return not_found();
    }
    if !pop.placement(handle, holder, cert).at(backend) {
        return not_found();
    }
    // Draws depend on the holder and type only, not on the backend: a holder's certificate is
    // the same whichever level is asked.
    let kind_tag = holder.kind().as_str();
    let mut d = pop.draws("record", &[kind_tag, handle, &cert.code]);
    let (age, eligible_since) = match holder {
        Holder::Person(p) => (p.age_on(today), p.birth_date),
        Holder::Organisation(o) => (age_between(o.established_on, today), o.established_on),
    };
    let rule = rule_for(&cert.code, holder.kind(), age);
    let person_ok =
        holder.kind() == HolderKind::Organisation || (rule.ages.0..=rule.ages.1).contains(&age);
    if !person_ok || !d.chance(rule.per_mille) {
        return not_found();
    }
    let earliest = match holder {
        Holder::Person(_) => add_years(eligible_since, rule.issue_age as i32),
        Holder::Organisation(_) => eligible_since,
    };
    // First issued some time after becoming eligible — a span fixed per holder and type, not
    // relative to today, so the record does not change from one day to the next.
    let spread_days = match (holder.kind(), cert.code.as_str()) {
        (HolderKind::Person, "medical-birth-certificate") => 30,
        (HolderKind::Person, _) => ISSUE_SPREAD_YEARS * YEAR,
        (HolderKind::Organisation, _) => 3 * YEAR,
    };
    let first_issue = earliest + Duration::days(d.between(0, spread_days));
    if first_issue > today {
        return not_found();
    }

    let status_draw = d.below(1000);
    let mut status = match status_draw {
        0..25 => RecordStatus::Revoked,
        25..50 => RecordStatus::Suspended,
        _ => RecordStatus::Valid,
    };
    let (valid_from, valid_until, term_no) = match rule.term {
        Term::LongTerm => (first_issue, LONG_TERM, 0),
        Term::Renewing { days } => {
            let elapsed = (today - first_issue).num_days();
            let mut k = elapsed / days;
            if (50..100).contains(&status_draw) && k >= 1 {
                // Not renewed: the previous term ended before today.
                k -= 1;
                status = RecordStatus::Expired;
            }
            let from = first_issue + Duration::days(k * days);
            (from, from + Duration::days(days - 1), k)
        }
    };
    if valid_until < today && status == RecordStatus::Valid {
        status = RecordStatus::Expired;
    }

    let number = format!(
        "{}{:08}",
        chrono::Datelike::year(&valid_from),
        d.below(100_000_000)
    );
    let version = (term_no + 1).clamp(1, 999) as u16;
    let licence_id = LicenceId::build(
        &cert.licence_type_code,
        &backend.unit_credit_code,
        &number,
        version,
    )
    .ok();

    let mut ctx = FieldContext {
        pop,
        holder,
        place: match backend.scope {
            BackendScope::City(city) => city,
            _ => holder.home_city(),
        },
        cert,
        first_issue,
        valid_from,
        valid_until,
        today,
        d,
    };
    let fields: BTreeMap<String, FieldValue> = cert
        .fields
        .iter()
        .filter_map(|spec| ctx.value(spec).map(|v| (spec.name.clone(), v)))
        .collect();

    Record {
        certificate: cert.code.clone(),
        department: backend.department.clone(),
        subject: handle.to_string(),
        status,
        valid_from: Some(valid_from),
        valid_until: Some(valid_until),
        licence_id,
        holder_name: Some(holder.name().to_string()),
        fields,
        issued_at,
        query_nonce: None,
        seal: None,
    }
}

/// What field generation may look at.
struct FieldContext<'a> {
    pop: &'a Population,
    holder: &'a Holder,
    /// The city whose authorities issued the record: where a city-level record is registered,
    /// the home city otherwise.
    place: CityCode,
    cert: &'a CertificateType,
    first_issue: NaiveDate,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    today: NaiveDate,
    d: Draws,
}

const UNIVERSITIES: &[&str] = &[
    "山东大学",
    "中国海洋大学",
    "山东师范大学",
    "青岛大学",
    "济南大学",
    "山东科技大学",
    "山东农业大学",
    "曲阜师范大学",
    "山东财经大学",
    "烟台大学",
    "聊城大学",
    "临沂大学",
];
const BRANDS: &[&str] = &[
    "大众朗逸",
    "丰田卡罗拉",
    "比亚迪秦",
    "本田雅阁",
    "吉利帝豪",
    "长安CS75",
    "日产轩逸",
    "五菱宏光",
];
const PLATE_LETTERS: &[(u32, char)] = &[
    (370100, 'A'),
    (370200, 'B'),
    (370300, 'C'),
    (370400, 'D'),
    (370500, 'E'),
    (370600, 'F'),
    (370700, 'G'),
    (370800, 'H'),
    (370900, 'J'),
    (371000, 'K'),
    (371100, 'L'),
    (371300, 'Q'),
    (371400, 'N'),
    (371500, 'P'),
    (371600, 'M'),
    (371700, 'R'),
];

impl FieldContext<'_> {
    fn city(&self) -> &str {
        self.pop.city_name(self.place)
    }

    fn other_name(&mut self, sex: Sex, same_surname: bool) -> String {
        let surname = match (same_surname, self.holder.as_person()) {
            (true, Some(p)) => Some(p.surname()),
            _ => None,
        };
        Population::person_name(&mut self.d, sex, surname.as_deref())
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.d.below(10) as u8))
            .collect()
    }

    /// The value of one field, or `None` where the holder cannot have it (a person's credit
    /// code).
    fn value(&mut self, spec: &FieldSpec) -> Option<FieldValue> {
        let name = spec.name.as_str();
        Some(match &spec.kind {
            FieldKind::ResidentId => FieldValue::Text(self.resident_id(name)?),
            FieldKind::CreditCode => {
                FieldValue::Text(self.holder.as_organisation()?.credit_code.clone())
            }
            FieldKind::Date => FieldValue::Date(self.date(name)),
            FieldKind::Integer => FieldValue::Integer(self.integer(name)),
            FieldKind::Enum { values } => FieldValue::Text(self.enum_value(name, values)?),
            FieldKind::EnumSet { values } => FieldValue::List(self.enum_set(name, values)),
            FieldKind::Text => FieldValue::Text(self.text(name)),
        })
    }

    fn resident_id(&mut self, name: &str) -> Option<String> {
        let person = self.holder.as_person()?;
        if name == "id_number" {
            return Some(person.resident_id.clone());
        }
        // Someone else's (a deceased relative's): a generation older, same district.
        let birth = add_years(person.birth_date, -(self.d.between(22, 35) as i32));
        let sex = if self.d.chance(500) {
            Sex::Male
        } else {
            Sex::Female
        };
        Some(Population::resident_id(
            &mut self.d,
            person.district,
            birth,
            sex,
        ))
    }

    fn date(&mut self, name: &str) -> NaiveDate {
        let person = self.holder.as_person();
        match name {
            "birth_date" => person.map_or(self.valid_from, |p| p.birth_date),
            "established_on" => self
                .holder
                .as_organisation()
                .map_or(self.valid_from, |o| o.established_on),
            "enrolled_on" => add_years(self.valid_from, -4),
            n if n.ends_with("_due") => {
                if self.valid_until == LONG_TERM {
                    add_years(self.valid_from, 1)
                } else {
                    self.valid_until
                }
            }
            "first_issued" | "registration_date" | "registered_on" | "issued_on"
            | "conferred_on" | "graduated_on" | "insured_since" => self.first_issue,
            // Something that happened shortly before this term began.
            _ => {
                let back = self.d.between(0, 30);
                let date = from_day_number(
                    i64::from(chrono::Datelike::num_days_from_ce(&self.valid_from)) - back,
                );
                date.min(self.today)
            }
        }
    }

    fn integer(&mut self, name: &str) -> i64 {
        match name {
            "penalty_points" => {
                if self.d.chance(700) {
                    0
                } else {
                    self.d.between(1, 11)
                }
            }
            "volume_ml" => *self.d.pick(&[200, 300, 400]),
            "donations" => self.d.between(1, 30),
            "children" => *self.d.pick(&[0, 1, 1, 2, 2, 3]),
            "floor_area_m2" => self.d.between(40, 220),
            "registered_capital" => self.d.between(10, 50_000) * 10_000,
            "funds" => self.d.between(3, 500) * 10_000,
            "beds" => self.d.between(0, 1500),
            _ => self.d.between(0, 100),
        }
    }

    fn enum_value(&mut self, name: &str, values: &[String]) -> Option<String> {
        if values.is_empty() {
            return None;
        }
        if name == "sex" {
            if let Some(p) = self.holder.as_person() {
                let s = p.sex.to_string();
                if values.contains(&s) {
                    return Some(s);
                }
            }
        }
        Some(self.d.pick(values).clone())
    }

    fn enum_set(&mut self, name: &str, values: &[String]) -> Vec<String> {
        if values.is_empty() {
            return Vec::new();
        }
        if name == "classes" && values.iter().any(|v| v == "C1") {
            let r = self.d.below(100);
            let pick = match r {
                0..75 => vec!["C1"],
                75..88 => vec!["C2"],
                88..94 => vec!["A2", "C1"],
                _ => vec!["B2", "C1"],
            };
            let out: Vec<String> = pick
                .into_iter()
                .filter(|v| values.iter().any(|x| x == v))
                .map(String::from)
                .collect();
            if !out.is_empty() {
                return out;
            }
        }
        let n = self.d.between(1, 3.min(values.len() as i64)) as usize;
        let mut out: Vec<String> = Vec::with_capacity(n);
        while out.len() < n {
            let v = self.d.pick(values);
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        // In catalogue order, as a register would list them.
        out.sort_by_key(|v| values.iter().position(|x| x == v));
        out
    }

    fn text(&mut self, name: &str) -> String {
        let city = self.city().to_string();
        let holder_city = self.holder.home_city();
        match name {
            "ethnicity" => self
                .holder
                .as_person()
                .map_or("汉族", |p| p.ethnicity)
                .to_string(),
            "address" | "residence_address" | "premises" | "production_address"
            | "storage_address" | "property_location" => {
                if name == "address" || name == "premises" {
                    self.holder.address().to_string()
                } else {
                    self.pop.street_address(&mut self.d, holder_city)
                }
            }
            "birth_place" | "place_of_death" | "institution" | "practice_institution"
                if !self.cert.code.starts_with("academic")
                    && !self.cert.code.starts_with("degree")
                    && !self.cert.code.starts_with("employment-registration") =>
            {
                format!(
                    "{city}市{}人民医院",
                    self.d
                        .pick(&["第一", "第二", "第三", "中心", "妇幼保健院附属"])
                )
            }
            "institution" => self.d.pick(UNIVERSITIES).to_string(),
            "issuing_authority" => format!("{city}市公安局"),
            "registry" => format!("{city}市民政局婚姻登记处"),
            "funeral_home" => format!("{city}市殡仪馆"),
            "insured_city" => format!("{city}市"),
            "supervising_unit" => format!("{city}市民政局"),
            "obligee" | "child_name" => self.holder.name().to_string(),
            "legal_representative" => match self.holder.as_organisation() {
                Some(o) => o.legal_representative.clone(),
                None => self.holder.name().to_string(),
            },
            "father_name" => self.other_name(Sex::Male, true),
            "mother_name" | "quality_manager" => self.other_name(Sex::Female, false),
            "cancelled_person" | "deceased_name" => self.other_name(Sex::Male, true),
            n if n.ends_with("spouse_name") => {
                let sex = match self.holder.as_person().map(|p| p.sex) {
                    Some(Sex::Male) => Sex::Female,
                    _ => Sex::Male,
                };
                self.other_name(sex, false)
            }
            "employer" | "report_to" | "former_value" | "new_value" => {
                self.pop.company_name(&mut self.d, holder_city)
            }
            "plate_number" => {
                let letter = PLATE_LETTERS
                    .iter()
                    .find(|(c, _)| *c == holder_city)
                    .map_or('A', |(_, l)| *l);
                format!("鲁{letter}{}", self.digits(5))
            }
            "vin" => {
                const VIN: &[u8] = b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ";
                (0..17).map(|_| char::from(*self.d.pick(VIN))).collect()
            }
            "brand_model" => self.d.pick(BRANDS).to_string(),
            n if n.ends_with("number") => self.digits(12),
            "major" | "discipline" => self
                .d
                .pick(&[
                    "计算机科学与技术",
                    "临床医学",
                    "法学",
                    "会计学",
                    "机械工程",
                    "汉语言文学",
                    "土木工程",
                ])
                .to_string(),
            _ => format!("{}（{}）", self.cert.name_zh, self.digits(4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::catalogue::model::{City, DataLevel, Endpoint};

    fn pop() -> Population {
        let cities = [370100, 370200, 370300].map(|code| City {
            code,
            name_zh: "某市".into(),
            name_en: "Some".into(),
        });
        Population::with_cities(11, &cities)
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")
    }

    fn backend(scope: BackendScope) -> Backend {
        Backend {
            department: "health".into(),
            scope,
            endpoint: Endpoint::Embedded,
            unit_credit_code: unit_code(),
        }
    }

    fn cert(code: &str, fields: Vec<FieldSpec>) -> CertificateType {
        CertificateType {
            code: code.into(),
            no: 1,
            name_zh: "证".into(),
            name_en: "Cert".into(),
            departments: vec!["health".into()],
            level: DataLevel::Province,
            holder: HolderKinds::Person,
            cache_ttl_secs: 60,
            licence_type_code: "11100000000013338W001".into(),
            fields,
        }
    }

    fn spec(name: &str, kind: FieldKind) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            personal: false,
        }
    }

    fn unit_code() -> String {
        let body = "11370000MB0000001";
        format!("{body}{}", wire::ident::credit_code_check_char(body))
    }

    #[test]
    fn senior_cards_only_from_sixty() {
        let pop = pop();
        let senior = cert(
            "senior-citizen-card",
            vec![
                spec("birth_date", FieldKind::Date),
                spec("card_number", FieldKind::Text),
            ],
        );
        let b = backend(BackendScope::Province);
        let (mut held, mut seniors) = (0, 0);
        for i in 0..3000 {
            let h = format!("h-{i}");
            let p = pop.person(&h);
            let r = pop.record(&h, HolderKind::Person, &senior, &b, today());
            let age = p.age_on(today());
            if age < 60 {
                assert_eq!(r.status, RecordStatus::NotFound, "age {age}");
                continue;
            }
            seniors += 1;
            if r.status != RecordStatus::NotFound {
                held += 1;
                assert_eq!(r.fields["birth_date"], FieldValue::Date(p.birth_date));
                assert!(r.valid_from.expect("from") >= add_years(p.birth_date, 60));
                assert_eq!(r.valid_until, Some(LONG_TERM));
                r.validate_identifiers().expect("valid record");
                r.validate_fields(&senior).expect("fields match the type");
            }
        }
        // 85 % of seniors hold one.
        assert!(
            held * 100 > seniors * 78 && held * 100 < seniors * 92,
            "{held}/{seniors}"
        );
    }

    #[test]
    fn statuses_are_mostly_valid_with_some_of_each_other() {
        let pop = pop();
        let dl = cert(
            "driving-licence",
            vec![spec(
                "classes",
                FieldKind::EnumSet {
                    values: ["A2", "B2", "C1", "C2"].map(String::from).to_vec(),
                },
            )],
        );
        let b = backend(BackendScope::Province);
        let mut counts = std::collections::HashMap::new();
        let mut c1 = 0;
        for i in 0..5000 {
            let h = format!("h-{i}");
            let r = pop.record(&h, HolderKind::Person, &dl, &b, today());
            *counts.entry(r.status).or_insert(0u32) += 1;
            if r.status == RecordStatus::NotFound {
                continue;
            }
            r.validate_identifiers().expect("valid");
            r.validate_fields(&dl).expect("fields");
            let from = r.valid_from.expect("from");
            let until = r.valid_until.expect("until");
            match r.status {
                RecordStatus::Expired => assert!(until < today()),
                _ => assert!(from <= today() && today() <= until, "{from}..{until}"),
            }
            if r.fields["classes"]
                .as_list()
                .is_some_and(|l| l.iter().any(|c| c == "C1"))
            {
                c1 += 1;
            }
        }
        let held: u32 = counts
            .iter()
            .filter(|(s, _)| **s != RecordStatus::NotFound)
            .map(|(_, n)| n)
            .sum();
        let share = |s| counts.get(&s).copied().unwrap_or(0) * 1000 / held;
        assert!(share(RecordStatus::Valid) > 850, "{counts:?}");
        for s in [
            RecordStatus::Expired,
            RecordStatus::Revoked,
            RecordStatus::Suspended,
        ] {
            assert!((5..=80).contains(&share(s)), "{s}: {counts:?}");
        }
        // Most adults up to 70 drive.
        assert!(held > 2000 && held < 3600, "{held}");
        assert!(c1 * 100 > held * 80, "{c1}/{held}");
    }

    #[test]
    fn fields_follow_their_kinds() {
        let pop = pop();
        let t = cert(
            "resident-id-card",
            vec![
                spec("id_number", FieldKind::ResidentId),
                spec("birth_date", FieldKind::Date),
                spec(
                    "sex",
                    FieldKind::Enum {
                        values: vec!["male".into(), "female".into()],
                    },
                ),
                spec("deceased_id_number", FieldKind::ResidentId),
                spec("penalty_points", FieldKind::Integer),
                spec("address", FieldKind::Text),
                spec("review_due", FieldKind::Date),
            ],
        );
        let b = backend(BackendScope::Province);
        for i in 0..500 {
            let h = format!("h-{i}");
            let p = pop.person(&h);
            let r = pop.record(&h, HolderKind::Person, &t, &b, today());
            if r.status == RecordStatus::NotFound {
                continue;
            }
            r.validate_fields(&t).expect("valid fields");
            assert_eq!(
                r.fields["id_number"],
                FieldValue::Text(p.resident_id.clone())
            );
            assert_eq!(r.fields["sex"], FieldValue::Text(p.sex.to_string()));
            assert_eq!(r.holder_name.as_deref(), Some(p.name.as_str()));
            let lic = wire::ident::LicenceId::parse(r.licence_id.as_deref().expect("id"))
                .expect("licence id parses");
            assert_eq!(lic.unit_credit_code.as_str(), b.unit_credit_code);
        }
    }

    #[test]
    fn organisations_carry_their_credit_code() {
        let pop = pop();
        let mut t = cert(
            "business-licence",
            vec![
                spec("credit_code", FieldKind::CreditCode),
                spec("legal_representative", FieldKind::Text),
                spec("established_on", FieldKind::Date),
            ],
        );
        t.holder = HolderKinds::Organisation;
        let b = backend(BackendScope::Province);
        let mut held = 0;
        for i in 0..300 {
            let h = format!("o-{i}");
            let o = pop.organisation(&h);
            let r = pop.record(&h, HolderKind::Organisation, &t, &b, today());
            // A person cannot hold an organisation's type.
            assert_eq!(
                pop.record(&h, HolderKind::Person, &t, &b, today()).status,
                RecordStatus::NotFound
            );
            if r.status == RecordStatus::NotFound {
                continue;
            }
            held += 1;
            r.validate_fields(&t).expect("fields");
            assert_eq!(
                r.fields["credit_code"],
                FieldValue::Text(o.credit_code.clone())
            );
            assert_eq!(
                r.fields["established_on"],
                FieldValue::Date(o.established_on)
            );
        }
        assert!(held > 270, "{held}");
    }

    #[test]
    fn a_city_level_record_is_held_by_the_city_where_it_is_registered() {
        let pop = pop();
        let mut t = cert("health-certificate", vec![]);
        t.level = DataLevel::City;
        let (mut held, mut elsewhere) = (0, 0);
        for i in 0..2000 {
            let h = format!("h-{i}");
            let person = pop.person(&h);
            let holder = Holder::Person(person.clone());
            let placed = pop.placement(&h, &holder, &t);
            let registered = placed.city.expect("registered in a city");
            elsewhere += u32::from(registered != person.home_city);
            let mut found = None;
            for city in [370100, 370200, 370300] {
                let backend = backend(BackendScope::City(city));
                let r = pop.record(&h, HolderKind::Person, &t, &backend, today());
                if r.status != RecordStatus::NotFound {
                    assert_eq!(found.replace(city), None, "held by one city only");
                }
            }
            if let Some(city) = found {
                assert_eq!(city, registered);
                held += 1;
            }
        }
        assert!(held > 100, "{held}");
        // About a fifth registered outside the home city.
        assert!((300..500).contains(&elsewhere), "{elsewhere}/2000");
    }

    #[test]
    fn a_type_of_two_departments_is_held_by_one_of_them() {
        let pop = pop();
        let mut t = cert("hygiene-licence", vec![]);
        t.departments = vec!["health".into(), "administrative-approval".into()];
        let first = backend(BackendScope::Province);
        let second = Backend {
            department: "administrative-approval".into(),
            ..backend(BackendScope::Province)
        };
        let (mut held, mut at_second) = (0, 0);
        for i in 0..1000 {
            let h = format!("h-{i}");
            let a = pop.record(&h, HolderKind::Person, &t, &first, today());
            let b = pop.record(&h, HolderKind::Person, &t, &second, today());
            match (a.status, b.status) {
                (RecordStatus::NotFound, RecordStatus::NotFound) => {}
                (RecordStatus::NotFound, _) => {
                    held += 1;
                    at_second += 1;
                    assert_eq!(b.department, "administrative-approval");
                }
                (_, RecordStatus::NotFound) => held += 1,
                _ => panic!("{h}: held by both departments"),
            }
        }
        assert!(
            at_second * 100 > held * 20 && at_second * 100 < held * 40,
            "{at_second}/{held}"
        );
    }

    #[test]
    fn the_national_hub_holds_its_own_population() {
        let catalogue = wire::catalogue::Catalogue::embedded();
        let pop = Population::out_of_province(1);
        let hub = catalogue.national_hub().expect("a hub");
        let mut held = 0;
        for i in 0..300 {
            let h = format!("h-{i}");
            let person = pop.person(&h);
            assert!(crate::population::OUT_OF_PROVINCE_CITIES
                .iter()
                .any(|&(code, _)| code == person.home_city));
            let backend = pop
                .holding_backend(&catalogue, &h, HolderKind::Person, "resident-id-card")
                .expect("a backend");
            assert_eq!(backend, &hub.backends[0]);
            let r = pop
                .record_in(
                    &catalogue,
                    &h,
                    HolderKind::Person,
                    "resident-id-card",
                    today(),
                )
                .expect("a record");
            if r.status != RecordStatus::NotFound {
                held += 1;
                assert_eq!(r.department, "national-hub");
                r.validate_identifiers().expect("valid identifiers");
            }
        }
        assert!(held > 200, "{held}");
    }

    #[test]
    fn records_are_stable_within_a_term() {
        let pop = pop();
        let t = cert("driving-licence", vec![]);
        let b = backend(BackendScope::Province);
        for i in 0..200 {
            let h = format!("h-{i}");
            let a = pop.record(&h, HolderKind::Person, &t, &b, today());
            let later = pop.record(&h, HolderKind::Person, &t, &b, today() + Duration::days(1));
            if a.status == RecordStatus::Valid && a.valid_until > Some(today() + Duration::days(1))
            {
                assert_eq!(a.licence_id, later.licence_id);
                assert_eq!(a.valid_from, later.valid_from);
            }
        }
    }

    #[test]
    fn every_catalogue_type_generates_valid_records() {
        let catalogue = wire::catalogue::Catalogue::embedded();
        let pop = Population::with_cities(1, catalogue.cities());
        for cert in catalogue.certificates() {
            let kinds: &[HolderKind] = match cert.holder {
                HolderKinds::Person => &[HolderKind::Person],
                HolderKinds::Organisation => &[HolderKind::Organisation],
                HolderKinds::Either => &[HolderKind::Person, HolderKind::Organisation],
            };
            let mut held = 0;
            for &kind in kinds {
                for i in 0..3000 {
                    let h = format!("h-{i}");
                    let r = pop
                        .record_in(&catalogue, &h, kind, &cert.code, today())
                        .expect("every type has a backend");
                    r.validate_identifiers()
                        .unwrap_or_else(|e| panic!("{}: {e}", cert.code));
                    r.validate_fields(cert)
                        .unwrap_or_else(|e| panic!("{}: {e}", cert.code));
                    if r.status != RecordStatus::NotFound {
                        held += 1;
                        // Every declared field is filled for a holder of the right kind.
                        if cert.holder != HolderKinds::Either {
                            assert_eq!(r.fields.len(), cert.fields.len(), "{}", cert.code);
                        }
                    }
                }
            }
            assert!(held > 0, "nobody holds {}", cert.code);
        }
    }
}
