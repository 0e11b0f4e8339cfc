//! The rank ladder. `can_act_on` is the only place that decides who may act on whom.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    User = 0,
    Moderator = 1,
    Admin = 2,
    Owner = 3,
}

impl Level {
    /// The ladder from the bottom: each level at the index of its number.
    pub const ALL: [Level; 4] = [Level::User, Level::Moderator, Level::Admin, Level::Owner];

    pub fn from_i64(value: i64) -> Option<Level> {
        match value {
            0 => Some(Level::User),
            1 => Some(Level::Moderator),
            2 => Some(Level::Admin),
            3 => Some(Level::Owner),
            _ => None,
        }
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// The name used in messages: `User`, `Moderator`, `Admin`, `Owner`.
    pub fn name(self) -> &'static str {
        match self {
            Level::User => "User",
            Level::Moderator => "Moderator",
            Level::Admin => "Admin",
            Level::Owner => "Owner",
        }
    }

    /// The message of the 403 given to callers below this floor.
    pub fn required_message(self) -> &'static str {
        match self {
            Level::User => "Authentication required",
            Level::Moderator => "Moderator access required",
            Level::Admin => "Admin access required",
            Level::Owner => "Owner access required",
        }
    }

    /// The highest level this level may assign over HTTP (00-conventions §3.3); `None` below Admin.
    pub fn assignment_ceiling(self) -> Option<Level> {
        match self {
            Level::User | Level::Moderator => None,
            Level::Admin => Some(Level::Moderator),
            Level::Owner => Some(Level::Admin),
        }
    }

    pub fn is_staff_ttl(self) -> bool {
        self >= Level::Admin
    }
}

/// A stored level outside 0–3 is a corrupt row, not a User.
impl TryFrom<i64> for Level {
    type Error = String;

    fn try_from(value: i64) -> Result<Level, String> {
        Level::from_i64(value).ok_or_else(|| format!("permission level {value} is not 0–3"))
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_i64())
    }
}

/// `actor.level > target.level`, or both are Owners.
pub fn can_act_on(actor: Level, target: Level) -> bool {
    actor > target || (actor == Level::Owner && target == Level::Owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_sits_at_its_number() {
        for (number, level) in Level::ALL.iter().enumerate() {
            assert_eq!(level.as_i64(), number as i64);
        }
    }

    #[test]
    fn ladder_matches_the_contract_table() {
        let levels = Level::ALL;
        let expected = [
            [false, false, false, false],
            [true, false, false, false],
            [true, true, false, false],
            [true, true, true, true],
        ];
        for (a, row) in levels.iter().zip(expected) {
            for (t, allowed) in levels.iter().zip(row) {
                assert_eq!(can_act_on(*a, *t), allowed, "{a:?} on {t:?}");
            }
        }
    }
}
