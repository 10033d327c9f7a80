//! Stage 10, disclose: only what the scenario may see. Always the verdict and the holder's
//! name — masked for persons (张*三), in full for organisations, whose registered names are
//! public — and per requirement only the fields its `disclose` list names, personal ones
//! masked (lists included: a personal list shows none of its items).
//!
//! Where the law obliges the venue to record who it serves (a hotel registers each guest's name
//! and ID number, a bank its customer's), the requirement records that `legal_basis` and lists
//! `holder_name` and the ID number: a passing one gives the person's name and the resident ID
//! number in full, and the answer names the basis. A resident ID number without one is never
//! disclosed, whatever a scenario says (the catalogue's loader refuses such a scenario; this
//! stage checks again). Every other personal field stays masked under a legal basis too.

use std::collections::BTreeMap;

use wire::api::{DisclosedHolder, RequirementResult, Verdict};
use wire::catalogue::model::{CertificateType, FieldKind, HolderKind, Requirement, HOLDER_NAME};
use wire::issuer_api::{FieldValue, Record};

use super::decide::Decision;
use super::fetch::Answer;
use super::resolve::Planned;

use wire::api::PresentedBy;
use wire::code::Presenter;
pub use wire::mask::mask_name;

/// Who presented the code, as the venue sees it: the relation and the masked name the code
/// carries (the platform masked it; masking a masked name changes nothing).
pub fn presented_by(presenter: &Presenter) -> PresentedBy {
    PresentedBy {
        relation: presenter.relation,
        name: mask_name(&presenter.name),
    }
}

/// One field's value as the venue sees it; `None` when it may not be shown at all.
/// `legal_basis`: the requirement's, which alone lets a resident ID number through, in full (a
/// masked one would register nothing).
fn render(
    value: &FieldValue,
    kind: &FieldKind,
    personal: bool,
    legal_basis: Option<&str>,
) -> Option<String> {
    if matches!(kind, FieldKind::ResidentId) {
        return match value {
            FieldValue::Text(number) if legal_basis.is_some() => Some(number.clone()),
            _ => None,
        };
    }
    Some(match (value, personal) {
        (value, false) => value.to_string(),
        (FieldValue::Date(d), true) => format!("{}-**-**", d.format("%Y")),
        (FieldValue::Text(t), true) => mask_name(t),
        (FieldValue::Integer(_), true) => "***".into(),
        // A personal list (the services a health record lists) says what it holds only
        // through predicates (`covers`), never item by item.
        (FieldValue::List(_), true) => "***".into(),
    })
}

/// The fields of `record` that `requirement` lets the venue see, only for a passing
/// requirement (a failed one says why, not what; an unavailable or not offered one has no
/// record).
pub fn fields(
    requirement: &Requirement,
    certificate: &CertificateType,
    record: Option<&Record>,
    verdict: Verdict,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(record) = record.filter(|_| verdict == Verdict::Pass) else {
        return out;
    };
    let basis = requirement.legal_basis();
    for name in &requirement.disclose {
        let (Some(spec), Some(value)) = (
            certificate.fields.iter().find(|f| &f.name == name),
            record.fields.get(name),
        ) else {
            continue;
        };
        if let Some(text) = render(value, &spec.kind, spec.personal, basis) {
            out.insert(name.clone(), text);
        }
    }
    out
}

/// Each requirement of `plan` as the venue sees it: its verdict and reason, and the fields it
/// may disclose from its record (`answers`: per requirement, `None` when not offered).
pub fn requirements(
    plan: &[Planned<'_>],
    answers: &[Option<&Answer>],
    decisions: &[Decision],
) -> Vec<RequirementResult> {
    plan.iter()
        .zip(answers)
        .zip(decisions)
        .map(|((p, answer), decision)| {
            let (record, stale) = match answer {
                Some(Answer::Record { record, stale }) => (Some(record.as_ref()), *stale),
                Some(Answer::Unavailable(_)) | None => (None, false),
            };
            RequirementResult {
                certificate: p.certificate.code.clone(),
                verdict: decision.verdict,
                reason: decision.reason,
                disclosed: fields(p.requirement, p.certificate, record, decision.verdict),
                legal_basis: p.requirement.legal_basis().map(str::to_owned),
                stale,
            }
        })
        .collect()
}

/// The record an answer carries: none when its department was unavailable or not asked.
fn record_of(answer: Option<&Answer>) -> Option<&Record> {
    match answer {
        Some(Answer::Record { record, .. }) => Some(record.as_ref()),
        Some(Answer::Unavailable(_)) | None => None,
    }
}

/// Whether `requirement` gives a person's name in full: it lists `holder_name` under a legal
/// basis.
fn names_holder(requirement: &Requirement) -> bool {
    requirement.legal_basis().is_some() && requirement.disclose.iter().any(|n| n == HOLDER_NAME)
}

/// The holder as the venue may see them. A person's name is given in full from the record of
/// a passing requirement that names the holder under its legal basis ([`names_holder`]);
/// otherwise the name is the first record's that carries one, masked for persons.
pub fn holder(
    kind: HolderKind,
    plan: &[Planned<'_>],
    answers: &[Option<&Answer>],
    decisions: &[Decision],
) -> DisclosedHolder {
    let registered = plan
        .iter()
        .zip(answers)
        .zip(decisions)
        .filter(|((p, _), d)| d.verdict == Verdict::Pass && names_holder(p.requirement))
        .find_map(|((_, answer), _)| record_of(*answer)?.holder_name.as_deref());
    let name = match (kind, registered) {
        (HolderKind::Person, Some(full)) => Some(full.to_string()),
        _ => answers
            .iter()
            .filter_map(|answer| record_of(*answer))
            .find_map(|r| r.holder_name.as_deref())
            .map(|n| match kind {
                HolderKind::Person => mask_name(n),
                HolderKind::Organisation => n.to_string(),
            }),
    };
    DisclosedHolder { kind, name }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wire::catalogue::model::{Backend, BackendScope, Endpoint, FieldSpec};
    use wire::issuer_api::RecordStatus;

    use super::*;

    const HOTELS: &str = "《旅馆业治安管理办法》第六条";

    #[test]
    fn names_are_masked_keeping_first_and_last() {
        assert_eq!(mask_name("张三丰"), "张*丰");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_name("王"), "*");
        assert_eq!(mask_name("欧阳娜娜娜娜娜"), "欧****娜");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn personal_values_are_masked_and_id_numbers_never_shown() {
        let date = FieldValue::Date("1950-03-02".parse().expect("date"));
        assert_eq!(
            render(&date, &FieldKind::Date, true, None).as_deref(),
            Some("1950-**-**")
        );
        assert_eq!(
            render(&date, &FieldKind::Date, false, None).as_deref(),
            Some("1950-03-02")
        );
        let id = FieldValue::Text("11010519491231002X".into());
        assert_eq!(render(&id, &FieldKind::ResidentId, false, None), None);
        let classes = FieldValue::List(vec!["C1".into(), "C2".into()]);
        let set = FieldKind::EnumSet { values: vec![] };
        assert_eq!(
            render(&classes, &set, false, None).as_deref(),
            Some("C1,C2")
        );
        assert_eq!(render(&classes, &set, true, None).as_deref(), Some("***"));
    }

    #[test]
    fn under_a_legal_basis_the_id_number_is_shown_in_full_and_the_rest_stays_masked() {
        let id = FieldValue::Text("11010519491231002X".into());
        assert_eq!(
            render(&id, &FieldKind::ResidentId, true, Some(HOTELS)).as_deref(),
            Some("11010519491231002X")
        );
        // Other personal fields keep their mask under a legal basis.
        let address = FieldValue::Text("山东省济南市历下区泉城路1号".into());
        assert_eq!(
            render(&address, &FieldKind::Text, true, Some(HOTELS)).as_deref(),
            Some("山****号")
        );
        let born = FieldValue::Date("1950-03-02".parse().expect("date"));
        assert_eq!(
            render(&born, &FieldKind::Date, true, Some(HOTELS)).as_deref(),
            Some("1950-**-**")
        );
    }

    fn identity_card() -> CertificateType {
        let field = |name: &str, kind: FieldKind| FieldSpec {
            name: name.into(),
            kind,
            personal: true,
        };
        CertificateType {
            code: "resident-id-card".into(),
            no: 1,
            name_zh: "居民身份证".into(),
            name_en: "Resident identity card".into(),
            departments: vec!["public-security".into()],
            level: wire::catalogue::model::DataLevel::Province,
            holder: wire::catalogue::model::HolderKinds::Person,
            cache_ttl_secs: 60,
            licence_type_code: "11100000000013338W001".into(),
            fields: vec![
                field("id_number", FieldKind::ResidentId),
                field("address", FieldKind::Text),
            ],
        }
    }

    fn identity_record(status: RecordStatus) -> Record {
        let mut r = Record::not_found(
            "resident-id-card",
            "public-security",
            "s",
            chrono::Utc::now(),
        );
        r.status = status;
        r.holder_name = Some("张三丰".into());
        r.fields = BTreeMap::from([
            (
                "id_number".into(),
                FieldValue::Text("11010519491231002X".into()),
            ),
            (
                "address".into(),
                FieldValue::Text("山东省济南市历下区泉城路1号".into()),
            ),
        ]);
        r
    }

    /// A hotel's requirement: the guest's name and ID number under its legal basis.
    fn registration(legal_basis: Option<&str>) -> Requirement {
        Requirement {
            certificate: "resident-id-card".into(),
            predicates: vec![],
            disclose: vec![HOLDER_NAME.into(), "id_number".into(), "address".into()],
            legal_basis: legal_basis.map(str::to_owned),
        }
    }

    #[test]
    fn fields_show_the_id_number_only_under_a_legal_basis() {
        let card = identity_card();
        let record = identity_record(RecordStatus::Valid);
        let shown = fields(
            &registration(Some(HOTELS)),
            &card,
            Some(&record),
            Verdict::Pass,
        );
        assert_eq!(
            shown,
            BTreeMap::from([
                ("address".to_string(), "山****号".to_string()),
                ("id_number".to_string(), "11010519491231002X".to_string()),
            ]),
            "the name is the holder's, not a field"
        );
        for blank in [None, Some(""), Some("  ")] {
            let shown = fields(&registration(blank), &card, Some(&record), Verdict::Pass);
            assert!(!shown.contains_key("id_number"), "{blank:?}: {shown:?}");
        }
        let failed = fields(
            &registration(Some(HOTELS)),
            &card,
            Some(&record),
            Verdict::Fail,
        );
        assert!(
            failed.is_empty(),
            "a failed requirement shows nothing: {failed:?}"
        );
    }

    #[test]
    fn the_name_is_given_in_full_only_by_a_passing_requirement_under_a_legal_basis() {
        let card = identity_card();
        let backend = Backend {
            department: "public-security".into(),
            scope: BackendScope::Province,
            endpoint: Endpoint::Embedded,
            unit_credit_code: "11370000MB00000015".into(),
        };
        let name = |legal_basis: Option<&str>, verdict: Verdict| {
            let requirement = registration(legal_basis);
            let plan = [Planned {
                requirement: &requirement,
                certificate: &card,
                backend: &backend,
            }];
            let answer = Answer::Record {
                record: Arc::new(identity_record(RecordStatus::Valid)),
                stale: false,
            };
            let decision = Decision {
                verdict,
                reason: None,
            };
            let results = requirements(&plan, &[Some(&answer)], std::slice::from_ref(&decision));
            let shown = holder(HolderKind::Person, &plan, &[Some(&answer)], &[decision]);
            (shown.name, results[0].legal_basis.clone())
        };
        assert_eq!(
            name(Some(HOTELS), Verdict::Pass),
            (Some("张三丰".into()), Some(HOTELS.into()))
        );
        assert_eq!(
            name(Some(HOTELS), Verdict::Fail),
            (Some("张*丰".into()), Some(HOTELS.into()))
        );
        assert_eq!(name(None, Verdict::Pass), (Some("张*丰".into()), None));
        assert_eq!(name(Some(" "), Verdict::Pass), (Some("张*丰".into()), None));
    }
}
