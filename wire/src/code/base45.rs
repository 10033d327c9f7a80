//! Base45 (RFC 9285), decoded strictly.
//!
//! The `base45` crate accepts non-canonical groups such as `::` (a value over 255 for a final
//! pair, over 65535 for a triple) and wraps them silently, so two different texts decode to the
//! same bytes. A verifier must not accept that malleability; this decoder rejects every group
//! whose value does not fit, and every character outside the alphabet.

use super::error::CodeError;

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

const fn decode_table() -> [u8; 256] {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 45 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
}

static DECODE: [u8; 256] = decode_table();

/// Encodes `bytes` as base45.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(2) * 3);
    for chunk in bytes.chunks(2) {
        let mut n = chunk[0] as u32;
        let digits = if chunk.len() == 2 {
            n = n * 256 + chunk[1] as u32;
            3
        } else {
            2
        };
        for _ in 0..digits {
            out.push(ALPHABET[(n % 45) as usize] as char);
            n /= 45;
        }
    }
    out
}

/// Decodes base45 text, refusing foreign characters, a dangling last character and
/// non-canonical groups.
pub fn decode(text: &str) -> Result<Vec<u8>, CodeError> {
    let input = text.as_bytes();
    if input.len() % 3 == 1 {
        return Err(CodeError::Base45Length { len: input.len() });
    }
    let mut out = Vec::with_capacity(input.len() / 3 * 2 + 1);
    for (group, chunk) in input.chunks(3).enumerate() {
        let position = group * 3;
        let mut value = 0u32;
        let mut factor = 1u32;
        for (i, &b) in chunk.iter().enumerate() {
            let digit = DECODE[b as usize];
            if digit == 0xFF {
                let found = text[position + i..].chars().next().unwrap_or('?');
                return Err(CodeError::Base45Char {
                    position: position + i,
                    found,
                });
            }
            value += digit as u32 * factor;
            factor *= 45;
        }
        let max = if chunk.len() == 3 { 0xFFFF } else { 0xFF };
        if value > max {
            return Err(CodeError::Base45NonCanonical {
                position,
                value,
                max,
            });
        }
        if chunk.len() == 3 {
            out.extend_from_slice(&(value as u16).to_be_bytes());
        } else {
            out.push(value as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9285_examples() {
        // RFC 9285 section 4.
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode("QED8WEX0").expect("decodes"), b"ietf!");
        assert_eq!(decode("").expect("empty"), b"");
    }

    #[test]
    fn round_trips_every_byte() {
        let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..bytes.len() {
            assert_eq!(
                decode(&encode(&bytes[..len])).expect("round trip"),
                &bytes[..len]
            );
        }
    }

    #[test]
    fn rejects_non_canonical_groups() {
        // `::` is 44 + 44*45 = 2024 > 255: the base45 crate wraps it, we refuse it.
        assert_eq!(
            decode("::").map_err(|e| e.code()),
            Err("code.non_canonical_base45")
        );
        // `GGW` is 16 + 16*45 + 32*2025 = 65536 > 65535.
        assert_eq!(
            decode("GGW").map_err(|e| e.code()),
            Err("code.non_canonical_base45")
        );
        assert_eq!(decode("FGW").expect("65535 fits"), [0xFF, 0xFF]);
    }

    #[test]
    fn rejects_foreign_characters_and_dangling_tails() {
        assert_eq!(decode("BB8a"), Err(CodeError::Base45Length { len: 4 }));
        assert_eq!(
            decode("BBa"),
            Err(CodeError::Base45Char {
                position: 2,
                found: 'a'
            })
        );
        assert_eq!(
            decode("BB\u{e9}").map_err(|e| e.code()),
            Err("code.bad_base45")
        );
    }
}
