//! The rules, their settings, their bounds and defaults, and where a
//! tenant's choices are kept.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// One automation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A lead nobody contacted within `hours` of its registration → a
    /// follow-up (a call) for its owner.
    UncontactedLead,
    /// A customer that turned `at_risk` → a follow-up (a visit) for its
    /// owner, with the recommended actions of its profile as notes.
    TurnedAtRisk,
    /// A follow-up overdue for `days` → a notification to the assignee's
    /// managers (the managers of the teams it belongs to).
    OverdueEscalation,
}

impl Rule {
    pub const ALL: [Rule; 3] = [
        Rule::UncontactedLead,
        Rule::TurnedAtRisk,
        Rule::OverdueEscalation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::UncontactedLead => "uncontacted_lead",
            Rule::TurnedAtRisk => "turned_at_risk",
            Rule::OverdueEscalation => "overdue_escalation",
        }
    }

    pub fn parse(raw: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.as_str() == raw)
    }

    /// The actor of the events the rule causes.
    pub fn actor(self) -> String {
        format!("rule:{}", self.as_str())
    }

    /// The settings a tenant that never configured the rule has.
    pub fn defaults(self) -> RuleSettings {
        match self {
            Rule::UncontactedLead => RuleSettings {
                hours: Some(24),
                days: None,
            },
            Rule::TurnedAtRisk => RuleSettings::default(),
            Rule::OverdueEscalation => RuleSettings {
                hours: None,
                days: Some(3),
            },
        }
    }

    /// `settings` completed with the defaults and checked against the
    /// rule's bounds; the message names the field.
    pub fn check(self, settings: RuleSettings) -> Result<RuleSettings, (&'static str, String)> {
        let defaults = self.defaults();
        let checked = RuleSettings {
            hours: settings.hours.or(defaults.hours),
            days: settings.days.or(defaults.days),
        };
        match self {
            Rule::UncontactedLead => {
                if settings.days.is_some() {
                    return Err(("days", "this rule is set in hours".to_owned()));
                }
                within("hours", checked.hours, 1, 720)?;
            }
            Rule::TurnedAtRisk => {
                if settings.hours.is_some() || settings.days.is_some() {
                    return Err(("settings", "this rule has no settings".to_owned()));
                }
            }
            Rule::OverdueEscalation => {
                if settings.hours.is_some() {
                    return Err(("hours", "this rule is set in days".to_owned()));
                }
                within("days", checked.days, 1, 90)?;
            }
        }
        Ok(checked)
    }
}

fn within(
    field: &'static str,
    value: Option<u32>,
    min: u32,
    max: u32,
) -> Result<(), (&'static str, String)> {
    match value {
        Some(value) if (min..=max).contains(&value) => Ok(()),
        _ => Err((field, format!("must be {min} to {max}"))),
    }
}

/// A rule's settings; which apply depends on the rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// `uncontacted_lead`: 1–720, default 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 720)]
    pub hours: Option<u32>,
    /// `overdue_escalation`: 1–90, default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

/// A tenant's rule as configured (or the defaults, off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Configured {
    pub rule: Rule,
    pub enabled: bool,
    pub settings: RuleSettings,
}

/// Every rule of the tenant, in [`Rule::ALL`] order.
pub(crate) async fn of_tenant(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Vec<Configured>, sqlx::Error> {
    let stored: Vec<(String, bool, serde_json::Value)> =
        sqlx::query_as("SELECT rule, enabled, settings FROM automation_rules WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(pool)
            .await?;
    Ok(Rule::ALL
        .into_iter()
        .map(|rule| {
            stored
                .iter()
                .find(|(name, _, _)| name == rule.as_str())
                .and_then(|(_, enabled, settings)| {
                    let settings = serde_json::from_value(settings.clone()).ok()?;
                    Some(Configured {
                        rule,
                        enabled: *enabled,
                        settings: rule.check(settings).unwrap_or_else(|_| rule.defaults()),
                    })
                })
                .unwrap_or(Configured {
                    rule,
                    enabled: false,
                    settings: rule.defaults(),
                })
        })
        .collect())
}

/// The tenants that switched `rule` on, with their settings.
pub(crate) async fn enabled(
    pool: &PgPool,
    rule: Rule,
) -> Result<Vec<(Uuid, RuleSettings)>, sqlx::Error> {
    let rows: Vec<(Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT tenant_id, settings FROM automation_rules WHERE rule = $1 AND enabled",
    )
    .bind(rule.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, settings)| {
            let settings = serde_json::from_value(settings)
                .ok()
                .and_then(|settings| rule.check(settings).ok())
                .unwrap_or_else(|| rule.defaults());
            (tenant, settings)
        })
        .collect())
}

pub(crate) async fn save(
    pool: &PgPool,
    tenant_id: Uuid,
    configured: &Configured,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO automation_rules (tenant_id, rule, enabled, settings, updated_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, rule) DO UPDATE
            SET enabled = EXCLUDED.enabled, settings = EXCLUDED.settings,
                updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(tenant_id)
    .bind(configured.rule.as_str())
    .bind(configured.enabled)
    .bind(serde_json::to_value(configured.settings).unwrap_or_default())
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_completed_with_defaults_and_bounded() {
        assert_eq!(
            Rule::UncontactedLead.check(RuleSettings::default()),
            Ok(RuleSettings {
                hours: Some(24),
                days: None
            })
        );
        for hours in [0, 721] {
            let refused = Rule::UncontactedLead.check(RuleSettings {
                hours: Some(hours),
                days: None,
            });
            assert_eq!(refused.map_err(|(field, _)| field), Err("hours"));
        }
        assert!(Rule::OverdueEscalation
            .check(RuleSettings {
                hours: None,
                days: Some(91)
            })
            .is_err());
        assert!(Rule::OverdueEscalation
            .check(RuleSettings {
                hours: Some(3),
                days: None
            })
            .is_err());
        assert!(Rule::TurnedAtRisk
            .check(RuleSettings {
                hours: None,
                days: Some(3)
            })
            .is_err());
    }

    #[test]
    fn rules_have_stable_names_and_actors() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
            assert!(events::values::UserId::parse(&rule.actor()).is_ok());
        }
        assert_eq!(Rule::parse("silent_to_pool"), None);
    }
}
