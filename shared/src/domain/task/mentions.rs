//! `@<email>` mentions written in a task's title or description.

use crate::domain::Email;

/// At most this many addresses are taken from a task's text: each one is a
/// lookup, and a task mentions at most `MAX_MENTIONS` people anyway.
pub const MAX_TEXT_MENTIONS: usize = 20;

/// The distinct addresses written as `@<email>` in `texts`, lowercased, in
/// order of appearance. An `@` must start a word (so the `@` inside a plain
/// address is not a mention), and punctuation that ends a sentence or a
/// parenthesis after the address is not part of it.
pub fn mentioned_emails(texts: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for text in texts {
        let mut previous = ' ';
        for (at, c) in text.char_indices() {
            let starts_word = !(previous.is_alphanumeric() || previous == '@');
            previous = c;
            if c != '@' || !starts_word {
                continue;
            }
            let rest = &text[at + 1..];
            let end = rest.find(is_separator).unwrap_or(rest.len());
            let candidate = rest[..end].trim_end_matches(|c: char| ".,!?;:)]}>'\"".contains(c));
            if let Ok(email) = Email::parse(candidate)
                && !found.iter().any(|f| f == email.as_str())
            {
                found.push(email.as_str().to_owned());
                if found.len() == MAX_TEXT_MENTIONS {
                    return found;
                }
            }
        }
    }
    found
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || "<>()[]{},;\"'".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_at_email_in_either_text_is_a_mention() {
        assert_eq!(
            mentioned_emails(&["Ask @Ana@Example.com", "and @bo@example.org."]),
            ["ana@example.com", "bo@example.org"]
        );
    }

    #[test]
    fn a_plain_address_is_not_a_mention() {
        assert!(mentioned_emails(&["mail ana@example.com"]).is_empty());
    }

    #[test]
    fn trailing_punctuation_and_parentheses_are_not_part_of_the_address() {
        assert_eq!(
            mentioned_emails(&["(cc @ana@example.com), ok? @bo@example.org!"]),
            ["ana@example.com", "bo@example.org"]
        );
    }

    #[test]
    fn repeated_mentions_count_once_and_non_addresses_are_ignored() {
        assert_eq!(
            mentioned_emails(&["@ana@example.com @team @ana@EXAMPLE.com @ @x@"]),
            ["ana@example.com"]
        );
    }

    #[test]
    fn at_most_the_cap_of_addresses_is_taken() {
        let text: String = (0..30).map(|i| format!("@u{i}@example.com ")).collect();
        assert_eq!(mentioned_emails(&[&text]).len(), MAX_TEXT_MENTIONS);
    }
}
