//! The value types' rules, one test per rule.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;

#[test]
fn activity_type_names_are_the_serde_names_and_parse_back() {
    for activity_type in ActivityType::ALL {
        assert_eq!(
            serde_json::to_value(activity_type).expect("serialise"),
            serde_json::Value::from(activity_type.as_str())
        );
        assert_eq!(activity_type.as_str().parse(), Ok(activity_type));
    }
    assert!("phone".parse::<ActivityType>().is_err());
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

#[test]
fn name_is_trimmed_and_counted_in_characters() {
    assert_eq!(
        CustomerName::parse("  张三  ").map(String::from),
        Ok("张三".into())
    );
    assert!(CustomerName::parse(&"张".repeat(100)).is_ok());
    assert!(CustomerName::parse(&"张".repeat(101)).is_err());
    assert!(CustomerName::parse("   ").is_err());
    assert!(CustomerName::parse("").is_err());
}

#[test]
fn phone_accepts_mainland_mobile_and_e164_only() {
    assert!(Phone::parse("13800138000").is_ok());
    assert!(Phone::parse("+8613800138000").is_ok());
    assert!(Phone::parse("+14155550123").is_ok());
    assert!(
        Phone::parse("23800138000").is_err(),
        "mainland must start with 1"
    );
    assert!(Phone::parse("1380013800").is_err(), "10 digits");
    assert!(Phone::parse("138001380001").is_err(), "12 digits");
    assert!(
        Phone::parse("+0123456").is_err(),
        "E.164 has no leading zero"
    );
    assert!(
        Phone::parse("+1234567890123456").is_err(),
        "E.164 has at most 15 digits"
    );
    assert!(Phone::parse("138-0013-8000").is_err());
}

#[test]
fn email_must_have_local_part_and_dotted_domain() {
    assert_eq!(
        Email::parse("Li.Si@Example.COM").map(String::from),
        Ok("Li.Si@example.com".into())
    );
    assert!(Email::parse("lisi@例子.中国").is_ok());
    assert!(Email::parse("lisi").is_err());
    assert!(Email::parse("@example.com").is_err());
    assert!(Email::parse("lisi@example").is_err());
    assert!(Email::parse("li si@example.com").is_err());
    assert!(Email::parse("lisi@.com").is_err());
}

#[test]
fn display_name_is_one_to_fifty_characters_after_trimming() {
    assert_eq!(
        DisplayName::parse("  王小明 ").map(String::from),
        Ok("王小明".into())
    );
    assert!(DisplayName::parse(&"王".repeat(50)).is_ok());
    assert_eq!(
        DisplayName::parse(&"王".repeat(51)),
        Err(InvalidValue(
            "display name must be at most 50 characters (got 51)".into()
        ))
    );
    assert_eq!(
        DisplayName::parse(" \u{3000} "),
        Err(InvalidValue("display name must not be empty".into()))
    );
}

#[test]
fn display_name_is_one_line() {
    assert!(DisplayName::parse("王\n小明").is_err());
    assert!(DisplayName::parse("王\t小明").is_err());
}

#[test]
fn team_name_is_one_to_fifty_characters_after_trimming() {
    assert_eq!(
        TeamName::parse(" 华东销售一组 ").map(String::from),
        Ok("华东销售一组".into())
    );
    assert!(TeamName::parse(&"组".repeat(50)).is_ok());
    assert_eq!(
        TeamName::parse(&"组".repeat(51)),
        Err(InvalidValue(
            "team name must be at most 50 characters (got 51)".into()
        ))
    );
    assert_eq!(
        TeamName::parse(""),
        Err(InvalidValue("team name must not be empty".into()))
    );
}

#[test]
fn team_name_is_one_line() {
    assert!(TeamName::parse("华东\n一组").is_err());
    assert!(TeamName::parse("华东\r\n一组").is_err());
}

#[test]
fn stored_display_and_team_names_decode_like_the_other_names() {
    // Control characters are refused when reading back, noncharacters are not
    // (the rule of the names that came before them).
    assert!(serde_json::from_str::<DisplayName>("\"a\\u0000b\"").is_err());
    assert!(serde_json::from_str::<TeamName>("\"a\\u0007b\"").is_err());
    assert!(serde_json::from_str::<DisplayName>("\"a\\uffffb\"").is_ok());
    assert!(serde_json::from_str::<TeamName>("\"a\\ufdd0b\"").is_ok());
    assert!(serde_json::from_value::<TeamName>(serde_json::json!("组".repeat(51))).is_err());
    assert_eq!(
        serde_json::from_str::<DisplayName>("\" 王小明 \"")
            .ok()
            .map(String::from),
        Some("王小明".into()),
        "trimmed on the way in"
    );
}

#[test]
fn tag_is_one_to_thirty_two_characters() {
    assert!(Tag::parse("重要客户").is_ok());
    assert!(Tag::parse(&"a".repeat(32)).is_ok());
    assert!(Tag::parse(&"a".repeat(33)).is_err());
    assert!(Tag::parse(" ").is_err());
}

/// Every input constructor of a text type, with the field name its
/// messages use and whether it takes free text.
#[allow(clippy::type_complexity)]
fn text_constructors() -> Vec<(
    &'static str,
    bool,
    Box<dyn Fn(&str) -> Result<String, InvalidValue>>,
)> {
    vec![
        (
            "name",
            false,
            Box::new(|t| CustomerName::parse(t).map(String::from)),
        ),
        ("tag", false, Box::new(|t| Tag::parse(t).map(String::from))),
        (
            "order_ref",
            false,
            Box::new(|t| OrderRef::parse(t).map(String::from)),
        ),
        (
            "user id",
            false,
            Box::new(|t| UserId::parse(t).map(String::from)),
        ),
        (
            "display name",
            false,
            Box::new(|t| DisplayName::parse(t).map(String::from)),
        ),
        (
            "team name",
            false,
            Box::new(|t| TeamName::parse(t).map(String::from)),
        ),
        (
            "subject",
            false,
            Box::new(|t| TextField::SUBJECT.parse(t).map(String::from)),
        ),
        (
            "notes",
            true,
            Box::new(|t| TextField::NOTES.parse(t).map(String::from)),
        ),
        (
            "text",
            true,
            Box::new(|t| ShortText::parse(t).map(String::from)),
        ),
    ]
}

/// `inside` between ordinary characters is refused by every text type
/// (and by phone and e-mail), naming the field and the code point.
#[track_caller]
fn refused_everywhere(inside: char) {
    let code = format!("U+{:04X}", u32::from(inside));
    for (what, _, parse) in text_constructors() {
        let error = parse(&format!("ab{inside}c")).expect_err(what);
        assert!(
            error.0.starts_with(&format!("{what} must not contain")) && error.0.contains(&code),
            "{what}: {error}"
        );
    }
    let phone = Phone::parse(&format!("1380013{inside}8000")).expect_err("phone");
    assert!(phone.0.contains(&code), "{phone}");
    let email = Email::parse(&format!("li{inside}si@example.com")).expect_err("email");
    assert!(
        email.0.starts_with("email must not contain") && email.0.contains(&code),
        "{email}"
    );
    assert!(check_chars(&format!("x{inside}"), "q", TextKind::SingleLine).is_err());
    assert!(check_chars(&format!("x{inside}"), "q", TextKind::FreeText).is_err());
}

#[test]
fn nul_is_refused_with_the_field_and_code_point() {
    refused_everywhere('\u{0}');
    assert_eq!(
        TextField::NOTES.parse("x\u{0}"),
        Err(InvalidValue(
            "notes must not contain control characters (U+0000)".into()
        ))
    );
}

#[test]
fn other_c0_controls_are_refused() {
    for c in ['\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}'] {
        refused_everywhere(c);
    }
}

#[test]
fn del_and_c1_controls_are_refused() {
    for c in ['\u{7f}', '\u{80}', '\u{85}', '\u{9f}'] {
        refused_everywhere(c);
    }
}

#[test]
fn noncharacters_are_refused() {
    for c in [
        '\u{fdd0}',
        '\u{fdef}',
        '\u{fffe}',
        '\u{ffff}',
        '\u{1fffe}',
        '\u{10ffff}',
    ] {
        assert!(is_noncharacter(c), "{c:?}");
        refused_everywhere(c);
    }
    assert_eq!(
        Tag::parse("vip\u{ffff}"),
        Err(InvalidValue(
            "tag must not contain Unicode noncharacters (U+FFFF)".into()
        ))
    );
    // Neighbours of noncharacters are ordinary characters.
    for c in ['\u{fdcf}', '\u{fdf0}', '\u{fffd}', '\u{1fffd}'] {
        assert!(!is_noncharacter(c), "{c:?}");
        assert!(Tag::parse(&format!("a{c}b")).is_ok(), "{c:?}");
    }
}

#[test]
fn newline_and_tab_are_allowed_only_in_free_text() {
    for text in ["第一行\n第二行", "a\tb", "a\r\nb", "a\n\n\tb", "a\r\n\r\nb"] {
        for (what, free, parse) in text_constructors() {
            assert_eq!(parse(text).is_ok(), free, "{what}: {text:?}");
        }
    }
    assert_eq!(
        TextField::SUBJECT.parse("a\nb"),
        Err(InvalidValue(
            "subject must not contain control characters (U+000A: line breaks and tabs are allowed only in multi-line text such as notes)".into()
        ))
    );
    // A carriage return only as part of CR LF.
    for text in ["a\rb", "a\r\rb", "a\n\rb"] {
        let error = TextField::REASON.parse(text).expect_err(text);
        assert!(error.0.contains("U+000D"), "{error}");
    }
    // Outer whitespace is trimmed before the rule: a trailing line break is no line.
    assert_eq!(
        TextField::SUBJECT.parse("回访\n").map(String::from),
        Ok("回访".into())
    );
}

#[test]
fn right_to_left_marks_and_format_characters_are_stored_as_they_are() {
    for text in [
        "\u{200f}شركة الأمل",
        "abc\u{200f}def",
        "a\u{200d}b",
        "a\u{2028}b",
        "a\u{feff}b",
    ] {
        for (what, _, parse) in text_constructors() {
            assert_eq!(parse(text).as_deref(), Ok(text), "{what}: {text:?}");
        }
        assert_eq!(check_chars(text, "q", TextKind::SingleLine), Ok(()));
    }
    assert!(Email::parse("li\u{200f}si@example.com").is_ok());
}

#[test]
fn stored_short_text_with_control_characters_still_decodes() {
    // Appended before the rule existed: the log must keep decoding it.
    for (stored, text) in [
        ("\"a\\u0000b\"", "a\u{0}b"),
        ("\"a\\u0007b\"", "a\u{7}b"),
        ("\"a\\rb\"", "a\rb"),
        ("\"a\\uffffb\"", "a\u{ffff}b"),
    ] {
        let decoded: ShortText = serde_json::from_str(stored).expect(stored);
        assert_eq!(decoded.as_str(), text, "read back as it was stored");
    }
    // The length bounds still hold.
    assert!(serde_json::from_str::<ShortText>("\" \"").is_err());
    assert!(serde_json::from_value::<ShortText>(serde_json::json!("a".repeat(10_001))).is_err());
    // Types that always refused control characters still do, but
    // noncharacters they used to accept still decode.
    assert!(serde_json::from_str::<Tag>("\"a\\u0000b\"").is_err());
    assert!(serde_json::from_str::<CustomerName>("\"a\\u0001b\"").is_err());
    assert!(serde_json::from_str::<Tag>("\"a\\uffffb\"").is_ok());
    assert!(serde_json::from_str::<UserId>("\"rep\\ufdd0\"").is_ok());
    assert!(serde_json::from_str::<OrderRef>("\"PO\\ufffe\"").is_ok());
    assert!(serde_json::from_str::<Email>("\"a\\uffff@example.com\"").is_ok());
    assert!(serde_json::from_str::<Email>("\"a\\u0000@example.com\"").is_err());
}

#[test]
fn money_is_never_negative_and_has_two_decimals_at_most() {
    assert_eq!(
        Money::non_negative(dec("0")).map(String::from),
        Ok("0.00".into())
    );
    assert_eq!(
        Money::non_negative(dec("12.5")).map(String::from),
        Ok("12.50".into())
    );
    assert!(Money::non_negative(dec("-0.01")).is_err());
    assert!(Money::non_negative(dec("1.234")).is_err());
    assert!(
        Money::non_negative(dec("1.230")).is_ok(),
        "trailing zeros are fine"
    );
}

#[test]
fn purchase_amount_is_positive_and_at_most_one_trillion() {
    assert!(Money::positive(dec("0")).is_err());
    assert!(Money::positive(dec("0.01")).is_ok());
    assert!(Money::positive(dec("1000000000000")).is_ok());
    assert!(Money::positive(dec("1000000000000.01")).is_err());
    assert_eq!(MAX_MONEY, dec("1000000000000"));
}

#[test]
fn money_deserialises_from_string_or_number_and_serialises_as_string() {
    let from_number: Money = serde_json::from_str("12.5").expect("number");
    let from_text: Money = serde_json::from_str("\"12.50\"").expect("text");
    assert_eq!(from_number, from_text);
    assert_eq!(
        serde_json::to_string(&from_number).expect("ser"),
        "\"12.50\""
    );
    assert!(serde_json::from_str::<Money>("-1").is_err());
}

#[test]
fn probability_is_between_zero_and_one() {
    assert!(Probability::new(dec("0")).is_ok());
    assert!(Probability::new(dec("1")).is_ok());
    assert!(Probability::new(dec("0.35")).is_ok());
    assert!(Probability::new(dec("1.01")).is_err());
    assert!(Probability::new(dec("-0.1")).is_err());
}

#[test]
fn stages_parse_and_carry_defaults() {
    assert_eq!("closed_won".parse::<Stage>(), Ok(Stage::ClosedWon));
    assert!("won".parse::<Stage>().is_err());
    assert_eq!(Stage::Negotiation.default_probability().value(), dec("0.7"));
    assert_eq!(Stage::ClosedWon.default_probability().value(), dec("1"));
}

#[test]
fn text_fields_carry_their_bounds_and_name_them_in_messages() {
    for (field, max) in [
        (TextField::COMPANY, 200),
        (TextField::INDUSTRY, 50),
        (TextField::POSITION, 100),
        (TextField::SOURCE, 50),
        (TextField::SUBJECT, 200),
        (TextField::CATEGORY, 50),
        (TextField::NOTES, 5000),
        (TextField::REASON, 500),
    ] {
        assert_eq!(field.max_chars(), max);
        assert!(field.parse(&"字".repeat(max)).is_ok(), "{}", field.name());
        let error = field.parse(&"字".repeat(max + 1)).expect_err(field.name());
        assert_eq!(
            error.0,
            format!(
                "{} must be at most {max} characters (got {})",
                field.name(),
                max + 1
            )
        );
    }
}

#[test]
fn only_notes_and_reasons_span_lines() {
    for field in [
        TextField::COMPANY,
        TextField::INDUSTRY,
        TextField::POSITION,
        TextField::SOURCE,
        TextField::SUBJECT,
        TextField::CATEGORY,
    ] {
        assert!(field.parse("a\nb").is_err(), "{}", field.name());
    }
    for field in [TextField::NOTES, TextField::REASON] {
        assert!(field.parse("a\nb").is_ok(), "{}", field.name());
    }
}
