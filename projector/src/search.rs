//! Substring search that works for Chinese whatever the database collation:
//! every two-character window of the searchable text is indexed (GIN), and a
//! query of two or more characters must contain all of its own windows.

/// Lower-cased name, company and phone, separated so no window spans two fields.
pub fn searchable_text<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    fields
        .into_iter()
        .map(|field| field.trim().to_lowercase())
        .filter(|field| !field.is_empty())
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Distinct two-character windows, sorted (deterministic rows for replay tests).
pub fn bigrams(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut grams: Vec<String> = chars
        .windows(2)
        .filter(|pair| !pair.contains(&'\u{1f}'))
        .map(|pair| pair.iter().collect())
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_names_and_companies_yield_two_character_windows() {
        let text = searchable_text(["张三丰", "星辰科技", "13800138000"]);
        let grams = bigrams(&text);
        assert!(grams.contains(&"张三".to_owned()));
        assert!(grams.contains(&"科技".to_owned()));
        assert!(grams.contains(&"00".to_owned()));
        assert!(
            !grams.iter().any(|g| g.contains('\u{1f}')),
            "no window spans fields"
        );
        assert_eq!(bigrams("ab"), vec!["ab".to_owned()]);
        assert!(bigrams("a").is_empty());
    }
}
