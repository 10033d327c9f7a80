//! The figures from the counters: every formula of the evaluation table, once, as a pure
//! function of the store's rows ([`evaluate`]), and [`evaluation`] which reads them. The
//! README's "Targets measured from traffic" writes the same formulas out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use store::{KpiCounts, KpiKey, ObjectionOutcome, Store, StoreError};
use wire::admin_api::{Evaluation, EvaluationRow, TargetCheck};
use wire::calendar::china_today;
use wire::rollout::Target;

/// How the rows of a table are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Day,
    City,
    Department,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Day => "day",
            By::City => "city",
            By::Department => "department",
        }
    }

    /// `day`, `city` or `department`.
    pub fn parse(text: &str) -> Option<By> {
        [By::Day, By::City, By::Department]
            .into_iter()
            .find(|by| by.as_str() == text)
    }
}

/// The metrics of the table, in its order: (id, title, unit).
pub const METRICS: [(&str, &str, &str); 7] = [
    (
        "proof_material_share_rate",
        "证明材料共享率 material share",
        "share",
    ),
    (
        "form_field_share_rate",
        "表单字段共享率 form-field share",
        "share",
    ),
    (
        "sharing_demand_satisfaction_rate",
        "数据共享有效需求满足率 demand satisfied",
        "share",
    ),
    ("top_certificates_in_use", "certificates in use", "count"),
    (
        "replacement_rate",
        "materials not brought on paper",
        "share",
    ),
    ("objections_on_time", "objections handled on time", "share"),
    ("seal_check_pass_rate", "seal-check pass rate", "share"),
];

/// What the formulas need beside the counters.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The plan's targets (`config/rollout.toml`'s `[[target]]`).
    pub targets: &'a [Target],
    /// The catalogue's certificate types (the scale of "certificates in use").
    pub certificates: usize,
}

/// The first instant of `day` in China, in UTC.
pub fn china_midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - TimeDelta::hours(8))
        .unwrap_or_default()
}

/// The last 30 days in China, today included.
pub fn last_30_days(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let today = china_today(now);
    (today - TimeDelta::days(29), today)
}

/// Reads the counters and the objections of the window and evaluates them.
pub async fn evaluation(
    store: &Store,
    context: Context<'_>,
    from: NaiveDate,
    to: NaiveDate,
    by: Option<By>,
) -> Result<Evaluation, StoreError> {
    let rows = store.kpi_counts(from, to).await?;
    let objections = store
        .objection_outcomes(
            china_midnight(from),
            china_midnight(to + TimeDelta::days(1)),
        )
        .await?;
    Ok(evaluate(context, from, to, by, &rows, &objections))
}

/// One group's sums.
#[derive(Debug, Default)]
struct Sums {
    /// Over whole service items (certificate `""`): plan, assumed.
    items: [KpiCounts; 2],
    /// Over certificate types (verify path and materials alike).
    requests: KpiCounts,
    /// Certificate types with at least one answered request.
    in_use: BTreeSet<String>,
    objections: u64,
    objections_on_time: u64,
    /// Whether the group holds counters (a city group holds no objections, the `None` group of
    /// a city table nothing else).
    counters: bool,
    objection_row: bool,
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The evaluation table of the window `from..=to` from its counter rows and objections.
pub fn evaluate(
    context: Context<'_>,
    from: NaiveDate,
    to: NaiveDate,
    by: Option<By>,
    rows: &[(KpiKey, KpiCounts)],
    objections: &[ObjectionOutcome],
) -> Evaluation {
    let mut groups: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    if by.is_none() {
        groups.entry(None).or_default();
    }
    for (key, counts) in rows {
        let group = match by {
            None => None,
            Some(By::Day) => Some(key.day.to_string()),
            Some(By::City) => Some(key.city.to_string()),
            Some(By::Department) => Some(key.department.clone()),
        };
        let sums = groups.entry(group).or_default();
        sums.counters = true;
        if key.certificate.is_empty() {
            match key.source.as_str() {
                "plan" => sums.items[0].add(counts),
                "assumed" => sums.items[1].add(counts),
                _ => {}
            }
        } else {
            sums.requests.add(counts);
            if counts.answered > 0 {
                sums.in_use.insert(key.certificate.clone());
            }
        }
    }
    let (start, end) = (
        china_midnight(from),
        china_midnight(to + TimeDelta::days(1)),
    );
    for o in objections {
        let group = match by {
            None | Some(By::City) => None,
            Some(By::Department) => Some(o.department.clone()),
            Some(By::Day) => {
                let due_in_window = (start..end).contains(&o.deadline);
                let at = match o.closed_at {
                    Some(closed) if !due_in_window => closed,
                    _ => o.deadline,
                };
                Some(china_today(at).to_string())
            }
        };
        let sums = groups.entry(group).or_default();
        sums.objections += 1;
        if o.closed_at.is_some_and(|closed| closed <= o.deadline) {
            sums.objections_on_time += 1;
        }
    }
    for (group, sums) in &mut groups {
        sums.objection_row = match by {
            None => true,
            Some(By::City) => group.is_none(),
            Some(By::Day | By::Department) => true,
        };
        if by.is_none() {
            sums.counters = true;
        }
    }

    let mut table = Vec::new();
    for (group, sums) in &groups {
        let row = |metric: &str, basis: &str, numerator: u64, denominator: u64| {
            let (id, title, unit) = METRICS
                .iter()
                .find(|(id, _, _)| *id == metric)
                .copied()
                .unwrap_or((metric, metric, "share"));
            let value = if unit == "count" {
                Some(numerator as f64)
            } else {
                ratio(numerator, denominator)
            };
            let mut targets: Vec<TargetCheck> = context
                .targets
                .iter()
                .filter(|t| t.id == id)
                .map(|t| TargetCheck {
                    year: t.year,
                    target: t.target,
                    all: t.all,
                    // Compared in the counts' own terms, so 2 of 5 meets 40 % exactly.
                    met: value.map(|v| v + 1e-9 >= t.target),
                })
                .collect();
            targets.sort_by_key(|t| t.year);
            EvaluationRow {
                group: group.clone(),
                metric: id.to_owned(),
                title: title.to_owned(),
                basis: basis.to_owned(),
                numerator,
                denominator,
                value,
                unit: unit.to_owned(),
                targets,
            }
        };
        if sums.counters {
            let bases = [("plan", &sums.items[0]), ("assumed", &sums.items[1])];
            for (basis, c) in bases {
                table.push(row(
                    "proof_material_share_rate",
                    basis,
                    c.materials_provided,
                    c.materials_required,
                ));
            }
            for (basis, c) in bases {
                table.push(row(
                    "form_field_share_rate",
                    basis,
                    c.form_fields_filled,
                    c.form_fields,
                ));
            }
            let r = &sums.requests;
            table.push(row(
                "sharing_demand_satisfaction_rate",
                "all",
                r.answered,
                r.asked,
            ));
            table.push(row(
                "top_certificates_in_use",
                "all",
                sums.in_use.len() as u64,
                context.certificates as u64,
            ));
            for (basis, c) in bases {
                table.push(row(
                    "replacement_rate",
                    basis,
                    c.materials_provided + c.materials_committed,
                    c.materials_required,
                ));
            }
        }
        if sums.objection_row {
            table.push(row(
                "objections_on_time",
                "all",
                sums.objections_on_time,
                sums.objections,
            ));
        }
        if sums.counters {
            let r = &sums.requests;
            table.push(row(
                "seal_check_pass_rate",
                "all",
                r.seal_verified,
                r.records_received,
            ));
        }
    }
    Evaluation {
        from,
        to,
        by: by.map(|b| b.as_str().to_owned()),
        rows: table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::rollout::Unit;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn key(city: u32, department: &str, certificate: &str, source: &str) -> KpiKey {
        KpiKey {
            day: day("2026-11-26"),
            city,
            department: department.into(),
            certificate: certificate.into(),
            source: source.into(),
        }
    }

    #[test]
    fn shares_counts_and_targets() {
        let targets = [
            Target {
                id: "proof_material_share_rate".into(),
                title: "t".into(),
                year: 2022,
                target: 0.4,
                unit: Unit::Share,
                all: false,
            },
            Target {
                id: "top_certificates_in_use".into(),
                title: "t".into(),
                year: 2025,
                target: 50.0,
                unit: Unit::Count,
                all: true,
            },
        ];
        let rows = [
            (
                key(370100, "civil-affairs", "", "plan"),
                KpiCounts {
                    materials_required: 5,
                    materials_provided: 2,
                    materials_committed: 1,
                    ..KpiCounts::default()
                },
            ),
            (
                key(370100, "public-security", "resident-id-card", ""),
                KpiCounts {
                    asked: 4,
                    answered: 3,
                    ..KpiCounts::default()
                },
            ),
            (
                key(370200, "public-security", "driving-licence", ""),
                KpiCounts {
                    not_offered: 2,
                    ..KpiCounts::default()
                },
            ),
        ];
        let context = Context {
            targets: &targets,
            certificates: 50,
        };
        let e = evaluate(
            context,
            day("2026-11-20"),
            day("2026-11-26"),
            None,
            &rows,
            &[],
        );
        let find = |metric: &str, basis: &str| {
            e.rows
                .iter()
                .find(|r| r.metric == metric && r.basis == basis)
                .unwrap_or_else(|| panic!("{metric} {basis}"))
        };
        let share = find("proof_material_share_rate", "plan");
        assert_eq!((share.numerator, share.denominator), (2, 5));
        assert_eq!(share.targets[0].met, Some(true), "2 of 5 is 40 %");
        assert_eq!(find("proof_material_share_rate", "assumed").value, None);
        assert_eq!(find("replacement_rate", "plan").value, Some(0.6));
        assert_eq!(
            find("sharing_demand_satisfaction_rate", "all").value,
            Some(0.75)
        );
        let in_use = find("top_certificates_in_use", "all");
        assert_eq!((in_use.numerator, in_use.value), (1, Some(1.0)));
        assert_eq!(in_use.targets[0].met, Some(false));
        assert_eq!(find("objections_on_time", "all").value, None);
        assert!(find("seal_check_pass_rate", "all").targets.is_empty());
    }

    #[test]
    fn windows_and_groups() {
        assert_eq!(
            china_midnight(day("2026-11-26")).to_rfc3339(),
            "2026-11-25T16:00:00+00:00"
        );
        let now = "2026-11-26T17:00:00Z".parse().expect("time");
        assert_eq!(last_30_days(now), (day("2026-10-29"), day("2026-11-27")));
        assert_eq!(By::parse("city"), Some(By::City));
        assert_eq!(By::parse("week"), None);
    }
}
