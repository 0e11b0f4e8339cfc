//! Bot types (50-bots §2): Official bots handle login codes, Verified and Community bots are
//! listed. Stored and shown as the integers 1–3.

use serde::{Serialize, Serializer};

/// The names, in type order.
pub const BOT_TYPE_NAMES: [&str; 3] = ["official", "verified", "community"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BotType {
    Official = 1,
    Verified = 2,
    Community = 3,
}

impl BotType {
    pub const ALL: [BotType; 3] = [BotType::Official, BotType::Verified, BotType::Community];

    pub fn from_i64(value: i64) -> Option<BotType> {
        BotType::ALL.into_iter().find(|t| t.as_i64() == value)
    }

    /// `official`, `verified` or `community`, in any case.
    pub fn from_name(name: &str) -> Option<BotType> {
        BotType::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }

    pub fn name(self) -> &'static str {
        BOT_TYPE_NAMES[self as usize - 1]
    }
}

/// A stored type outside 1–3 is a corrupt row.
impl TryFrom<i64> for BotType {
    type Error = String;

    fn try_from(value: i64) -> Result<BotType, String> {
        BotType::from_i64(value).ok_or_else(|| format!("bot type {value} is not 1–3"))
    }
}

impl Serialize for BotType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_i64())
    }
}
