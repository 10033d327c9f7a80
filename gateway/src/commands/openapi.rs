//! `gateway openapi`: prints the API document ([`crate::openapi`]), the same bytes the admin
//! listener serves at `GET /openapi.json`; `docs/openapi.json` is made with it
//! ([`crate::openapi::REGENERATE`]).

use std::io::Write;

use anyhow::{Context as _, Result};

/// Writes the document to `out`.
pub fn print(out: &mut impl Write) -> Result<()> {
    out.write_all(crate::openapi::json().as_bytes())
        .context("writing the API document")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_document_the_admin_listener_serves() {
        let mut out = Vec::new();
        print(&mut out).expect("printed");
        assert_eq!(out, crate::openapi::json().as_bytes());
    }
}
