//! The service items' checks: each item's materials name known certificates that admit its
//! applicant, each material's form fields are its certificate's fields, and no form field is
//! filled twice over or also written by the applicant.

use std::collections::{HashMap, HashSet};

use super::{first_wins, holder_fits, holder_name, is_field_name, is_slug, Problems, Source};
use crate::catalogue::model::{CertificateType, ServiceItem, Supply, HOLDER_NAME};

pub(super) fn check(
    problems: &mut Problems,
    src: &Source<'_>,
    items: &[ServiceItem],
    certificates: &[CertificateType],
) {
    // A duplicated code is reported by the certificates' checks; the first one counts here.
    let certificates = first_wins(certificates, |c| &c.code);
    let mut numbers = HashSet::new();
    for item in items {
        let entry = format!("item `{}`", item.no);
        let mut report = |message: String| problems.entry(src, &entry, message);
        if !numbers.insert(item.no) {
            report("duplicate item number".into());
        }
        if item.department_zh.trim().is_empty() {
            report("`department_zh` is empty".into());
        }
        if !is_slug(&item.department) {
            report(format!(
                "`department` `{}` is not a lowercase slug",
                item.department
            ));
        }
        if item.illegible {
            if !item.materials.is_empty() || !item.applicant_fields.is_empty() {
                report("an illegible item cannot list materials or form fields".into());
            }
            continue;
        }
        if item.name_zh.trim().is_empty() {
            report(
                "`name_zh` is empty (set `illegible = true` if the source cannot be read)".into(),
            );
        }
        let Some(applicant) = item.applicant else {
            report("`applicant` is missing (\"person\" or \"organisation\")".into());
            continue;
        };
        let mut materials = HashSet::new();
        // Form field → the material that fills it (the first, if several claim it).
        let mut filled: HashMap<&str, &str> = HashMap::new();
        for (i, material) in item.materials.iter().enumerate() {
            let at = format!("material {} (`{}`)", i + 1, material.id());
            if !materials.insert(material.id()) {
                report(format!("{at}: listed twice"));
            }
            match &material.supply {
                Supply::Certificate(code) => {
                    let Some(cert) = certificates.get(code.as_str()) else {
                        report(format!("{at}: unknown certificate `{code}`"));
                        continue;
                    };
                    if !holder_fits(applicant, cert.holder) {
                        report(format!(
                            "{at}: the item's applicant is `{}`, but `{code}` is held by {}",
                            applicant.as_str(),
                            holder_name(cert.holder)
                        ));
                    }
                    for field in &material.fields {
                        let known =
                            field == HOLDER_NAME || cert.fields.iter().any(|f| &f.name == field);
                        if !known {
                            report(format!(
                                "{at}: `{field}` is not a field of `{code}` (nor `{HOLDER_NAME}`)"
                            ));
                        } else if let Some(other) = filled.insert(field, material.id()) {
                            if other == material.id() {
                                report(format!("{at}: field `{field}` is listed twice"));
                            }
                            // Two certificates that both fill a field (the holder's name) fill
                            // one field of the form: the first provided wins.
                            filled.insert(field, other);
                        }
                    }
                }
                Supply::Paper { id, name_zh } => {
                    if !is_slug(id) {
                        report(format!("{at}: paper id `{id}` is not a lowercase slug"));
                    }
                    if name_zh.trim().is_empty() {
                        report(format!("{at}: `name_zh` is empty"));
                    }
                }
            }
        }
        let mut written = HashSet::new();
        for field in &item.applicant_fields {
            if !is_field_name(field) {
                report(format!(
                    "applicant field `{field}` is not a snake_case name"
                ));
            } else if !written.insert(field.as_str()) {
                report(format!("applicant field `{field}` is listed twice"));
            } else if let Some(material) = filled.get(field.as_str()) {
                report(format!(
                    "applicant field `{field}` is already filled by material `{material}`"
                ));
            }
        }
    }
}
