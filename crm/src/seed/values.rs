//! Realistic values drawn at random from the vocabulary: people, companies,
//! contact details, amounts, activities and profile changes.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::Decimal;

use command::aggregate::Action;
use events::customer::CustomerProfileUpdated;
use events::personal::Personal;
use events::values::{ActivityType, Email, Money, OccurredAt, Phone, ShortText, TextField};

use crate::vocabulary::{
    pick, CALL_SUBJECTS, CITIES, COMPANY_PREFIXES, COMPANY_SUFFIXES, EMAIL_SUBJECTS, FREE_MAIL,
    GIVEN, INDUSTRY_WORDS, MEETING_SUBJECTS, MOBILE_PREFIXES, NOTES, POSITIONS, SOURCES, SURNAMES,
    VISIT_SUBJECTS,
};

/// A value of `field`, held to the bounds a client's input is held to.
pub(super) fn text(field: TextField, value: &str) -> anyhow::Result<ShortText> {
    Ok(field.parse(value)?)
}

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A random amount in `low..high` yuan, log-uniform (small orders are more
/// common than large ones), with two decimals.
pub(super) fn yuan(rng: &mut StdRng, low: u32, high: u32) -> Decimal {
    let (low, high) = (f64::from(low) * 100.0, f64::from(high) * 100.0);
    let cents = (low * (high / low).powf(rng.gen::<f64>())).round() as i64;
    Decimal::new(cents, 2)
}

/// A deal value: whole thousands from 5,000 to 500,000 yuan.
pub(super) fn deal_value(rng: &mut StdRng) -> anyhow::Result<Money> {
    let thousands = yuan(rng, 5, 500).round();
    Ok(Money::non_negative(thousands * Decimal::ONE_THOUSAND)?)
}

pub(super) fn phone(rng: &mut StdRng) -> anyhow::Result<Phone> {
    let prefix = pick(rng, MOBILE_PREFIXES);
    let rest = rng.gen_range(0..100_000_000u32);
    Ok(Phone::parse(&format!("{prefix}{rest:08}"))?)
}

/// A person with the pinyin of their name.
pub(super) struct Person {
    pub(super) name: String,
    pub(super) surname_pinyin: &'static str,
    pub(super) given_pinyin: String,
}

pub(super) fn person(rng: &mut StdRng) -> Person {
    let (surname, surname_pinyin) = pick(rng, SURNAMES);
    let mut name = surname.to_owned();
    let mut given_pinyin = String::new();
    // Two-character given names are the more common.
    for _ in 0..if rng.gen_bool(0.6) { 2 } else { 1 } {
        let (character, pinyin) = pick(rng, GIVEN);
        name.push_str(character);
        given_pinyin.push_str(pinyin);
    }
    Person {
        name,
        surname_pinyin,
        given_pinyin,
    }
}

/// A company name (prefix + industry word + legal form, sometimes after a
/// city), its industry and its e-mail domain.
pub(super) struct Company {
    pub(super) name: String,
    pub(super) industry: &'static str,
    pub(super) domain: String,
}

pub(super) fn company(rng: &mut StdRng) -> Company {
    let (prefix, prefix_pinyin) = pick(rng, COMPANY_PREFIXES);
    let (word, industry, domain_word) = pick(rng, INDUSTRY_WORDS);
    let total: u32 = COMPANY_SUFFIXES.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.gen_range(0..total);
    let suffix = COMPANY_SUFFIXES
        .iter()
        .find(|(_, weight)| {
            let found = roll < *weight;
            roll = roll.saturating_sub(*weight);
            found
        })
        .map_or("", |(suffix, _)| suffix);
    let city = if rng.gen_bool(0.35) {
        pick(rng, CITIES)
    } else {
        ""
    };
    let tld = pick(rng, &["com", "cn", "com.cn"]);
    Company {
        name: format!("{city}{prefix}{word}{suffix}"),
        industry,
        domain: format!("{prefix_pinyin}{domain_word}.{tld}"),
    }
}

pub(super) fn email(
    rng: &mut StdRng,
    person: &Person,
    company: Option<&Company>,
) -> anyhow::Result<Email> {
    let address = match (company, rng.gen_range(0..10)) {
        (Some(company), 0..=4) => {
            format!(
                "{}.{}@{}",
                person.given_pinyin, person.surname_pinyin, company.domain
            )
        }
        (_, 0..=6) => format!("{}@qq.com", rng.gen_range(100_000_000u64..3_000_000_000)),
        _ => format!(
            "{}{}{}@{}",
            person.surname_pinyin,
            person.given_pinyin,
            rng.gen_range(1..1000),
            pick(rng, FREE_MAIL)
        ),
    };
    Ok(Email::parse(&address)?)
}

/// A follow-up: a call, visit, e-mail or meeting at `at`.
pub(super) fn activity(rng: &mut StdRng, at: DateTime<Utc>) -> anyhow::Result<Action> {
    let (activity_type, subjects) = match rng.gen_range(0..10) {
        0..=3 => (ActivityType::Call, CALL_SUBJECTS),
        4..=5 => (ActivityType::Visit, VISIT_SUBJECTS),
        6..=7 => (ActivityType::Email, EMAIL_SUBJECTS),
        _ => (ActivityType::Meeting, MEETING_SUBJECTS),
    };
    let valued = matches!(activity_type, ActivityType::Visit | ActivityType::Meeting);
    Ok(Action::LogActivity {
        activity_type,
        subject: rng
            .gen_bool(0.95)
            .then(|| text(TextField::SUBJECT, pick(rng, subjects)))
            .transpose()?,
        notes: rng
            .gen_bool(0.4)
            .then(|| text(TextField::NOTES, pick(rng, NOTES)))
            .transpose()?,
        occurred_at: Some(OccurredAt::new(at)?),
        value: (valued && rng.gen_bool(0.15))
            .then(|| deal_value(rng))
            .transpose()?,
    })
}

/// A few changed fields, never none (the aggregate rejects an empty update).
pub(super) fn profile_update(rng: &mut StdRng) -> anyhow::Result<Action> {
    let mut update = CustomerProfileUpdated::default();
    while update.is_empty() {
        if rng.gen_bool(0.3) {
            update.phone = Some(Some(Personal::Clear(phone(rng)?)));
        }
        if rng.gen_bool(0.2) {
            let person = person(rng);
            // Now and then a customer asks to be removed from e-mail.
            update.email = Some(if rng.gen_bool(0.1) {
                None
            } else {
                Some(Personal::Clear(email(rng, &person, None)?))
            });
        }
        if rng.gen_bool(0.3) {
            update.position = Some(Some(text(TextField::POSITION, pick(rng, POSITIONS))?));
        }
        if rng.gen_bool(0.3) {
            update.deal_value = Some(deal_value(rng)?);
        }
        if rng.gen_bool(0.1) {
            update.source = Some(Some(text(TextField::SOURCE, pick(rng, SOURCES))?));
        }
        if rng.gen_bool(0.05) {
            let company = company(rng);
            update.company = Some(Some(text(TextField::COMPANY, &company.name)?));
            update.industry = Some(Some(text(TextField::INDUSTRY, company.industry)?));
        }
    }
    Ok(Action::UpdateProfile(update))
}
