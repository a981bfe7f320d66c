//! Text normalisation shared by capture and restore.

/// Collapses runs of whitespace to one space, trims, and keeps at most
/// `max` characters. Stops reading early, so huge texts cost little.
pub fn collapse(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if count >= max {
            break;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if count + 1 >= max {
                break;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// [`collapse`], `None` when nothing is left.
pub fn non_empty(text: &str, max: usize) -> Option<String> {
    Some(collapse(text, max)).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_and_caps() {
        assert_eq!(collapse("  Your \n\t name  ", 100), "Your name");
        assert_eq!(collapse("abc def", 5), "abc d");
        assert_eq!(collapse("abc def", 4), "abc");
        assert_eq!(non_empty(" \n ", 10), None);
    }
}
