//! Stage 4, decode: prefix → base45 → [zlib] → COSE → claims, bounded before parsing. Nothing
//! is trusted yet; a failure here is a malformed code (400).

use wire::code::{DecodedCode, Verifier};

use crate::error::Failure;

pub fn code(verifier: &Verifier, text: &str) -> Result<DecodedCode, Failure> {
    verifier.decode(text).map_err(Failure::CodeMalformed)
}
