//! The lifecycle stage of docs/design.md §5 (prospect, new, active, loyal,
//! at risk, lost), the rules that pick it, and the actions each stage
//! recommends. `crm_lifecycle` in SQL mirrors the rules.

use rust_decimal::Decimal;
use serde::Serialize;

use super::scoring::Rfm;
use super::thresholds::{LOST_DAYS, NEW_DAYS, PROSPECT_DAYS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Prospect,
    New,
    Active,
    Loyal,
    AtRisk,
    Lost,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 6] = [
        Lifecycle::Prospect,
        Lifecycle::New,
        Lifecycle::Active,
        Lifecycle::Loyal,
        Lifecycle::AtRisk,
        Lifecycle::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Prospect => "prospect",
            Lifecycle::New => "new",
            Lifecycle::Active => "active",
            Lifecycle::Loyal => "loyal",
            Lifecycle::AtRisk => "at_risk",
            Lifecycle::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|lifecycle| lifecycle.as_str() == raw)
    }

    pub(super) fn actions(self) -> [&'static str; 3] {
        match self {
            Lifecycle::Prospect => ["安排产品演示", "发送欢迎邮件", "电话跟进需求"],
            Lifecycle::New => ["客户满意度调研", "推荐相关产品", "建立定期联系"],
            Lifecycle::Active => ["推荐升级服务", "邀请参加活动", "收集反馈意见"],
            Lifecycle::Loyal => ["VIP专属服务", "推荐给朋友奖励", "新产品优先体验"],
            Lifecycle::AtRisk => ["紧急联系挽回", "提供特别优惠", "了解不满原因"],
            Lifecycle::Lost => ["重新激活营销", "问卷调研流失原因", "特价回归活动"],
        }
    }
}

/// docs/design.md §5's rules, first that holds.
pub fn lifecycle(purchase_count: usize, rfm: Rfm, days_since_last_contact: Decimal) -> Lifecycle {
    let (r, f, m) = (rfm.recency, rfm.frequency, rfm.monetary);
    if purchase_count == 0 {
        return if days_since_last_contact <= Decimal::from(PROSPECT_DAYS) {
            Lifecycle::Prospect
        } else {
            Lifecycle::Lost
        };
    }
    if purchase_count == 1 && days_since_last_contact <= Decimal::from(NEW_DAYS) {
        Lifecycle::New
    } else if r >= 4 && f >= 4 && m >= 4 {
        Lifecycle::Loyal
    } else if r >= 4 && f >= 3 {
        Lifecycle::Active
    } else if r <= 1 && days_since_last_contact > Decimal::from(LOST_DAYS) {
        Lifecycle::Lost
    } else if r <= 2 && f >= 2 {
        Lifecycle::AtRisk
    } else {
        Lifecycle::Active
    }
}
