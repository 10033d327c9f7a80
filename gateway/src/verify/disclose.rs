//! Stage 10, disclose: only what the scenario may see. Always the verdict and the holder's
//! name — masked for persons (张*三), in full for organisations, whose registered names are
//! public — and per requirement only the fields its `disclose` list names, personal ones
//! masked (lists included: a personal list shows none of its items). A resident ID number is
//! never disclosed, whatever a scenario says.

use std::collections::BTreeMap;

use wire::api::{DisclosedHolder, RequirementResult, Verdict};
use wire::catalogue::model::{CertificateType, FieldKind, HolderKind, Requirement};
use wire::issuer_api::{FieldValue, Record};

use super::decide::Decision;
use super::fetch::Answer;
use super::resolve::Planned;

/// `张三丰` → `张*丰`, `李四` → `李*`, one character → `*`.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => {
            let mut s = String::with_capacity(name.len());
            s.push(chars[0]);
            s.extend(std::iter::repeat_n('*', (n - 2).min(4)));
            s.push(chars[n - 1]);
            s
        }
    }
}

fn render(value: &FieldValue, kind: &FieldKind, personal: bool) -> Option<String> {
    if matches!(kind, FieldKind::ResidentId) {
        return None;
    }
    Some(match (value, personal) {
        (FieldValue::Date(d), true) => format!("{}-**-**", d.format("%Y")),
        (FieldValue::Date(d), false) => d.to_string(),
        (FieldValue::Text(t), true) => mask_name(t),
        (FieldValue::Text(t), false) => t.clone(),
        (FieldValue::Integer(_), true) => "***".into(),
        (FieldValue::Integer(n), false) => n.to_string(),
        // A personal list (the services a health record lists) says what it holds only
        // through predicates (`covers`), never item by item.
        (FieldValue::List(_), true) => "***".into(),
        (FieldValue::List(items), false) => items.join(","),
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
    for name in &requirement.disclose {
        let (Some(spec), Some(value)) = (
            certificate.fields.iter().find(|f| &f.name == name),
            record.fields.get(name),
        ) else {
            continue;
        };
        if let Some(text) = render(value, &spec.kind, spec.personal) {
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
                stale,
            }
        })
        .collect()
}

/// The holder as the venue may see them: the name from the first record that carries one.
pub fn holder<'r>(
    kind: HolderKind,
    records: impl IntoIterator<Item = &'r Record>,
) -> DisclosedHolder {
    let name = records
        .into_iter()
        .find_map(|r| r.holder_name.as_deref())
        .map(|n| match kind {
            HolderKind::Person => mask_name(n),
            HolderKind::Organisation => n.to_string(),
        });
    DisclosedHolder { kind, name }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            render(&date, &FieldKind::Date, true).as_deref(),
            Some("1950-**-**")
        );
        assert_eq!(
            render(&date, &FieldKind::Date, false).as_deref(),
            Some("1950-03-02")
        );
        let id = FieldValue::Text("11010519491231002X".into());
        assert_eq!(render(&id, &FieldKind::ResidentId, false), None);
        let classes = FieldValue::List(vec!["C1".into(), "C2".into()]);
        let set = FieldKind::EnumSet { values: vec![] };
        assert_eq!(render(&classes, &set, false).as_deref(), Some("C1,C2"));
        assert_eq!(render(&classes, &set, true).as_deref(), Some("***"));
    }
}
