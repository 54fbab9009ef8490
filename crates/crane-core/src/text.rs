//! Cutting text to a length in bytes without splitting a character, for every place that bounds user-controlled
//! text (probe output, quoted keys in messages). Slicing a `str` inside a multibyte character panics.

/// The largest index at most `index` that falls on a character boundary of `text` (what the unstable
/// `str::floor_char_boundary` returns).
pub fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    // Index 0 is always a boundary, so this ends.
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Shortens `text` to at most `max` bytes, cutting before a character that would straddle the limit.
pub fn truncate_on_char_boundary(text: &mut String, max: usize) {
    let end = floor_char_boundary(text, max);
    text.truncate(end);
}

/// `text` cut to at most `max` bytes, before a character that would straddle the limit.
pub fn truncate(text: &str, max: usize) -> &str {
    &text[..floor_char_boundary(text, max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_before_a_character_that_straddles_the_limit() {
        // "é" is two bytes: at 3..5 it straddles a limit of 4.
        let mut text = "abcé".to_string();
        truncate_on_char_boundary(&mut text, 4);
        assert_eq!(text, "abc");
        let mut text = "abcé".to_string();
        truncate_on_char_boundary(&mut text, 5);
        assert_eq!(text, "abcé");
        assert_eq!(floor_char_boundary("€", 2), 0);
        assert_eq!(floor_char_boundary("ab", 10), 2);
    }
}
