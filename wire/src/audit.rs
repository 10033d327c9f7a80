//! What a verification leaves in the audit trail: the facts the gateway records, the store
//! keeps, and `gateway audit verify` and the console read back. How entries are chained and
//! signed is the gateway's (`gateway::audit`); the store keeps them.

use chrono::{DateTime, Utc};

/// The verdict an entry is committed with when its code had been spent already and the venue
/// was refused (409 `code.replayed`).
pub const REPLAYED: &str = "replayed";
/// The same, for a gateway that answered before the commit (`audit.wait_for_commit = false`):
/// the venue was told the verdict, and the replay was found afterwards.
pub const REPLAYED_AFTER_ANSWER: &str = "replayed_after_answer";

/// One verification, as the audit log keeps it (before it has a place in the chain). The
/// holder appears only as a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it was decided (whole microseconds once chained).
    pub at: DateTime<Utc>,
    /// The gateway node that answered.
    pub node: String,
    /// Venue id.
    pub venue: String,
    /// Scenario id.
    pub scenario: String,
    /// Certificate types consulted.
    pub certificates: Vec<String>,
    /// The overall verdict.
    pub verdict: String,
    /// (certificate, verdict) per requirement of the scenario, in order.
    pub requirement_verdicts: Vec<(String, String)>,
    pub latency_us: i64,
    /// Keyed hash of the holder.
    pub subject_hash: [u8; 32],
    pub verification_id: String,
    /// What the holder presented: a code on a phone (the usual), a printed code, or the ID card
    /// in the venue's reader. Anything but a phone is flagged here and shown in "who checked me".
    pub means: Means,
    /// The delegation a presenter showed the code under (an agent for a company, a family
    /// member for an elder), when it was not the holder.
    pub presented_by: Option<String>,
}

/// What a holder presented at a verification.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Means {
    /// A dynamic code on the holder's (or the presenter's) phone.
    #[default]
    Phone,
    /// A printed code (`paper_ok` scenarios only).
    Paper,
    /// The physical ID card, read by a card reader registered to the venue.
    CardReader,
}

impl Means {
    pub const ALL: [Means; 3] = [Means::Phone, Means::Paper, Means::CardReader];

    pub fn as_str(self) -> &'static str {
        match self {
            Means::Phone => "phone",
            Means::Paper => "paper",
            Means::CardReader => "card_reader",
        }
    }

    pub fn is_phone(&self) -> bool {
        *self == Means::Phone
    }

    /// The means named `text`, as [`Means::as_str`] writes it.
    pub fn parse(text: &str) -> Option<Means> {
        Means::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl AuditRecord {
    /// Turns the record of a verification into that of its refusal because its code had been
    /// spent already (found at the commit). `answer_waited`: the venue was answered after the
    /// commit, so it is refused (409) and told nothing of the requirements; otherwise it was
    /// told the verdict before the replay was found, and the record keeps what it was told.
    pub fn refuse_as_replayed(&mut self, answer_waited: bool) {
        if answer_waited {
            self.verdict = REPLAYED.to_owned();
            self.requirement_verdicts.clear();
        } else {
            self.verdict = REPLAYED_AFTER_ANSWER.to_owned();
        }
    }
}

impl From<crate::code::Medium> for Means {
    fn from(medium: crate::code::Medium) -> Means {
        match medium {
            crate::code::Medium::Phone => Means::Phone,
            crate::code::Medium::Paper => Means::Paper,
        }
    }
}
