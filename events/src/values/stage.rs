//! The closed vocabularies: funnel stages and kinds of activity.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::money::Probability;
use super::{invalid, InvalidValue};

/// The funnel stages, in order. `closed_lost` is terminal and reachable from any open stage.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Lead,
    Qualified,
    Proposal,
    Negotiation,
    ClosedWon,
    ClosedLost,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Lead,
        Stage::Qualified,
        Stage::Proposal,
        Stage::Negotiation,
        Stage::ClosedWon,
        Stage::ClosedLost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Qualified => "qualified",
            Stage::Proposal => "proposal",
            Stage::Negotiation => "negotiation",
            Stage::ClosedWon => "closed_won",
            Stage::ClosedLost => "closed_lost",
        }
    }

    /// The name the mini-program shows.
    pub fn display_name(self) -> &'static str {
        match self {
            Stage::Lead => "潜在客户",
            Stage::Qualified => "合格线索",
            Stage::Proposal => "方案阶段",
            Stage::Negotiation => "商务谈判",
            Stage::ClosedWon => "成交",
            Stage::ClosedLost => "失败",
        }
    }

    pub fn colour(self) -> &'static str {
        match self {
            Stage::Lead => "#e6f7ff",
            Stage::Qualified => "#bae7ff",
            Stage::Proposal => "#91d5ff",
            Stage::Negotiation => "#69c0ff",
            Stage::ClosedWon => "#40a9ff",
            Stage::ClosedLost => "#ff7875",
        }
    }

    pub fn default_probability(self) -> Probability {
        Probability::from_percent_tenths(match self {
            Stage::Lead => 1,
            Stage::Qualified => 2,
            Stage::Proposal => 5,
            Stage::Negotiation => 7,
            Stage::ClosedWon => 10,
            Stage::ClosedLost => 0,
        })
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Stage::ClosedWon | Stage::ClosedLost)
    }
}

impl FromStr for Stage {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| {
                invalid("stage must be one of lead, qualified, proposal, negotiation, closed_won, closed_lost")
            })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a sales rep followed a customer up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityType {
    Visit,
    Call,
    Email,
    Meeting,
}

impl ActivityType {
    pub const ALL: [ActivityType; 4] = [
        ActivityType::Visit,
        ActivityType::Call,
        ActivityType::Email,
        ActivityType::Meeting,
    ];

    /// The name events and read models store (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityType::Visit => "visit",
            ActivityType::Call => "call",
            ActivityType::Email => "email",
            ActivityType::Meeting => "meeting",
        }
    }
}

impl FromStr for ActivityType {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|activity_type| activity_type.as_str() == s)
            .ok_or_else(|| invalid("type must be one of visit, call, email, meeting"))
    }
}
