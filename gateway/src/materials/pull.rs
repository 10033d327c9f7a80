//! Pulling one service item's materials: each certificate material asked of its department
//! like a verification's requirement (valid on the day), in one fan-out; each material's
//! status decided; the form's fields filled from what was provided, and only those.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use wire::api::{Reason, Verdict};
use wire::catalogue::model::{CityCode, Material, Predicate, Requirement, ServiceItem, Supply};
use wire::catalogue::Catalogue;
use wire::code::HolderClaims;
use wire::issuer_api::Record;
use wire::materials_api::{FormFill, MaterialResult, MaterialStatus, MaterialsResponse};

use crate::verify::fetch::{Answer, Ask};
use crate::verify::{decide, resolve, VerifyService};

/// Why a paper material was not provided: no certificate supplies it.
const PAPER: &str = "paper";

/// Per service item, one requirement per certificate material, in the item's order: the
/// record must be valid on the day, and its disclosure is the form's fields.
pub fn requirements(catalogue: &Catalogue) -> HashMap<u32, Vec<Requirement>> {
    catalogue
        .service_items()
        .iter()
        .map(|item| {
            let requirements = item
                .materials
                .iter()
                .filter_map(|m| {
                    m.certificate().map(|code| Requirement {
                        certificate: code.to_owned(),
                        predicates: vec![Predicate::ValidOnDay],
                        disclose: m.fields.clone(),
                        legal_basis: None,
                    })
                })
                .collect();
            (item.no, requirements)
        })
        .collect()
}

/// Whose materials are pulled, where, on which day.
#[derive(Debug)]
pub struct Applicant<'a> {
    pub holder: &'a HolderClaims,
    pub subject_hash: [u8; 32],
    /// The applicant's city (the code's, else the service window's): where the rollout plan
    /// must have a certificate live for it to be asked.
    pub city: CityCode,
    pub today: NaiveDate,
}

/// What became of one material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub status: MaterialStatus,
    pub fields: BTreeMap<String, String>,
    pub reason: Option<String>,
    pub stale: bool,
}

impl Pulled {
    /// Not pulled, for `reason`: a commitment may replace it where the item allows one.
    fn not_provided(material: &Material, reason: &str) -> Pulled {
        Pulled {
            status: if material.commitment {
                MaterialStatus::CommitmentAllowed
            } else {
                MaterialStatus::MustPresent
            },
            fields: BTreeMap::new(),
            reason: Some(reason.to_owned()),
            stale: false,
        }
    }

    fn unavailable(reason: &str) -> Pulled {
        Pulled {
            status: MaterialStatus::Unavailable,
            fields: BTreeMap::new(),
            reason: Some(reason.to_owned()),
            stale: false,
        }
    }
}

/// Pulls `item`'s materials for `applicant` by `deadline`: one [`Pulled`] per material, in
/// the item's order. `requirements` are the item's (see [`requirements`]).
pub async fn materials(
    service: &VerifyService,
    item: &ServiceItem,
    requirements: &[Requirement],
    applicant: &Applicant<'_>,
    deadline: Instant,
    request_id: &str,
) -> Vec<Pulled> {
    let mut pulled: Vec<Option<Pulled>> = vec![None; item.materials.len()];
    // (material index, planned) for each certificate material asked of its department.
    let mut asked = Vec::new();
    let certificate_materials = item
        .materials
        .iter()
        .enumerate()
        .filter(|(_, m)| m.certificate().is_some());
    for ((i, material), requirement) in certificate_materials.zip(requirements) {
        let code = &requirement.certificate;
        if !service
            .rollout
            .offered_for_items(code, applicant.city, applicant.today)
        {
            service
                .rollout
                .count(code, applicant.city, Verdict::NotOffered);
            pulled[i] = Some(Pulled::not_provided(material, Reason::NotOffered.as_str()));
            continue;
        }
        match resolve::requirement_of(&service.catalogue, requirement, applicant.holder) {
            Ok(planned) => asked.push((i, planned)),
            Err(failure) => pulled[i] = Some(Pulled::unavailable(failure.code())),
        }
    }
    if !asked.is_empty() {
        let ask = Ask {
            subject: &applicant.holder.subject,
            subject_hash: applicant.subject_hash,
            kind: applicant.holder.kind,
            // A form is filled from current records only.
            allow_stale: false,
            deadline,
            request_id,
        };
        let plan: Vec<_> = asked.iter().map(|(_, planned)| *planned).collect();
        let answers = service.fetcher.fetch(&ask, &plan).await;
        for ((i, planned), answer) in asked.iter().zip(&answers) {
            let decision = decide::requirement(planned.requirement, answer, applicant.today);
            service.rollout.count(
                &planned.requirement.certificate,
                applicant.city,
                decision.verdict,
            );
            let material = &item.materials[*i];
            let reason = decision.reason.map_or("", Reason::as_str);
            pulled[*i] = Some(match (decision.verdict, answer) {
                (Verdict::Pass, Answer::Record { record, stale }) => Pulled {
                    status: MaterialStatus::Provided,
                    fields: form_fields(material, record),
                    reason: None,
                    stale: *stale,
                },
                (Verdict::Unavailable, _) | (Verdict::Pass, Answer::Unavailable(_)) => {
                    Pulled::unavailable(reason)
                }
                (Verdict::Fail | Verdict::NotOffered, _) => Pulled::not_provided(material, reason),
            });
        }
    }
    item.materials
        .iter()
        .zip(pulled)
        .map(|(material, pulled)| {
            pulled.unwrap_or_else(|| match &material.supply {
                Supply::Paper { .. } => Pulled::not_provided(material, PAPER),
                // A certificate material with no requirement: the catalogue changed under us.
                Supply::Certificate(_) => Pulled::unavailable("catalogue_changed"),
            })
        })
        .collect()
}

/// The fields of `record` the form needs from `material`, as they are: the service window
/// fills an application the holder consented to, so nothing is masked, and nothing beyond
/// the form is given.
fn form_fields(material: &Material, record: &Record) -> BTreeMap<String, String> {
    material
        .fields
        .iter()
        .filter_map(|name| Some((name.clone(), record.value_in_full(name)?)))
        .collect()
}

/// The answer for `item` from what was pulled.
pub fn response(item: &ServiceItem, pulled: &[Pulled], now: DateTime<Utc>) -> MaterialsResponse {
    let materials: Vec<MaterialResult> = item
        .materials
        .iter()
        .zip(pulled)
        .map(|(material, p)| MaterialResult {
            material: material.id().to_owned(),
            status: p.status,
            fields: p.fields.clone(),
            reason: p.reason.clone(),
            stale: p.stale,
        })
        .collect();
    let form = item.form_fields();
    let filled = form
        .iter()
        .filter(|field| materials.iter().any(|m| m.fields.contains_key(**field)))
        .count();
    MaterialsResponse {
        materials_request_id: request_id(now),
        item: item.no,
        source: item.source.as_str().to_owned(),
        materials,
        form: FormFill {
            fields: u32::try_from(form.len()).unwrap_or(u32::MAX),
            filled: u32::try_from(filled).unwrap_or(u32::MAX),
        },
        decided_at: now,
        audit_seq: None,
        audit_chain: None,
    }
}

/// A fresh materials request id: `m-` and the time, like a verification id's `v-`.
fn request_id(at: DateTime<Utc>) -> String {
    let verification = crate::verify::respond::verification_id(at);
    format!("m-{}", &verification[2..])
}

/// The least any material got, in the order provided < commitment allowed < must present <
/// unavailable: `provided` only when every material was.
pub fn overall(materials: &[MaterialResult]) -> MaterialStatus {
    let rank = |s: MaterialStatus| match s {
        MaterialStatus::Provided => 0,
        MaterialStatus::CommitmentAllowed => 1,
        MaterialStatus::MustPresent => 2,
        MaterialStatus::Unavailable => 3,
    };
    materials
        .iter()
        .map(|m| m.status)
        .max_by_key(|s| rank(*s))
        .unwrap_or(MaterialStatus::Provided)
}
