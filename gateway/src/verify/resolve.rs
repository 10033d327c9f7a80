//! Stage 6, resolve: each requirement of the scenario → its certificate type → the department
//! backend that answers for this holder (the province's, or the holder's city's for city-level
//! data: "谁制发、谁核验").

use wire::catalogue::model::{Backend, CertificateType, Requirement, Scenario};
use wire::catalogue::{Catalogue, RouteError};
use wire::code::HolderClaims;

use crate::error::Failure;

/// One requirement with where to ask about it.
#[derive(Debug, Clone, Copy)]
pub struct Planned<'c> {
    pub requirement: &'c Requirement,
    pub certificate: &'c CertificateType,
    pub backend: &'c Backend,
}

pub fn plan<'c>(
    catalogue: &'c Catalogue,
    scenario: &'c Scenario,
    holder: &HolderClaims,
) -> Result<Vec<Planned<'c>>, Failure> {
    scenario
        .requirements
        .iter()
        .map(|requirement| {
            let certificate = catalogue
                .certificate(&requirement.certificate)
                .ok_or_else(|| {
                    Failure::Internal(format!("catalogue lost `{}`", requirement.certificate))
                })?;
            let backend = catalogue
                .backend_for(&requirement.certificate, holder.city)
                .map_err(|e| match e {
                    RouteError::NoHolderCity { .. }
                    | RouteError::UnknownCity(_)
                    | RouteError::NoCityBackend { .. } => {
                        Failure::NoHolderCity(requirement.certificate.clone())
                    }
                    other => Failure::Internal(other.to_string()),
                })?;
            Ok(Planned {
                requirement,
                certificate,
                backend,
            })
        })
        .collect()
}
