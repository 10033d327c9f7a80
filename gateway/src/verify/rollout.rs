//! Stage 7, rollout: the province's rollout plan in force ([`crate::admin::rollout::Rollout`])
//! says, per requirement, whether its certificate is offered yet in the holder's city (the
//! venue's when the code names none) for the scenario. A requirement not offered is not asked
//! of its department: it answers `not_offered` and the venue uses paper. Every requirement,
//! offered or not, is counted against the plan's figures once decided.

use std::borrow::Cow;

use chrono::NaiveDate;
use wire::catalogue::model::CityCode;

use super::decide::Decision;
use super::fetch::Answer;
use super::resolve::Planned;
use crate::admin::rollout::Rollout;

/// Which requirements of a plan are offered where the holder is.
#[derive(Debug)]
pub struct Offer<'p, 'c> {
    plan: &'p [Planned<'c>],
    offered: Vec<bool>,
    city: CityCode,
}

/// The plan's requirements, each offered or not in `city` for `scenario` on `today`.
pub fn offer<'p, 'c>(
    rollout: &Rollout,
    plan: &'p [Planned<'c>],
    city: CityCode,
    scenario: &str,
    today: NaiveDate,
) -> Offer<'p, 'c> {
    let offered = plan
        .iter()
        .map(|p| rollout.offered(&p.certificate.code, city, scenario, today))
        .collect();
    Offer {
        plan,
        offered,
        city,
    }
}

impl<'p, 'c> Offer<'p, 'c> {
    /// The requirements to ask the departments about: the offered ones, in plan order.
    pub fn asked(&self) -> Cow<'p, [Planned<'c>]> {
        if self.offered.iter().all(|&o| o) {
            Cow::Borrowed(self.plan)
        } else {
            Cow::Owned(
                self.plan
                    .iter()
                    .zip(&self.offered)
                    .filter(|(_, &o)| o)
                    .map(|(p, _)| *p)
                    .collect(),
            )
        }
    }

    /// Per requirement of the plan: its answer among `answers` (one per asked requirement, in
    /// order), `None` where it was not offered.
    pub fn answers<'a>(&self, answers: &'a [Answer]) -> Vec<Option<&'a Answer>> {
        let mut fetched = answers.iter();
        self.offered
            .iter()
            .map(|&offered| offered.then(|| fetched.next()).flatten())
            .collect()
    }

    /// Counts each requirement's decision against the plan's figures.
    pub fn count(&self, rollout: &Rollout, decisions: &[Decision]) {
        for (p, d) in self.plan.iter().zip(decisions) {
            rollout.count(&p.certificate.code, self.city, d.verdict);
        }
    }
}
