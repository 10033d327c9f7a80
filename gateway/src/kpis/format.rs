//! The evaluation table as text: Markdown for people, CSV for spreadsheets, written to any
//! `impl Write`. The target columns are the plan's years, 2022, 2023 and 2025.

use std::io::{self, Write};

use wire::admin_api::{Evaluation, EvaluationRow, TargetCheck};

/// The plan's years, one column each.
pub const YEARS: [i32; 3] = [2022, 2023, 2025];

/// Which text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Markdown,
    Csv,
}

pub fn write(evaluation: &Evaluation, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Markdown => markdown(evaluation, out),
        Format::Csv => csv(evaluation, out),
    }
}

fn target_of(row: &EvaluationRow, year: i32) -> Option<&TargetCheck> {
    row.targets.iter().find(|t| t.year == year)
}

fn markdown(e: &Evaluation, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "# Targets measured from traffic, {} to {} (China time)",
        e.from, e.to
    )?;
    writeln!(out)?;
    let grouped = e.by.is_some();
    if let Some(by) = &e.by {
        write!(out, "| {by} ")?;
    }
    write!(out, "| metric | basis | numerator | denominator | value |")?;
    for year in YEARS {
        write!(out, " {year} |")?;
    }
    writeln!(out)?;
    if grouped {
        write!(out, "|---")?;
    }
    writeln!(out, "|---|---|---:|---:|---:|---|---|---|")?;
    for row in &e.rows {
        if grouped {
            write!(out, "| {} ", row.group.as_deref().unwrap_or("all"))?;
        }
        let value = row.value_text();
        write!(
            out,
            "| {} (`{}`) | {} | {} | {} | {} |",
            row.title, row.metric, row.basis, row.numerator, row.denominator, value
        )?;
        for year in YEARS {
            write!(out, " {} |", row.target_text(year))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn csv(e: &Evaluation, out: &mut impl Write) -> io::Result<()> {
    write!(
        out,
        "from,to,group,metric,basis,numerator,denominator,value,unit"
    )?;
    for year in YEARS {
        write!(out, ",target_{year},met_{year}")?;
    }
    writeln!(out)?;
    for row in &e.rows {
        let value = row.value.map_or_else(String::new, |v| {
            if row.unit == "count" {
                format!("{v:.0}")
            } else {
                format!("{v:.4}")
            }
        });
        write!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            e.from,
            e.to,
            row.group.as_deref().unwrap_or(""),
            row.metric,
            row.basis,
            row.numerator,
            row.denominator,
            value,
            row.unit
        )?;
        for year in YEARS {
            match target_of(row, year) {
                Some(t) => {
                    let met = t.met.map_or("", |m| if m { "yes" } else { "no" });
                    write!(out, ",{},{met}", t.target)?;
                }
                None => write!(out, ",,")?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}
