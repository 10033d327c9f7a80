//! `gateway catalogue check`: loads the catalogue (every file validated as the gateway does
//! at start) and reports the materials library's coverage of the 500 service items — items
//! without materials, materials without a certificate, form fields without a source — and
//! which certificate types nothing reaches. Exit 1 on an invalid catalogue or an unreached
//! certificate, so a review of `config/` can run it in CI.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use wire::catalogue::{Catalogue, Coverage};

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Consistent,
    Inconsistent,
}

/// Checks the catalogue in `dir` (the embedded one without it) and writes the report to `out`.
pub fn check(dir: Option<&Path>, out: &mut impl Write) -> Result<Checked> {
    let (catalogue, from) = match dir {
        Some(dir) => (Catalogue::load(dir), dir.display().to_string()),
        None => (
            Ok(Catalogue::embedded()),
            "the embedded catalogue".to_owned(),
        ),
    };
    let catalogue = match catalogue {
        Ok(catalogue) => catalogue,
        Err(error) => {
            writeln!(out, "catalogue {from}: invalid\n{error}").context("writing the report")?;
            return Ok(Checked::Inconsistent);
        }
    };
    let coverage = catalogue.coverage();
    report(&from, &coverage, out).context("writing the report")?;
    Ok(if coverage.is_consistent() {
        Checked::Consistent
    } else {
        Checked::Inconsistent
    })
}

fn report(from: &str, c: &Coverage, out: &mut impl Write) -> std::io::Result<()> {
    let percent = |part: usize, whole: usize| {
        if whole == 0 {
            "-".to_owned()
        } else {
            format!("{:.1} %", 100.0 * part as f64 / whole as f64)
        }
    };
    let legible = c.items - c.illegible;
    writeln!(out, "catalogue {from}: valid")?;
    writeln!(
        out,
        "service items      {} ({} illegible; of the {legible} legible: {} plan, {} assumed)",
        c.items, c.illegible, c.plan_items, c.assumed_items
    )?;
    writeln!(
        out,
        "  without materials  {}{}",
        c.items_without_materials.len(),
        list(c.items_without_materials.iter().map(|n| n.to_string()))
    )?;
    writeln!(out, "materials          {}", c.materials)?;
    let paper = c.materials_without_certificate.len();
    writeln!(
        out,
        "  by certificate     {} ({})",
        c.materials - paper,
        percent(c.materials - paper, c.materials)
    )?;
    writeln!(
        out,
        "  without certificate {paper} (presented on paper){}",
        list(
            c.materials_without_certificate
                .iter()
                .map(|(item, id)| format!("{item}:{id}"))
        )
    )?;
    writeln!(
        out,
        "  commitment allowed {} ({})",
        c.commitment_materials,
        percent(c.commitment_materials, c.materials)
    )?;
    writeln!(out, "form fields        {}", c.form_fields)?;
    writeln!(
        out,
        "  with a source      {} ({})",
        c.form_fields - c.fields_without_source,
        percent(c.form_fields - c.fields_without_source, c.form_fields)
    )?;
    writeln!(
        out,
        "  without a source   {} (written by the applicant)",
        c.fields_without_source
    )?;
    writeln!(
        out,
        "certificates       {} reached by a scenario, {} by a service item",
        c.reached_by_scenario.len(),
        c.reached_by_item.len()
    )?;
    if c.unreached.is_empty() {
        writeln!(out, "  unreached          none")?;
    } else {
        writeln!(
            out,
            "  unreached          {}{}\nerror: every certificate must be reached by a scenario or a service item",
            c.unreached.len(),
            list(c.unreached.iter().cloned())
        )?;
    }
    Ok(())
}

/// `: a, b, c` for up to ten items, `: a, b, … (n more)` beyond; nothing for none.
fn list(items: impl Iterator<Item = String>) -> String {
    const SHOWN: usize = 10;
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return String::new();
    }
    let mut text = format!(": {}", items[..items.len().min(SHOWN)].join(", "));
    if items.len() > SHOWN {
        text.push_str(&format!(", … ({} more)", items.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_catalogue_is_consistent() {
        let mut out = Vec::new();
        assert_eq!(check(None, &mut out).expect("checked"), Checked::Consistent);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("service items      500"), "{text}");
        assert!(text.contains("unreached          none"), "{text}");
    }

    #[test]
    fn an_invalid_library_is_reported_with_its_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        wire::catalogue::EMBEDDED
            .write_to(dir.path())
            .expect("copied");
        let items = dir.path().join(wire::catalogue::SERVICE_ITEMS_FILE);
        let text = std::fs::read_to_string(&items).expect("read");
        let broken = text.replacen(
            "certificate = \"resident-id-card\", fields = [\"holder_name\"",
            "certificate = \"resident-id-card\", fields = [\"shoe_size\"",
            1,
        );
        assert_ne!(broken, text, "the edit applies");
        std::fs::write(&items, broken).expect("write");
        let mut out = Vec::new();
        assert_eq!(
            check(Some(dir.path()), &mut out).expect("checked"),
            Checked::Inconsistent
        );
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains("`shoe_size` is not a field of `resident-id-card`"),
            "{text}"
        );
    }

    #[test]
    fn a_certificate_nothing_asks_for_fails_the_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        wire::catalogue::EMBEDDED
            .write_to(dir.path())
            .expect("copied");
        let items = dir.path().join(wire::catalogue::SERVICE_ITEMS_FILE);
        // A certificate type only service items ask for, taken out of every item.
        let coverage = Catalogue::embedded().coverage();
        let only_items = coverage
            .reached_by_item
            .difference(&coverage.reached_by_scenario)
            .next()
            .expect("a certificate only service items ask for")
            .clone();
        let text = std::fs::read_to_string(&items).expect("read");
        let material = format!("certificate = \"{only_items}\"");
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| !line.contains(&material))
            .collect();
        std::fs::write(&items, kept.join("\n")).expect("write");
        let mut out = Vec::new();
        assert_eq!(
            check(Some(dir.path()), &mut out).expect("checked"),
            Checked::Inconsistent
        );
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains(&only_items), "{text}");
        assert!(
            text.contains("error: every certificate must be reached"),
            "{text}"
        );
    }
}
