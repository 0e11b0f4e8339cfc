//! The two kinds of user (91-matchmaking §2.1): registered users, made by a login or the
//! command-line tool, and strangers, anonymous accounts with one session made for matchmaking.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    Registered,
    Stranger,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Registered => "registered",
            UserKind::Stranger => "stranger",
        }
    }
}

/// A stored kind other than the two is a corrupt row.
impl TryFrom<String> for UserKind {
    type Error = String;

    fn try_from(value: String) -> Result<UserKind, String> {
        match value.as_str() {
            "registered" => Ok(UserKind::Registered),
            "stranger" => Ok(UserKind::Stranger),
            other => Err(format!("user kind {other:?} is not registered or stranger")),
        }
    }
}
