//! How far the materials library covers the service items, and what it leaves to paper:
//! what `gateway catalogue check` prints, and fails on where a certificate is reached by no
//! scenario and no service item.

use std::collections::BTreeSet;

use super::model::{MaterialsSource, Supply};
use super::Catalogue;

/// The materials library's coverage of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub items: usize,
    pub illegible: usize,
    /// Legible items by the source of their materials.
    pub plan_items: usize,
    pub assumed_items: usize,
    /// Legible items that list no material at all.
    pub items_without_materials: Vec<u32>,
    pub materials: usize,
    /// Materials no certificate supplies (presented on paper): (item, paper id).
    pub materials_without_certificate: Vec<(u32, String)>,
    /// Materials a commitment may replace.
    pub commitment_materials: usize,
    /// Fields over every item's form, each form's fields counted once.
    pub form_fields: usize,
    /// Of those, the fields no certificate fills (the applicant writes them).
    pub fields_without_source: usize,
    /// Certificate types some scenario requires.
    pub reached_by_scenario: BTreeSet<String>,
    /// Certificate types some service item's materials name.
    pub reached_by_item: BTreeSet<String>,
    /// Certificate types reached by neither: nothing can ever ask for them.
    pub unreached: Vec<String>,
}

impl Coverage {
    /// Whether the library is consistent enough to serve: every certificate is reachable.
    pub fn is_consistent(&self) -> bool {
        self.unreached.is_empty()
    }
}

impl Catalogue {
    /// The materials library's coverage (see [`Coverage`]).
    pub fn coverage(&self) -> Coverage {
        let mut c = Coverage {
            items: self.service_items().len(),
            illegible: 0,
            plan_items: 0,
            assumed_items: 0,
            items_without_materials: Vec::new(),
            materials: 0,
            materials_without_certificate: Vec::new(),
            commitment_materials: 0,
            form_fields: 0,
            fields_without_source: 0,
            reached_by_scenario: self
                .scenarios()
                .iter()
                .flat_map(|s| &s.requirements)
                .map(|r| r.certificate.clone())
                .collect(),
            reached_by_item: BTreeSet::new(),
            unreached: Vec::new(),
        };
        for item in self.service_items() {
            if item.illegible {
                c.illegible += 1;
                continue;
            }
            match item.source {
                MaterialsSource::Plan => c.plan_items += 1,
                MaterialsSource::Assumed => c.assumed_items += 1,
            }
            if item.materials.is_empty() {
                c.items_without_materials.push(item.no);
            }
            for material in &item.materials {
                c.materials += 1;
                c.commitment_materials += usize::from(material.commitment);
                match &material.supply {
                    Supply::Certificate(code) => {
                        c.reached_by_item.insert(code.clone());
                    }
                    Supply::Paper { id, .. } => {
                        c.materials_without_certificate.push((item.no, id.clone()))
                    }
                }
            }
            let form = item.form_fields();
            c.form_fields += form.len();
            c.fields_without_source += form
                .iter()
                .filter(|f| {
                    !item
                        .materials
                        .iter()
                        .any(|m| m.fields.iter().any(|g| g == *f))
                })
                .count();
        }
        c.unreached = self
            .certificates()
            .iter()
            .map(|t| &t.code)
            .filter(|code| {
                !c.reached_by_scenario.contains(*code) && !c.reached_by_item.contains(*code)
            })
            .cloned()
            .collect();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_library_reaches_every_certificate_and_every_legible_item_has_materials() {
        let c = Catalogue::embedded().coverage();
        assert_eq!(c.items, 500);
        assert_eq!(c.plan_items + c.assumed_items + c.illegible, 500);
        assert!(
            c.items_without_materials.is_empty(),
            "{:?}",
            c.items_without_materials
        );
        assert!(c.unreached.is_empty(), "unreached: {:?}", c.unreached);
        assert!(c.is_consistent());
        assert!(c.fields_without_source < c.form_fields);
    }
}
