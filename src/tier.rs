//! Subscription tiers (40-subscriptions §2): what a user's row stores and what the API shows, as
//! the integers 0–3.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Basic = 0,
    Trial = 1,
    Premium = 2,
    Lifetime = 3,
}

impl Tier {
    pub fn from_i64(value: i64) -> Option<Tier> {
        match value {
            0 => Some(Tier::Basic),
            1 => Some(Tier::Trial),
            2 => Some(Tier::Premium),
            3 => Some(Tier::Lifetime),
            _ => None,
        }
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// Trial and Premium end at their expiry; Lifetime never does, Basic has none.
    pub fn is_timed(self) -> bool {
        matches!(self, Tier::Trial | Tier::Premium)
    }
}

/// A stored tier outside 0–3 is a corrupt row, not a Basic user.
impl TryFrom<i64> for Tier {
    type Error = String;

    fn try_from(value: i64) -> Result<Tier, String> {
        Tier::from_i64(value).ok_or_else(|| format!("subscription tier {value} is not 0–3"))
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_i64())
    }
}
