//! What the profile formulas read: a customer's purchases and activities in
//! the order they happened ([`Facts`]), and the totals and instants taken
//! from them up to an instant ([`Summary`]), which the `customers` read model
//! keeps on each row.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use events::values::ActivityType;

#[derive(Debug, Clone)]
pub struct Purchase {
    pub occurred_at: DateTime<Utc>,
    pub amount: Decimal,
    pub category: String,
}

#[derive(Debug, Clone)]
pub struct Activity {
    pub occurred_at: DateTime<Utc>,
    pub activity_type: ActivityType,
}

/// What the formulas read, in the order the events happened.
#[derive(Debug, Clone)]
pub struct Facts {
    pub registered_at: DateTime<Utc>,
    pub purchases: Vec<Purchase>,
    pub activities: Vec<Activity>,
}

/// What the formulas read of a customer's facts up to an instant: totals,
/// instants, purchase categories and activity kinds. The `customers`
/// projection keeps the same on each row, so the profile "as of now" needs
/// no history.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub registered_at: DateTime<Utc>,
    pub purchase_count: usize,
    pub total_amount: Decimal,
    pub first_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// Latest of registration, activities and purchases.
    pub last_contact_at: DateTime<Utc>,
    /// Purchase categories in first-seen order, with their counts.
    pub categories: Vec<(String, usize)>,
    /// Activity kinds logged, each once.
    pub activity_types: Vec<ActivityType>,
}

impl Facts {
    /// The summary of the facts known at `as_of` (later facts are ignored).
    pub fn summary_at(&self, as_of: DateTime<Utc>) -> Summary {
        let purchases: Vec<&Purchase> = self
            .purchases
            .iter()
            .filter(|purchase| purchase.occurred_at <= as_of)
            .collect();
        let activities: Vec<&Activity> = self
            .activities
            .iter()
            .filter(|activity| activity.occurred_at <= as_of)
            .collect();
        let last_purchase_at = purchases.iter().map(|purchase| purchase.occurred_at).max();
        let mut categories: Vec<(String, usize)> = Vec::new();
        for purchase in &purchases {
            match categories
                .iter_mut()
                .find(|(category, _)| *category == purchase.category)
            {
                Some((_, count)) => *count += 1,
                None => categories.push((purchase.category.clone(), 1)),
            }
        }
        let mut activity_types = Vec::new();
        for activity in &activities {
            if !activity_types.contains(&activity.activity_type) {
                activity_types.push(activity.activity_type);
            }
        }
        Summary {
            registered_at: self.registered_at,
            purchase_count: purchases.len(),
            total_amount: purchases.iter().map(|purchase| purchase.amount).sum(),
            first_purchase_at: purchases.iter().map(|purchase| purchase.occurred_at).min(),
            last_purchase_at,
            last_contact_at: activities
                .iter()
                .map(|activity| activity.occurred_at)
                .chain(last_purchase_at)
                .chain([self.registered_at])
                .max()
                .unwrap_or(self.registered_at),
            categories,
            activity_types,
        }
    }
}
