//! What is wrong with a configuration file the operator wrote (the catalogue's files, the
//! rollout plan): each [`Problem`] names the file, the entry at fault and what is wrong, and a
//! [`LoadError`] lists every problem found at once, one a line — so one edit fixes them all.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong: the file, the entry at fault (if the problem is not about the file as a
/// whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// e.g. ``scenario `car-rental` ``, or ``scenario #3`` when the entry has no usable id.
    pub entry: Option<String>,
    pub message: String,
}

impl Problem {
    /// Something wrong with `file` as a whole.
    pub fn in_file(file: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_string(),
            entry: None,
            message: message.into(),
        }
    }

    /// Something wrong with one `entry` of `file`.
    pub fn at_entry(file: &str, entry: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_string(),
            entry: Some(entry.to_string()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(entry) => write!(f, "{}: {}: {}", self.file, entry, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Why a file (or a set of files) could not be loaded. A bad file is the operator's fault: fix
/// it and reload (a running gateway keeps what it had).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("could not read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The files were read but are not valid; every problem found is listed, one a line.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

impl LoadError {
    /// The problems found, empty for [`LoadError::Read`].
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Read { .. } => &[],
            LoadError::Invalid(problems) => problems,
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// toml's messages may span lines; a problem is one line.
pub(crate) fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

/// A TOML syntax error as one line, with where it is: `line 3, column 7: …`.
pub(crate) fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    let at = e
        .span()
        .map(|s| {
            let (line, col) = line_col(text, s.start);
            format!("line {line}, column {col}: ")
        })
        .unwrap_or_default();
    format!("{at}{}", one_line(e.message()))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(one_line("a\n\n  b  \n"), "a; b");
    }
}
