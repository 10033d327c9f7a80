//! The layers around the COSE message: our prefix, base45 and optional zlib.
//!
//! Each step is a separate function so the conformance test can check them one by one, the way
//! the EU DCC test data states its expectations.

use flate2::{Decompress, FlushDecompress, Status};

use super::base45;
use super::error::CodeError;

/// Size bounds applied before any parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest code text accepted, in bytes (prefix included).
    pub max_text: usize,
    /// Largest COSE message accepted after decompression, in bytes.
    pub max_cose: usize,
    /// Deepest CBOR nesting accepted.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        // A QR code holds at most 4296 alphanumeric characters; our codes are ~250.
        Limits {
            max_text: 4296,
            max_cose: 8192,
            max_depth: 16,
        }
    }
}

/// Removes `prefix` (e.g. `MZ1:`), which must be there exactly.
pub fn unprefix<'a>(text: &'a str, prefix: &str) -> Result<&'a str, CodeError> {
    text.strip_prefix(prefix)
        .ok_or_else(|| CodeError::BadPrefix {
            expected: prefix.to_string(),
        })
}

/// Whether `bytes` start with a zlib header (deflate, any window size, valid check bits).
/// A COSE message never does: it starts with a tag or an array, never a text string.
pub fn is_zlib(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => cmf & 0x0F == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Inflates a complete zlib stream (header, deflate data, Adler-32 trailer, nothing after it)
/// into at most `max` bytes.
pub fn inflate(bytes: &[u8], max: usize) -> Result<Vec<u8>, CodeError> {
    if !is_zlib(bytes) {
        return Err(CodeError::Compression("no zlib header".into()));
    }
    // One call with room for one byte more than allowed: filling that byte means "too large",
    // anything short of the stream's end with room left means the input was truncated.
    let mut out = Vec::with_capacity(max + 1);
    let mut z = Decompress::new(true);
    let status = z
        .decompress_vec(bytes, &mut out, FlushDecompress::Finish)
        .map_err(|e| CodeError::Compression(e.to_string()))?;
    if out.len() > max {
        return Err(CodeError::DecompressedTooLarge { max });
    }
    if status != Status::StreamEnd {
        return Err(CodeError::Compression("truncated zlib stream".into()));
    }
    if (z.total_in() as usize) != bytes.len() {
        return Err(CodeError::Compression(format!(
            "{} bytes after the end of the zlib stream",
            bytes.len() - z.total_in() as usize
        )));
    }
    Ok(out)
}

/// Deflates `bytes` into a zlib stream.
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Peels the text layers: bound the size, remove the prefix, decode base45, inflate when the
/// bytes are zlib. Returns the COSE message bytes.
pub fn open(text: &str, prefix: &str, limits: &Limits) -> Result<Vec<u8>, CodeError> {
    if text.len() > limits.max_text {
        return Err(CodeError::TooLarge {
            len: text.len(),
            max: limits.max_text,
        });
    }
    let bytes = base45::decode(unprefix(text, prefix)?)?;
    if is_zlib(&bytes) {
        inflate(&bytes, limits.max_cose)
    } else if bytes.len() > limits.max_cose {
        Err(CodeError::TooLarge {
            len: bytes.len(),
            max: limits.max_cose,
        })
    } else {
        Ok(bytes)
    }
}

/// Wraps COSE bytes as code text: optional zlib, base45, prefix.
pub fn seal(cose: &[u8], prefix: &str, compress: bool) -> String {
    let body = if compress {
        base45::encode(&deflate(cose))
    } else {
        base45::encode(cose)
    };
    let mut text = String::with_capacity(prefix.len() + body.len());
    text.push_str(prefix);
    text.push_str(&body);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflate_round_trips_and_bounds_output() {
        let data = vec![b'x'; 10_000];
        let z = deflate(&data);
        assert_eq!(inflate(&z, 10_000).expect("fits"), data);
        assert_eq!(
            inflate(&z, 9_999),
            Err(CodeError::DecompressedTooLarge { max: 9_999 })
        );
    }

    #[test]
    fn inflate_rejects_truncation_trailing_bytes_and_corruption() {
        let z = deflate(b"hello hello hello hello");
        assert_eq!(
            inflate(&z[..z.len() - 1], 100).map_err(|e| e.code()),
            Err("code.bad_compression")
        );
        let mut trailing = z.clone();
        trailing.push(0);
        assert_eq!(
            inflate(&trailing, 100).map_err(|e| e.code()),
            Err("code.bad_compression")
        );
        let mut corrupt = z.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1; // Adler-32 trailer
        assert_eq!(
            inflate(&corrupt, 100).map_err(|e| e.code()),
            Err("code.bad_compression")
        );
        assert_eq!(
            inflate(b"\xd2\x84", 100).map_err(|e| e.code()),
            Err("code.bad_compression")
        );
    }

    #[test]
    fn open_bounds_size_before_parsing() {
        let limits = Limits {
            max_text: 10,
            ..Limits::default()
        };
        assert_eq!(
            open("MZ1:0123456789", "MZ1:", &limits),
            Err(CodeError::TooLarge { len: 14, max: 10 })
        );
        assert_eq!(
            open("HC1:BB8", "MZ1:", &Limits::default()).map_err(|e| e.code()),
            Err("code.bad_prefix")
        );
    }
}
