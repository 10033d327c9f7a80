//! Ed25519 verification: one rule for a signature checked alone and inside a batch, so that a
//! verdict never depends on which other codes arrived at the same moment.
//!
//! The rule (RFC 8032 §5.1.7 with the cofactored equation it allows, as Zcash's ZIP 215 chose
//! for the same reason):
//! - `S` is canonical (below the group order ℓ);
//! - `R` is a canonical encoding of a curve point that is not of small order;
//! - the key is a canonical encoding of a point in the prime-order subgroup (checked once, when
//!   the trust list is loaded: [`Ed25519Key::new`]);
//! - `[8]([S]B − [k]A − R)` is the identity, with `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//!
//! Why cofactored: a batch checks `[8]·Σ zᵢ([Sᵢ]B − [kᵢ]Aᵢ − Rᵢ)` with random 128-bit weights
//! `zᵢ`. Without the factor 8 an `R` with a small-order component, which only the key's holder
//! can make, passed the batch or not by chance (half the time for an order-2 component) while the
//! strict check alone always refused it; screening every `R` for such a component first costs a
//! full scalar multiplication per signature, as much as checking it alone. With the factor 8 the
//! small-order components drop out of both equations, so the batch holds exactly when every
//! signature's own equation does (but for a 2⁻¹²⁸ chance), at about 20 µs per signature in
//! batches against about 55 µs alone.
//!
//! What the rule accepts that `verify_strict` of ed25519-dalek refuses: an `R` with a
//! small-order component added, which needs the secret key to make (the hash `k` covers `R`).
//! Every Wycheproof vector keeps its verdict (`wire/tests/wycheproof.rs`).

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::traits::{IsIdentity as _, VartimeMultiscalarMul as _};
use curve25519_dalek::{EdwardsPoint, Scalar};
use rand::Rng as _;
use sha2::{Digest as _, Sha512};

/// A trusted Ed25519 public key, screened when loaded.
#[derive(Debug, Clone, Copy)]
pub struct Ed25519Key {
    /// The key as encoded (what the challenge hash covers).
    encoded: [u8; 32],
    point: EdwardsPoint,
    negated: EdwardsPoint,
}

impl Ed25519Key {
    /// The key, if it is a canonical encoding of a point in the prime-order subgroup: a key of
    /// small order verifies anything, and one with a small-order component would make the
    /// verdict depend on the batch weights.
    pub fn new(key: &ed25519_dalek::VerifyingKey) -> Result<Ed25519Key, &'static str> {
        let encoded = key.to_bytes();
        let point = key.to_edwards();
        if !is_canonical(&encoded) {
            return Err("a non-canonically encoded Ed25519 key");
        }
        if point.is_small_order() {
            return Err("a small-order Ed25519 key");
        }
        if !point.is_torsion_free() {
            return Err("an Ed25519 key outside the prime-order subgroup");
        }
        Ok(Ed25519Key {
            encoded,
            point,
            negated: -point,
        })
    }

    /// The key in ed25519-dalek's type (for encoding it).
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        ed25519_dalek::VerifyingKey::from_bytes(&self.encoded)
            .expect("a screened key decodes again")
    }

    /// Whether `signature` over `message` holds under the rule (module doc), checked alone.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.check(message.to_vec(), signature)
            .is_some_and(|check| check.verify())
    }

    /// The check of `signature` over `message`, to be made alone or in a batch; `None` when
    /// the signature is not 64 bytes.
    pub fn check(&self, message: Vec<u8>, signature: &[u8]) -> Option<Ed25519Check> {
        let signature: &[u8; 64] = signature.try_into().ok()?;
        let (r, s) = signature.split_at(32);
        Some(Ed25519Check {
            key: *self,
            message,
            r: r.try_into().expect("32 bytes"),
            s: s.try_into().expect("32 bytes"),
        })
    }
}

/// One Ed25519 signature check not yet made: a trusted key, the signed bytes, the signature.
/// Made alone with [`Ed25519Check::verify`], or with others with [`verify_ed25519_batch`]; both
/// give the same verdict.
#[derive(Debug, Clone)]
pub struct Ed25519Check {
    key: Ed25519Key,
    message: Vec<u8>,
    r: [u8; 32],
    s: [u8; 32],
}

/// A check's parts once decoded: `R`, `S` and the challenge `k`.
struct Equation {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Ed25519Check {
    /// The check alone.
    pub fn verify(&self) -> bool {
        self.equation().is_some_and(|eq| {
            let sb_minus_ka =
                EdwardsPoint::vartime_double_scalar_mul_basepoint(&eq.k, &self.key.negated, &eq.s);
            (sb_minus_ka - eq.r).mul_by_cofactor().is_identity()
        })
    }

    /// `R`, `S` and `k`, or `None` when an encoding breaks the rule (module doc): such a
    /// signature is refused alone and never joins a batch equation.
    fn equation(&self) -> Option<Equation> {
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(self.s))?;
        if !is_canonical(&self.r) {
            return None;
        }
        let r = CompressedEdwardsY(self.r).decompress()?;
        if r.is_small_order() {
            return None;
        }
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(self.r)
                .chain_update(self.key.encoded)
                .chain_update(&self.message),
        );
        Some(Equation { r, s, k })
    }
}

/// Whether a 32-byte point encoding is canonical: its y coordinate (the low 255 bits) below
/// p = 2²⁵⁵ − 19. (The other non-canonical encodings, x = 0 with the sign bit set, are of the
/// two small-order points with x = 0, refused as such.)
fn is_canonical(encoded: &[u8; 32]) -> bool {
    let top = encoded[31] & 0x7f;
    let middle_all_ones = encoded[1..31].iter().all(|&b| b == 0xff);
    !(top == 0x7f && middle_all_ones && encoded[0] >= 0xed)
}

/// The verdict of each check, in order: the verdict [`Ed25519Check::verify`] gives each alone.
///
/// One cofactored batch equation with random weights checks all the checks whose encodings
/// follow the rule; when it fails, the batch is halved and each half checked again, so one bad
/// signature among 64 costs about one more batch of 64 rather than 64 checks alone.
pub fn verify_ed25519_batch(checks: &[&Ed25519Check]) -> Vec<bool> {
    let equations: Vec<Option<Equation>> = checks.iter().map(|c| c.equation()).collect();
    let mut verdicts: Vec<bool> = equations.iter().map(Option::is_some).collect();
    let candidates: Vec<usize> = (0..checks.len()).filter(|&i| verdicts[i]).collect();
    let mut rng = rand::thread_rng();
    let mut holds = |indices: &[usize]| -> bool {
        match indices {
            [] => true,
            [one] => checks[*one].verify(),
            _ => batch_holds(indices.iter().map(|&i| {
                let eq = equations[i].as_ref().expect("a candidate has its equation");
                (&checks[i].key, eq, Scalar::from(rng.gen::<u128>()))
            })),
        }
    };
    // Ranges to look into, each with whether it is already known to fail.
    let mut pending: Vec<(&[usize], bool)> = vec![(&candidates, false)];
    while let Some((range, known_to_fail)) = pending.pop() {
        if !known_to_fail && holds(range) {
            continue;
        }
        if let [one] = range {
            verdicts[*one] = false;
            continue;
        }
        let (left, right) = range.split_at(range.len() / 2);
        // A failing range whose left half holds has its fault in the right half.
        if holds(left) {
            pending.push((right, true));
        } else {
            pending.push((left, true));
            pending.push((right, false));
        }
    }
    verdicts
}

/// Whether `[8]·Σ zᵢ([Sᵢ]B − [kᵢ]Aᵢ − Rᵢ)` is the identity, written as one multiscalar
/// multiplication: `[−Σ zᵢSᵢ]B + Σ [zᵢ]Rᵢ + Σ [zᵢkᵢ]Aᵢ`, negated.
fn batch_holds<'a>(terms: impl Iterator<Item = (&'a Ed25519Key, &'a Equation, Scalar)>) -> bool {
    let (lower, _) = terms.size_hint();
    let mut scalars = Vec::with_capacity(2 * lower + 1);
    let mut points = Vec::with_capacity(2 * lower + 1);
    let mut basepoint = Scalar::ZERO;
    for (key, eq, z) in terms {
        basepoint -= z * eq.s;
        scalars.push(z);
        points.push(eq.r);
        scalars.push(z * eq.k);
        points.push(key.point);
    }
    scalars.push(basepoint);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}
