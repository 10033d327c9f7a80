//! Identifier validators: the resident ID number (GB 11643-1999), the unified social credit code
//! (GB 32100-2015) and the national e-licence identifier (GB/T 36904), each with its check
//! character.
//!
//! The gateway parses identifiers it receives (from codes, records and configuration) with the
//! `parse_*` functions; the issuer, which mints synthetic holders and records, builds valid ones
//! with the `*_check_char` functions and the `build` constructors. Everything here is a pure
//! function of its input: no allocation beyond the parsed result, no clock, no I/O.

use std::fmt;

use chrono::NaiveDate;

/// Why an identifier was refused. Each variant has a stable machine code ([`IdentError::code`])
/// that API responses and metrics use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    /// Too short or too long (for the whole identifier or one of its fields).
    #[error("expected {expected} characters, found {found}")]
    BadLength { expected: usize, found: usize },
    /// A character outside the alphabet allowed at this position (positions count from 1).
    #[error("character `{found}` at position {position} is not allowed there")]
    BadChar { position: usize, found: char },
    /// The check character does not match the others.
    #[error("check character is `{found}`, expected `{expected}`")]
    BadCheck { expected: char, found: char },
    /// The birth date of a resident ID number is not a calendar date.
    #[error("`{0}` is not a calendar date")]
    BadDate(String),
    /// An e-licence identifier does not start with the national arc `1.2.156.3005.2.`.
    #[error("e-licence identifier does not start with `{LICENCE_ID_PREFIX}`")]
    BadPrefix,
    /// An e-licence identifier does not have its five dot-separated fields after the prefix.
    #[error("e-licence identifier has {found} fields after the prefix, expected 5")]
    BadFieldCount { found: usize },
    /// One field of an e-licence identifier is malformed; `source` says how.
    #[error("{field}: {source}")]
    BadField {
        field: LicenceField,
        source: Box<IdentError>,
    },
}

impl IdentError {
    /// The stable machine code of this failure, e.g. `ident.bad_check`. For a malformed field of
    /// an e-licence identifier, the code of the underlying failure.
    pub fn code(&self) -> &'static str {
        match self {
            IdentError::BadLength { .. } => "ident.bad_length",
            IdentError::BadChar { .. } => "ident.bad_char",
            IdentError::BadCheck { .. } => "ident.bad_check",
            IdentError::BadDate(_) => "ident.bad_date",
            IdentError::BadPrefix => "ident.bad_prefix",
            IdentError::BadFieldCount { .. } => "ident.bad_field_count",
            IdentError::BadField { source, .. } => source.code(),
        }
    }

    /// The innermost failure, looking through [`IdentError::BadField`].
    pub fn root(&self) -> &IdentError {
        match self {
            IdentError::BadField { source, .. } => source.root(),
            other => other,
        }
    }

    fn in_field(self, field: LicenceField) -> IdentError {
        IdentError::BadField {
            field,
            source: Box::new(self),
        }
    }
}

fn check_length(s: &str, expected: usize) -> Result<(), IdentError> {
    let found = s.chars().count();
    if found == expected {
        Ok(())
    } else {
        Err(IdentError::BadLength { expected, found })
    }
}

fn bad_char(s: &str, index: usize) -> IdentError {
    IdentError::BadChar {
        position: index + 1,
        found: s[index..].chars().next().unwrap_or('\u{FFFD}'),
    }
}

// ---------------------------------------------------------------------------------------------
// Resident ID number (GB 11643-1999)
// ---------------------------------------------------------------------------------------------

/// Sex as encoded by the sequence number of a resident ID number (odd: male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

/// A resident ID number that passed [`parse_resident_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResidentId {
    /// GB/T 2260 administrative division code of the place of first registration.
    pub region: u32,
    pub birth_date: NaiveDate,
    /// Sequence number among people of the same region and birth date, `0..=999`.
    pub sequence: u16,
    pub sex: Sex,
    /// The check character, `0`–`9` or `X`.
    pub check: char,
}

impl ResidentId {
    /// Builds a valid 18-character resident ID number, computing its check character.
    ///
    /// Fails with [`IdentError::BadLength`] when `region` is not six digits or `sequence` is
    /// over 999, and with [`IdentError::BadDate`] when the year does not fit in four digits.
    pub fn build(region: u32, birth_date: NaiveDate, sequence: u16) -> Result<String, IdentError> {
        let region_s = region.to_string();
        check_length(&region_s, 6)?;
        let seq_s = format!("{sequence:03}");
        check_length(&seq_s, 3)?;
        let date_s = birth_date.format("%Y%m%d").to_string();
        if date_s.len() != 8 {
            return Err(IdentError::BadDate(birth_date.to_string()));
        }
        let mut id = format!("{region_s}{date_s}{seq_s}");
        id.push(resident_id_check_char(&id));
        Ok(id)
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "male",
            Sex::Female => "female",
        })
    }
}

/// ISO 7064 MOD 11-2 weights of the first 17 positions: 2^(17-i) mod 11.
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RESIDENT_ID_CHECKS: [u8; 11] = *b"10X98765432";

/// The check character (`0`–`9` or `X`) of a resident ID number from its first 17 digits
/// (ISO 7064 MOD 11-2).
///
/// # Panics
/// If `first17` is not exactly 17 ASCII digits: callers build it themselves, so anything else is
/// a bug. Use [`parse_resident_id`] for input from outside.
pub fn resident_id_check_char(first17: &str) -> char {
    let b = first17.as_bytes();
    assert!(
        b.len() == 17 && b.iter().all(u8::is_ascii_digit),
        "resident ID body must be 17 ASCII digits, got `{first17}`"
    );
    let sum: u32 = b
        .iter()
        .zip(RESIDENT_ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    char::from(RESIDENT_ID_CHECKS[(sum % 11) as usize])
}

/// Parses and checks an 18-character resident ID number: 17 digits (region, birth date,
/// sequence) and a check character `0`–`9` or upper-case `X`.
pub fn parse_resident_id(s: &str) -> Result<ResidentId, IdentError> {
    check_length(s, 18)?;
    let b = s.as_bytes(); // 18 chars and (checked below) ASCII, so byte indices are positions
    if let Some(i) = b[..17].iter().position(|c| !c.is_ascii_digit()) {
        return Err(bad_char(s, i));
    }
    if !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(bad_char(s, 17));
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let region = num(0..6);
    let (year, month, day) = (num(6..10), num(10..12), num(12..14));
    let birth_date = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
        .ok_or_else(|| IdentError::BadDate(s[6..14].to_string()))?;
    let sequence = num(14..17) as u16;
    let expected = resident_id_check_char(&s[..17]);
    let found = char::from(b[17]);
    if found != expected {
        return Err(IdentError::BadCheck { expected, found });
    }
    Ok(ResidentId {
        region,
        birth_date,
        sequence,
        sex: if sequence % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        },
        check: found,
    })
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code (GB 32100-2015)
// ---------------------------------------------------------------------------------------------

/// The 31 characters a unified social credit code may use (no I, O, S, V, Z).
pub const CREDIT_CODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights 3^i mod 31 of positions 1..=17.
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn credit_code_value(c: u8) -> Option<u32> {
    CREDIT_CODE_ALPHABET
        .as_bytes()
        .iter()
        .position(|&a| a == c)
        .map(|v| v as u32)
}

/// A unified social credit code that passed [`parse_credit_code`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

impl CreditCode {
    /// The whole 18-character code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Position 1: the registration authority (`1` organ establishment, `5` civil affairs,
    /// `9` market regulation...).
    pub fn registration_authority(&self) -> char {
        char::from(self.0.as_bytes()[0])
    }
    /// Position 2: the kind of organisation within that authority.
    pub fn organisation_kind(&self) -> char {
        char::from(self.0.as_bytes()[1])
    }
    /// Positions 3–8: the administrative division code of the registering office.
    pub fn region(&self) -> &str {
        &self.0[2..8]
    }
    /// Positions 9–17: the organisation code.
    pub fn organisation_code(&self) -> &str {
        &self.0[8..17]
    }
    /// Position 18: the check character.
    pub fn check(&self) -> char {
        char::from(self.0.as_bytes()[17])
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The check character of a unified social credit code from its first 17 characters.
///
/// # Panics
/// If `first17` is not exactly 17 characters of [`CREDIT_CODE_ALPHABET`]; use
/// [`parse_credit_code`] for input from outside.
pub fn credit_code_check_char(first17: &str) -> char {
    let b = first17.as_bytes();
    assert!(
        b.len() == 17 && b.iter().all(|&c| credit_code_value(c).is_some()),
        "credit code body must be 17 characters of the GB 32100 alphabet, got `{first17}`"
    );
    credit_code_check_of(b)
}

fn credit_code_check_of(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(CREDIT_CODE_WEIGHTS)
        .map(|(&c, w)| credit_code_value(c).unwrap_or(0) * w)
        .sum();
    // 31 - 0 = 31 is not a character of the alphabet: the standard maps it to `0`.
    let check = (31 - sum % 31) % 31;
    char::from(CREDIT_CODE_ALPHABET.as_bytes()[check as usize])
}

/// Parses and checks an 18-character unified social credit code (upper case only).
pub fn parse_credit_code(s: &str) -> Result<CreditCode, IdentError> {
    check_length(s, 18)?;
    let b = s.as_bytes();
    if let Some(i) = b.iter().position(|&c| credit_code_value(c).is_none()) {
        return Err(bad_char(s, i));
    }
    let expected = credit_code_check_of(&b[..17]);
    let found = char::from(b[17]);
    if found != expected {
        return Err(IdentError::BadCheck { expected, found });
    }
    Ok(CreditCode(s.to_string()))
}

// ---------------------------------------------------------------------------------------------
// National e-licence identifier (GB/T 36904)
// ---------------------------------------------------------------------------------------------

/// The object identifier arc every national e-licence identifier starts with.
pub const LICENCE_ID_PREFIX: &str = "1.2.156.3005.2.";

/// The fields of an e-licence identifier, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenceField {
    TypeCode,
    UnitCreditCode,
    Number,
    Version,
    Check,
}

impl fmt::Display for LicenceField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LicenceField::TypeCode => "certificate type code",
            LicenceField::UnitCreditCode => "issuing unit credit code",
            LicenceField::Number => "licence number",
            LicenceField::Version => "version",
            LicenceField::Check => "check character",
        })
    }
}

/// A certificate type code of GB/T 36904: the credit code of the national authority that
/// defines the type (18) followed by a 3-digit sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LicenceTypeCode {
    pub authority: CreditCode,
    pub sequence: u16,
}

impl fmt::Display for LicenceTypeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:03}", self.authority, self.sequence)
    }
}

/// Parses a 21-character certificate type code: a valid credit code and three digits.
pub fn parse_licence_type_code(s: &str) -> Result<LicenceTypeCode, IdentError> {
    check_length(s, 21)?;
    if !s.is_ascii() {
        let i = s.bytes().position(|c| !c.is_ascii()).unwrap_or(0);
        return Err(bad_char(s, i));
    }
    let authority = parse_credit_code(&s[..18])?;
    let seq = &s[18..];
    if let Some(i) = seq.bytes().position(|c| !c.is_ascii_digit()) {
        return Err(bad_char(s, 18 + i));
    }
    let sequence = seq.parse().map_err(|_| bad_char(s, 18))?;
    Ok(LicenceTypeCode {
        authority,
        sequence,
    })
}

/// ISO 7064 MOD 37,36 (hybrid system, alphabet `0-9A-Z`): the check character that makes
/// `chars` + check valid. `chars` must be upper-case alphanumeric ASCII.
fn mod37_36_check(chars: impl Iterator<Item = u8>) -> char {
    const M: u32 = 36;
    let mut p = M;
    for c in chars {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            _ => u32::from(c - b'A') + 10,
        };
        let mut s = (p + v) % M;
        if s == 0 {
            s = M;
        }
        p = (s * 2) % (M + 1);
    }
    let check = (M + 1 - p) % M;
    char::from(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[check as usize])
}

fn is_upper_alnum(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

/// A national e-licence identifier that passed [`LicenceId::parse`]:
/// `1.2.156.3005.2.<type code>.<unit credit code>.<number>.<version>.<check>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LicenceId {
    pub type_code: LicenceTypeCode,
    /// The issuing unit (the department at the level that issued the licence).
    pub unit_credit_code: CreditCode,
    /// The licence's number within its type and unit, `[0-9A-Z]+`.
    pub number: String,
    /// Version of the licence, `0..=999` (3 digits in the identifier).
    pub version: u16,
    /// ISO 7064 MOD 37,36 over type code + unit credit code + number + version.
    pub check: char,
}

impl LicenceId {
    /// Parses and checks an e-licence identifier, including the credit codes embedded in it.
    pub fn parse(s: &str) -> Result<LicenceId, IdentError> {
        let rest = s
            .strip_prefix(LICENCE_ID_PREFIX)
            .ok_or(IdentError::BadPrefix)?;
        let parts: Vec<&str> = rest.split('.').collect();
        let [type_code, unit, number, version, check] = parts[..] else {
            return Err(IdentError::BadFieldCount { found: parts.len() });
        };
        let type_code =
            parse_licence_type_code(type_code).map_err(|e| e.in_field(LicenceField::TypeCode))?;
        let unit_credit_code =
            parse_credit_code(unit).map_err(|e| e.in_field(LicenceField::UnitCreditCode))?;
        check_number(number).map_err(|e| e.in_field(LicenceField::Number))?;
        let version_n = parse_version(version).map_err(|e| e.in_field(LicenceField::Version))?;
        check_length(check, 1).map_err(|e| e.in_field(LicenceField::Check))?;
        let found = check.as_bytes()[0];
        if !is_upper_alnum(found) {
            return Err(bad_char(check, 0).in_field(LicenceField::Check));
        }
        let expected = mod37_36_check(
            [&type_code.to_string(), unit, number, version]
                .iter()
                .flat_map(|p| p.bytes()),
        );
        let found = char::from(found);
        if found != expected {
            return Err(IdentError::BadCheck { expected, found }.in_field(LicenceField::Check));
        }
        Ok(LicenceId {
            type_code,
            unit_credit_code,
            number: number.to_string(),
            version: version_n,
            check: found,
        })
    }

    /// Builds a valid e-licence identifier from its parts, computing the check character.
    /// Every part is validated as [`LicenceId::parse`] would.
    pub fn build(
        type_code: &str,
        unit_credit_code: &str,
        number: &str,
        version: u16,
    ) -> Result<String, IdentError> {
        parse_licence_type_code(type_code).map_err(|e| e.in_field(LicenceField::TypeCode))?;
        parse_credit_code(unit_credit_code)
            .map_err(|e| e.in_field(LicenceField::UnitCreditCode))?;
        check_number(number).map_err(|e| e.in_field(LicenceField::Number))?;
        let version = format!("{version:03}");
        check_length(&version, 3).map_err(|e| e.in_field(LicenceField::Version))?;
        let check = mod37_36_check(
            [type_code, unit_credit_code, number, &version]
                .iter()
                .flat_map(|p| p.bytes()),
        );
        Ok(format!(
            "{LICENCE_ID_PREFIX}{type_code}.{unit_credit_code}.{number}.{version}.{check}"
        ))
    }
}

impl fmt::Display for LicenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LICENCE_ID_PREFIX}{}.{}.{}.{:03}.{}",
            self.type_code, self.unit_credit_code, self.number, self.version, self.check
        )
    }
}

fn check_number(number: &str) -> Result<(), IdentError> {
    if number.is_empty() {
        return Err(IdentError::BadLength {
            expected: 1,
            found: 0,
        });
    }
    match number.bytes().position(|c| !is_upper_alnum(c)) {
        Some(i) => Err(bad_char(number, i)),
        None => Ok(()),
    }
}

fn parse_version(version: &str) -> Result<u16, IdentError> {
    check_length(version, 3)?;
    if let Some(i) = version.bytes().position(|c| !c.is_ascii_digit()) {
        return Err(bad_char(version, i));
    }
    version.parse().map_err(|_| bad_char(version, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    #[test]
    fn resident_id_standard_example() {
        // GB 11643-1999's own example.
        let id = parse_resident_id("11010519491231002X").expect("valid");
        assert_eq!(id.region, 110105);
        assert_eq!(id.birth_date, date(1949, 12, 31));
        assert_eq!(id.sequence, 2);
        assert_eq!(id.sex, Sex::Female);
        assert_eq!(id.check, 'X');
        assert_eq!(resident_id_check_char("11010519491231002"), 'X');
    }

    #[test]
    fn resident_id_second_example() {
        let id = parse_resident_id("440524188001010014").expect("valid");
        assert_eq!(id.region, 440524);
        assert_eq!(id.birth_date, date(1880, 1, 1));
        assert_eq!(id.sex, Sex::Male);
        assert_eq!(resident_id_check_char("44052418800101001"), '4');
    }

    #[test]
    fn resident_id_build_round_trips() {
        let id = ResidentId::build(370102, date(1960, 2, 29), 123).expect("build");
        let parsed = parse_resident_id(&id).expect("valid");
        assert_eq!(parsed.birth_date, date(1960, 2, 29));
        assert_eq!(parsed.sequence, 123);
        assert_eq!(parsed.sex, Sex::Male);
        assert_eq!(
            ResidentId::build(37010, date(1960, 1, 1), 1).map_err(|e| e.code()),
            Err("ident.bad_length")
        );
        assert_eq!(
            ResidentId::build(370102, date(1960, 1, 1), 1000).map_err(|e| e.code()),
            Err("ident.bad_length")
        );
    }

    #[test]
    fn resident_id_failures() {
        let code = |s: &str| parse_resident_id(s).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code("11010519491231002"), Err("ident.bad_length"));
        assert_eq!(code("11010519491231002X0"), Err("ident.bad_length"));
        assert_eq!(code("11010519491231002x"), Err("ident.bad_char"));
        assert_eq!(code("1101051949123100AX"), Err("ident.bad_char"));
        assert_eq!(code("1101051949123100２X"), Err("ident.bad_char"));
        assert_eq!(code("110105194912310021"), Err("ident.bad_check"));
        assert_eq!(code("11010519491231003X"), Err("ident.bad_check"));
        assert_eq!(code("440524188001010015"), Err("ident.bad_check"));
        assert_eq!(code("210105194912310020"), Err("ident.bad_check"));
        // Not calendar dates; the check character is right, so only the date can fail.
        for body in [
            "11010519490229002",
            "11010519491301002",
            "11010519491200002",
        ] {
            let id = format!("{body}{}", resident_id_check_char(body));
            assert_eq!(code(&id), Err("ident.bad_date"), "{id}");
        }
        assert_eq!(
            parse_resident_id("11010519491231002Y"),
            Err(IdentError::BadChar {
                position: 18,
                found: 'Y'
            })
        );
    }

    #[test]
    fn credit_code_real_examples() {
        for s in [
            "91350100M000100Y43",
            "91110000600037341L",
            "11100000000013338W",
            "11220000013544541J",
        ] {
            let c = parse_credit_code(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(c.as_str(), s);
            assert_eq!(credit_code_check_char(&s[..17]), c.check());
        }
        let c = parse_credit_code("91350100M000100Y43").expect("valid");
        assert_eq!(c.registration_authority(), '9');
        assert_eq!(c.organisation_kind(), '1');
        assert_eq!(c.region(), "350100");
        assert_eq!(c.organisation_code(), "M000100Y4");
    }

    #[test]
    fn credit_code_check_31_maps_to_zero() {
        // Search a body whose weighted sum is 0 mod 31: its check must be `0`.
        let body = (0..31u32)
            .map(|d| {
                format!(
                    "9137010000000000{}",
                    CREDIT_CODE_ALPHABET.as_bytes()[d as usize] as char
                )
            })
            .find(|b| {
                b.bytes()
                    .zip(CREDIT_CODE_WEIGHTS)
                    .map(|(c, w)| credit_code_value(c).unwrap_or(0) * w)
                    .sum::<u32>()
                    % 31
                    == 0
            })
            .expect("one of 31 last characters zeroes the sum");
        assert_eq!(credit_code_check_char(&body), '0');
        assert!(parse_credit_code(&format!("{body}0")).is_ok());
    }

    #[test]
    fn credit_code_failures() {
        let code = |s: &str| parse_credit_code(s).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code("91350100M000100Y4"), Err("ident.bad_length"));
        assert_eq!(code("91350100M000100Y433"), Err("ident.bad_length"));
        assert_eq!(code("91350100I000100Y43"), Err("ident.bad_char"));
        assert_eq!(code("91350100m000100Y43"), Err("ident.bad_char"));
        assert_eq!(code("91350100M000100Y4Z"), Err("ident.bad_char"));
        assert_eq!(code("91350100M000100Y44"), Err("ident.bad_check"));
        assert_eq!(code("91110000600037341K"), Err("ident.bad_check"));
        assert_eq!(code("11100000000013383W"), Err("ident.bad_check"));
        assert_eq!(
            parse_credit_code("11220000013544541A"),
            Err(IdentError::BadCheck {
                expected: 'J',
                found: 'A'
            })
        );
    }

    const EXAMPLE: &str = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F";

    #[test]
    fn licence_id_real_example() {
        let id = LicenceId::parse(EXAMPLE).expect("valid");
        assert_eq!(id.type_code.authority.as_str(), "11100000000013338W");
        assert_eq!(id.type_code.sequence, 32);
        assert_eq!(id.unit_credit_code.as_str(), "11220000013544541J");
        assert_eq!(id.number, "2430599");
        assert_eq!(id.version, 1);
        assert_eq!(id.check, 'F');
        assert_eq!(id.to_string(), EXAMPLE);
        assert_eq!(
            LicenceId::build("11100000000013338W032", "11220000013544541J", "2430599", 1)
                .as_deref(),
            Ok(EXAMPLE)
        );
    }

    #[test]
    fn licence_id_any_changed_character_fails() {
        let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.";
        for (i, orig) in EXAMPLE.char_indices() {
            for c in alphabet.chars().filter(|&c| c != orig) {
                let mut s = EXAMPLE.to_string();
                s.replace_range(i..i + 1, c.encode_utf8(&mut [0; 4]));
                assert!(LicenceId::parse(&s).is_err(), "accepted {s}");
            }
        }
    }

    #[test]
    fn licence_id_failures() {
        let code = |s: &str| LicenceId::parse(s).map(|_| ()).map_err(|e| e.code());
        assert_eq!(
            code(&EXAMPLE.replace("3005", "3006")),
            Err("ident.bad_prefix")
        );
        assert_eq!(
            code(&EXAMPLE.replace(".001.", ".001")),
            Err("ident.bad_field_count")
        );
        assert_eq!(
            code(&EXAMPLE.replace("W032", "W32")),
            Err("ident.bad_length")
        );
        assert_eq!(
            code(&EXAMPLE.replace("338W", "338X")),
            Err("ident.bad_check")
        );
        assert_eq!(
            code(&EXAMPLE.replace("541J", "541K")),
            Err("ident.bad_check")
        );
        assert_eq!(
            code(&EXAMPLE.replace("2430599", "243059a")),
            Err("ident.bad_char")
        );
        assert_eq!(
            code(&EXAMPLE.replace("2430599", "")),
            Err("ident.bad_length")
        );
        assert_eq!(
            code(&EXAMPLE.replace(".001.", ".01.")),
            Err("ident.bad_length")
        );
        assert_eq!(code(&EXAMPLE.replace(".F", ".G")), Err("ident.bad_check"));
        assert_eq!(code(&EXAMPLE.replace(".F", ".f")), Err("ident.bad_char"));
        assert_eq!(code(&EXAMPLE.replace(".F", ".FF")), Err("ident.bad_length"));
        let err = LicenceId::parse(&EXAMPLE.replace("541J", "541K")).expect_err("bad unit");
        assert!(matches!(
            err,
            IdentError::BadField {
                field: LicenceField::UnitCreditCode,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "issuing unit credit code: check character is `K`, expected `J`"
        );
        assert_eq!(
            LicenceId::build("11100000000013338W032", "11220000013544541J", "24305", 1000)
                .map_err(|e| e.code()),
            Err("ident.bad_length")
        );
        assert_eq!(
            LicenceId::build("11100000000013338X032", "11220000013544541J", "24305", 1)
                .map_err(|e| e.code()),
            Err("ident.bad_check")
        );
    }

    #[test]
    fn licence_id_build_round_trips() {
        let id = LicenceId::build("11100000000013338W001", "91350100M000100Y43", "A7", 12)
            .expect("build");
        let parsed = LicenceId::parse(&id).expect("valid");
        assert_eq!(parsed.number, "A7");
        assert_eq!(parsed.version, 12);
        assert_eq!(parsed.to_string(), id);
    }
}
