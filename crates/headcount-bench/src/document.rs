//! `--write FILE`: the results section of a document (docs/PERFORMANCE.md), rewritten from one
//! run, between two markers; the text around them is left as it is.

/// The line that opens the generated section.
pub(crate) const BEGIN: &str =
    "<!-- results: begin (written by `headcount-bench --write`; edit the text outside) -->";
/// The line that closes it.
pub(crate) const END: &str = "<!-- results: end -->";

/// Where the section sits: the byte range between the end of [`BEGIN`] and the start of [`END`].
///
/// # Errors
///
/// A marker missing, present more than once, or the end before the beginning.
pub(crate) fn section_range(doc: &str) -> Result<std::ops::Range<usize>, String> {
    let find_once = |marker: &str| match doc.match_indices(marker).collect::<Vec<_>>()[..] {
        [(at, _)] => Ok(at),
        [] => Err(format!("the marker line `{marker}` is missing")),
        _ => Err(format!("the marker line `{marker}` appears more than once")),
    };
    let begin = find_once(BEGIN)? + BEGIN.len();
    let end = find_once(END)?;
    if end < begin {
        return Err(format!("`{END}` comes before `{BEGIN}`"));
    }
    Ok(begin..end)
}

/// `doc` with the text between the markers replaced by `section`.
///
/// # Errors
///
/// As [`section_range`].
pub(crate) fn replace_section(doc: &str, section: &str) -> Result<String, String> {
    let range = section_range(doc)?;
    let section = section.trim_matches('\n');
    Ok(format!(
        "{}\n\n{section}\n\n{}",
        &doc[..range.start],
        &doc[range.end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(inner: &str) -> String {
        format!("# Title\n\nMethod text.\n\n{BEGIN}{inner}{END}\n\n## After\n\nMore.\n")
    }

    #[test]
    fn replaces_only_the_text_between_the_markers() {
        let old = doc("\n\nold figures\n| a | b |\n\n");
        let new = replace_section(&old, "new figures\n").unwrap();
        assert_eq!(new, doc("\n\nnew figures\n\n"));
        // Idempotent: a second run with the same figures changes nothing.
        assert_eq!(replace_section(&new, "new figures").unwrap(), new);
    }

    #[test]
    fn refuses_a_document_without_both_markers() {
        let missing_end = format!("text\n{BEGIN}\nfigures\n");
        assert!(replace_section(&missing_end, "x")
            .unwrap_err()
            .contains("missing"));
        assert!(replace_section("no markers at all", "x")
            .unwrap_err()
            .contains("missing"));
    }

    #[test]
    fn refuses_repeated_or_reversed_markers() {
        let twice = format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n");
        assert!(replace_section(&twice, "x")
            .unwrap_err()
            .contains("more than once"));
        let reversed = format!("{END}\nfigures\n{BEGIN}\n");
        assert!(replace_section(&reversed, "x")
            .unwrap_err()
            .contains("before"));
    }
}
