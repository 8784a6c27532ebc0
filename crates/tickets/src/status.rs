//! The three ticket statuses.

use std::fmt;
use std::str::FromStr;

/// The `status` field of a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// `open`: not started.
    Open,
    /// `in_progress`: started and not finished.
    InProgress,
    /// `closed`: done. Only closed dependencies let a ticket become ready.
    Closed,
}

impl Status {
    /// Returns the spelling used in ticket files: `open`, `in_progress` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Closed => "closed",
        }
    }

    /// Returns the status spelled `text`, or `None` if `text` is not one of the three.
    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "open" => Some(Status::Open),
            "in_progress" => Some(Status::InProgress),
            "closed" => Some(Status::Closed),
            _ => None,
        }
    }

    /// Returns true for `open` and `in_progress`, the statuses that `ready` and
    /// `blocked` list.
    pub fn is_active(self) -> bool {
        self != Status::Closed
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string is not a ticket status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid status '{0}' (expected open, in_progress or closed)")]
pub struct ParseStatusError(pub String);

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(text: &str) -> Result<Status, ParseStatusError> {
        Status::parse(text).ok_or_else(|| ParseStatusError(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_text() {
        for status in [Status::Open, Status::InProgress, Status::Closed] {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
    }

    #[test]
    fn status_rejects_other_spellings() {
        assert_eq!(Status::parse("Open"), None);
        assert_eq!(Status::parse("in-progress"), None);
        assert_eq!(Status::parse(""), None);
    }
}
