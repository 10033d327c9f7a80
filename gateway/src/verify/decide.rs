//! Stage 9, decide: each requirement's predicates against its record on the day of the
//! verification (China Standard Time, the province's calendar), then the overall verdict: any
//! definite `fail` fails; otherwise any `unavailable` makes it `unavailable` (the venue falls
//! back to paper); otherwise any `not_offered` (the rollout plan does not yet offer that
//! certificate in the holder's city: paper too, but nothing went wrong) makes it
//! `not_offered`; otherwise `pass`. A definite `fail` wins because the venue must refuse
//! whatever the paper says for the rest; `unavailable` ranks above `not_offered` because it is
//! the one operators must look at.

use chrono::NaiveDate;
use wire::api::{Reason, Verdict};
use wire::calendar::whole_years;
use wire::catalogue::model::{Predicate, Requirement};
use wire::issuer_api::{Record, RecordStatus};

use super::fetch::Answer;
use super::resolve::Planned;

/// The verdict on one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: Option<Reason>,
}

impl Decision {
    const PASS: Decision = Decision {
        verdict: Verdict::Pass,
        reason: None,
    };

    /// A requirement the rollout plan does not yet offer: not asked, the venue uses paper.
    pub const NOT_OFFERED: Decision = Decision {
        verdict: Verdict::NotOffered,
        reason: Some(Reason::NotOffered),
    };

    fn fail(reason: Reason) -> Decision {
        Decision {
            verdict: Verdict::Fail,
            reason: Some(reason),
        }
    }
}

fn status(record: &Record, today: NaiveDate) -> Result<(), Reason> {
    match record.status {
        RecordStatus::Valid => {}
        RecordStatus::NotFound => return Err(Reason::NotHeld),
        RecordStatus::Expired => return Err(Reason::Expired),
        RecordStatus::Revoked => return Err(Reason::Revoked),
        RecordStatus::Suspended => return Err(Reason::Suspended),
    }
    if record.valid_from.is_some_and(|from| today < from) {
        return Err(Reason::NotYetValid);
    }
    if record.valid_until.is_some_and(|until| today > until) {
        return Err(Reason::Expired);
    }
    Ok(())
}

fn predicate(p: &Predicate, record: &Record, today: NaiveDate) -> Result<(), Reason> {
    match p {
        Predicate::ValidOnDay => status(record, today),
        Predicate::AgeAtLeast { field, years } => {
            let birth = record
                .fields
                .get(field)
                .and_then(|v| v.as_date())
                .ok_or(Reason::MissingField)?;
            if whole_years(birth, today) >= *years as i32 {
                Ok(())
            } else {
                Err(Reason::UnderAge)
            }
        }
        Predicate::Covers { field, value } => {
            let list = record
                .fields
                .get(field)
                .and_then(|v| v.as_list())
                .ok_or(Reason::MissingField)?;
            if list.iter().any(|v| v == value) {
                Ok(())
            } else {
                Err(Reason::NotCovered)
            }
        }
        Predicate::OneOf { field, values } => {
            let v = record
                .fields
                .get(field)
                .and_then(|v| v.as_text())
                .ok_or(Reason::MissingField)?;
            if values.iter().any(|x| x == v) {
                Ok(())
            } else {
                Err(Reason::NotEligible)
            }
        }
    }
}

/// The decision on one requirement. The record's own status and validity window are always
/// checked, whether or not the scenario lists `valid-on-day` (fail closed: a revoked, expired,
/// suspended or not-yet-valid record never passes a requirement that forgot to ask); a record
/// that is not held fails as `not_held` whatever the predicates say.
pub fn requirement(requirement: &Requirement, answer: &Answer, today: NaiveDate) -> Decision {
    let record = match answer {
        Answer::Unavailable(reason) => {
            return Decision {
                verdict: Verdict::Unavailable,
                reason: Some(*reason),
            }
        }
        Answer::Record { record, .. } => record,
    };
    if let Err(reason) = status(record, today) {
        return Decision::fail(reason);
    }
    for p in &requirement.predicates {
        if let Err(reason) = predicate(p, record, today) {
            return Decision::fail(reason);
        }
    }
    Decision::PASS
}

/// The decision on each requirement of `plan`, given its answer (`None`: not offered).
pub fn requirements(
    plan: &[Planned<'_>],
    answers: &[Option<&Answer>],
    today: NaiveDate,
) -> Vec<Decision> {
    plan.iter()
        .zip(answers)
        .map(|(p, answer)| match answer {
            Some(answer) => requirement(p.requirement, answer, today),
            None => Decision::NOT_OFFERED,
        })
        .collect()
}

/// The overall verdict from the requirements' verdicts.
pub fn overall(decisions: &[Decision]) -> Verdict {
    if decisions.iter().any(|d| d.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if decisions.iter().any(|d| d.verdict == Verdict::Unavailable) {
        Verdict::Unavailable
    } else if decisions.iter().any(|d| d.verdict == Verdict::NotOffered) {
        Verdict::NotOffered
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use wire::issuer_api::FieldValue;

    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn record(status: RecordStatus, fields: &[(&str, FieldValue)]) -> Answer {
        Answer::Record {
            record: Arc::new(Record {
                certificate: "senior-citizen-card".into(),
                department: "health".into(),
                subject: "s".into(),
                status,
                valid_from: Some(day("2020-01-01")),
                valid_until: Some(day("2030-01-01")),
                licence_id: None,
                holder_name: Some("张三丰".into()),
                fields: fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect::<BTreeMap<_, _>>(),
                issued_at: chrono::Utc::now(),
                query_nonce: None,
                seal: None,
            }),
            stale: false,
        }
    }

    fn senior(years: u32) -> Requirement {
        Requirement {
            certificate: "senior-citizen-card".into(),
            predicates: vec![
                Predicate::ValidOnDay,
                Predicate::AgeAtLeast {
                    field: "birth_date".into(),
                    years,
                },
            ],
            disclose: vec![],
            legal_basis: None,
        }
    }

    #[test]
    fn each_way_to_fail_has_its_reason() {
        let today = day("2026-11-26");
        let born = |d: &str| [("birth_date", FieldValue::Date(day(d)))];
        let cases = [
            (
                record(RecordStatus::Valid, &born("1950-01-01")),
                Verdict::Pass,
                None,
            ),
            (
                record(RecordStatus::Valid, &born("1990-01-01")),
                Verdict::Fail,
                Some(Reason::UnderAge),
            ),
            (
                record(RecordStatus::Expired, &born("1950-01-01")),
                Verdict::Fail,
                Some(Reason::Expired),
            ),
            (
                record(RecordStatus::Revoked, &born("1950-01-01")),
                Verdict::Fail,
                Some(Reason::Revoked),
            ),
            (
                record(RecordStatus::Suspended, &born("1950-01-01")),
                Verdict::Fail,
                Some(Reason::Suspended),
            ),
            (
                record(RecordStatus::NotFound, &[]),
                Verdict::Fail,
                Some(Reason::NotHeld),
            ),
            (
                record(RecordStatus::Valid, &[]),
                Verdict::Fail,
                Some(Reason::MissingField),
            ),
            (
                Answer::Unavailable(Reason::DepartmentUnavailable),
                Verdict::Unavailable,
                Some(Reason::DepartmentUnavailable),
            ),
        ];
        for (answer, verdict, reason) in cases {
            let d = requirement(&senior(60), &answer, today);
            assert_eq!((d.verdict, d.reason), (verdict, reason), "{answer:?}");
        }
        // Dates outside the validity window, with a `valid` status.
        let d = requirement(
            &senior(60),
            &record(RecordStatus::Valid, &born("1950-01-01")),
            day("2031-01-01"),
        );
        assert_eq!(d.reason, Some(Reason::Expired));
        let d = requirement(
            &senior(60),
            &record(RecordStatus::Valid, &born("1950-01-01")),
            day("2019-01-01"),
        );
        assert_eq!(d.reason, Some(Reason::NotYetValid));
    }

    #[test]
    fn covers_and_one_of() {
        let today = day("2026-11-26");
        let licence = record(
            RecordStatus::Valid,
            &[
                ("classes", FieldValue::List(vec!["C2".into()])),
                ("level", FieldValue::Text("master".into())),
            ],
        );
        let covers = Requirement {
            certificate: "x".into(),
            predicates: vec![Predicate::Covers {
                field: "classes".into(),
                value: "C1".into(),
            }],
            disclose: vec![],
            legal_basis: None,
        };
        assert_eq!(
            requirement(&covers, &licence, today).reason,
            Some(Reason::NotCovered)
        );
        let one_of = Requirement {
            certificate: "x".into(),
            predicates: vec![Predicate::OneOf {
                field: "level".into(),
                values: vec!["master".into()],
            }],
            disclose: vec![],
            legal_basis: None,
        };
        assert_eq!(requirement(&one_of, &licence, today).verdict, Verdict::Pass);
    }

    /// A requirement that lists no `valid-on-day` still refuses a record that is not valid
    /// today: the status is checked whatever the scenario lists.
    #[test]
    fn a_requirement_without_valid_on_day_fails_closed() {
        let today = day("2026-11-26");
        let only_one_of = Requirement {
            certificate: "x".into(),
            predicates: vec![Predicate::OneOf {
                field: "level".into(),
                values: vec!["master".into()],
            }],
            disclose: vec![],
            legal_basis: None,
        };
        let level = [("level", FieldValue::Text("master".into()))];
        for (status, reason) in [
            (RecordStatus::Revoked, Reason::Revoked),
            (RecordStatus::Suspended, Reason::Suspended),
            (RecordStatus::Expired, Reason::Expired),
            (RecordStatus::NotFound, Reason::NotHeld),
        ] {
            let d = requirement(&only_one_of, &record(status, &level), today);
            assert_eq!((d.verdict, d.reason), (Verdict::Fail, Some(reason)));
        }
        let d = requirement(
            &only_one_of,
            &record(RecordStatus::Valid, &level),
            day("2031-01-01"),
        );
        assert_eq!(d.reason, Some(Reason::Expired));
        let d = requirement(&only_one_of, &record(RecordStatus::Valid, &level), today);
        assert_eq!(d.verdict, Verdict::Pass);
    }

    #[test]
    fn a_definite_fail_outranks_unavailable() {
        let pass = Decision::PASS;
        let fail = Decision::fail(Reason::Revoked);
        let unavailable = Decision {
            verdict: Verdict::Unavailable,
            reason: Some(Reason::DepartmentUnavailable),
        };
        let not_offered = Decision::NOT_OFFERED;
        assert_eq!(overall(&[pass, unavailable, fail]), Verdict::Fail);
        assert_eq!(overall(&[not_offered, fail]), Verdict::Fail);
        assert_eq!(overall(&[pass, unavailable]), Verdict::Unavailable);
        assert_eq!(overall(&[not_offered, unavailable]), Verdict::Unavailable);
        assert_eq!(overall(&[pass, not_offered]), Verdict::NotOffered);
        assert_eq!(overall(&[not_offered]), Verdict::NotOffered);
        assert_eq!(overall(&[pass, pass]), Verdict::Pass);
    }
}
