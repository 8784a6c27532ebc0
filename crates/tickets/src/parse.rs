//! Parsing the front matter and title of one ticket file.

use std::path::{Path, PathBuf};
use std::str;

use crate::lines::{Line, Lines};
use crate::ticket::DEFAULT_PRIORITY;
use crate::{Status, Ticket, Warning, WarningKind};

/// The line that opens and closes the front matter.
pub(crate) const DELIMITER: &[u8] = b"---";

/// A first line that would open the front matter but for the UTF-8 byte
/// order mark before it.
const BOM_DELIMITER: &[u8] = b"\xEF\xBB\xBF---";

/// The extent of the bytes handed to [`parse`], relative to the whole file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The file may go on past these bytes.
    More,
    /// These bytes are the whole file.
    Eof,
    /// The file may go on, but the reader will not look further.
    Limit,
}

/// A ticket, or the reason it is skipped, plus problems that do not skip it.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub ticket: Result<Ticket, Warning>,
    pub notes: Vec<Warning>,
}

/// Parses a ticket from the first bytes of the file at `path`.
///
/// The ticket's `path` is left empty for the caller, which owns the path, to
/// fill in; warnings carry a copy. Returns `None` if the front matter or the
/// title may lie past the bytes given, which happens only for [`End::More`].
pub(crate) fn parse(path: &Path, bytes: &[u8], end: End) -> Option<Outcome> {
    let mut lines = Lines::new(bytes, end == End::Eof);
    let mut notes = Vec::new();

    // Editors hide a byte order mark, so the front matter does not open at
    // a first line that looks like `---`. The file is skipped with a warning
    // that names the mark rather than read from its later `---` lines.
    let first = Lines::new(bytes, end == End::Eof).next();
    if first.is_some_and(|line| line.text == BOM_DELIMITER) {
        return skip(path, Some(1), WarningKind::ByteOrderMark);
    }

    // The front matter starts at the first line that is exactly `---`.
    let Some(opening) = lines.by_ref().find(|line| line.text == DELIMITER) else {
        return match end {
            End::More => None,
            End::Eof | End::Limit => skip(path, None, WarningKind::NoFrontMatter),
        };
    };

    let Some(closing) = lines.by_ref().find(|line| line.text == DELIMITER) else {
        let kind = match end {
            End::More => return None,
            End::Eof => WarningKind::UnclosedFrontMatter,
            End::Limit => WarningKind::FrontMatterTooLong,
        };
        return skip(path, Some(opening.number), kind);
    };

    // One UTF-8 check for the whole block costs less than one per line.
    let block = &bytes[opening.end..closing.start];
    let first_field_line = opening.number + 1;
    let text = match str::from_utf8(block) {
        Ok(text) => text,
        Err(error) => {
            let valid = &block[..error.valid_up_to()];
            let line = first_field_line + valid.iter().filter(|&&byte| byte == b'\n').count();
            return skip(path, Some(line), WarningKind::InvalidUtf8);
        }
    };
    let mut fields = Fields::default();
    for (number, line) in (first_field_line..).zip(text.lines()) {
        if let Some(kind) = fields.add(line, number) {
            notes.push(warning(path, Some(number), kind));
        }
    }

    let title = match find_title(&mut lines) {
        Title::Found(title) => title,
        Title::InvalidUtf8(line) => return skip(path, Some(line), WarningKind::InvalidUtf8),
        Title::Missing => match end {
            End::More => return None,
            End::Eof => "",
            End::Limit => {
                notes.push(warning(path, None, WarningKind::TitleTooFar));
                ""
            }
        },
    };

    let ticket = fields.into_ticket(path, title);
    Some(Outcome { ticket, notes })
}

enum Title<'a> {
    Found(&'a str),
    InvalidUtf8(usize),
    Missing,
}

/// Finds the first body line that starts with `# ` and returns the rest of it.
fn find_title<'a>(lines: &mut Lines<'a>) -> Title<'a> {
    let Some(line) = lines.find(|line| line.text.starts_with(b"# ")) else {
        return Title::Missing;
    };
    match str::from_utf8(&line.text[2..]) {
        Ok(title) => Title::Found(title),
        Err(_) => Title::InvalidUtf8(line.number),
    }
}

fn warning(path: &Path, line: Option<usize>, kind: WarningKind) -> Warning {
    Warning {
        path: path.to_path_buf(),
        line,
        kind,
    }
}

fn skip(path: &Path, line: Option<usize>, kind: WarningKind) -> Option<Outcome> {
    Some(Outcome {
        ticket: Err(warning(path, line, kind)),
        notes: Vec::new(),
    })
}

/// Splits a front-matter line into its field name and value.
///
/// A field line is `name: value`, split at the first `": "`; a line `name:`
/// has an empty value. Returns `None` for any other line.
pub(crate) fn split_field(text: &str) -> Option<(&str, &str)> {
    // A byte scan for `:` costs less than a substring search per line.
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = bytes[from..].iter().position(|&byte| byte == b':') {
        let colon = from + offset;
        match bytes.get(colon + 1) {
            Some(b' ') => return Some((&text[..colon], text[colon + 2..].trim())),
            None => return Some((&text[..colon], "")),
            Some(_) => from = colon + 1,
        }
    }
    None
}

/// Returns the front-matter line with the `status` field that tickets are
/// read from: the first one. Returns `None` if the front matter has none or
/// is not closed.
pub(crate) fn find_status_line(bytes: &[u8]) -> Option<Line<'_>> {
    let mut lines = Lines::new(bytes, true);
    lines.by_ref().find(|line| line.text == DELIMITER)?;
    let mut status = None;
    for line in lines {
        if line.text == DELIMITER {
            return status;
        }
        let field = str::from_utf8(line.text).ok().and_then(split_field);
        if status.is_none() && field.is_some_and(|(name, _)| name == "status") {
            status = Some(line);
        }
    }
    None
}

/// Splits a one-line list such as `[a, b, c]` into its items.
fn parse_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace()))
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A field value and the line it was read from.
type Field<'a> = Option<(usize, &'a str)>;

/// The front-matter fields that make up a [`Ticket`], as first seen.
#[derive(Default)]
struct Fields<'a> {
    id: Field<'a>,
    status: Field<'a>,
    priority: Field<'a>,
    deps: Field<'a>,
    links: Field<'a>,
    tags: Field<'a>,
    assignee: Field<'a>,
}

impl<'a> Fields<'a> {
    /// Records one front-matter line, returning a problem that does not skip the ticket.
    fn add(&mut self, text: &'a str, number: usize) -> Option<WarningKind> {
        let Some((name, value)) = split_field(text) else {
            return (!text.trim().is_empty()).then_some(WarningKind::NotAField);
        };
        let slot = match name {
            "id" => &mut self.id,
            "status" => &mut self.status,
            "priority" => &mut self.priority,
            "deps" => &mut self.deps,
            "links" => &mut self.links,
            "tags" => &mut self.tags,
            "assignee" => &mut self.assignee,
            _ => return None,
        };
        if let Some((first_line, _)) = *slot {
            let name = name.to_owned();
            return Some(WarningKind::DuplicateField { name, first_line });
        }
        *slot = Some((number, value));
        None
    }

    fn into_ticket(self, path: &Path, title: &str) -> Result<Ticket, Warning> {
        let invalid = |line, kind| Err(warning(path, line, kind));

        let id = match self.id {
            Some((_, id)) if !id.is_empty() => id,
            _ => return invalid(None, WarningKind::MissingId),
        };
        let status = match self.status {
            None => return invalid(None, WarningKind::MissingStatus),
            Some((line, text)) => match Status::parse(text) {
                Some(status) => status,
                None => return invalid(Some(line), WarningKind::UnknownStatus(text.to_owned())),
            },
        };
        let priority = match self.priority {
            None | Some((_, "")) => DEFAULT_PRIORITY,
            Some((line, text)) => match parse_priority(text) {
                Some(priority) => priority,
                None => return invalid(Some(line), WarningKind::InvalidPriority(text.to_owned())),
            },
        };

        Ok(Ticket {
            id: id.to_owned(),
            status,
            priority,
            title: title.to_owned(),
            deps: list(self.deps),
            links: list(self.links),
            tags: list(self.tags),
            assignee: text(self.assignee),
            path: PathBuf::new(),
        })
    }
}

/// Parses a priority written as ASCII digits only.
fn parse_priority(text: &str) -> Option<u32> {
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn list(field: Field<'_>) -> Vec<String> {
    field
        .map(|(_, value)| parse_list(value))
        .unwrap_or_default()
}

fn text(field: Field<'_>) -> Option<String> {
    field
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_whole(text: &str) -> Result<Ticket, Warning> {
        let outcome = parse(Path::new("t.md"), text.as_bytes(), End::Eof);
        outcome.expect("a whole file never needs more").ticket
    }

    #[test]
    fn list_drops_brackets_and_spaces() {
        assert_eq!(parse_list("[a, b,c ]"), ["a", "b", "c"]);
        assert!(parse_list("[]").is_empty());
        assert!(parse_list("").is_empty());
    }

    #[test]
    fn field_splits_at_first_colon_space() {
        assert_eq!(split_field("title: a: b"), Some(("title", "a: b")));
        assert_eq!(split_field("deps:"), Some(("deps", "")));
        assert_eq!(split_field("deps:[a]"), None);
        assert_eq!(split_field("a:b: c"), Some(("a:b", "c")));
        assert_eq!(split_field("a:b:"), Some(("a:b", "")));
    }

    #[test]
    fn priority_defaults_to_two() {
        let ticket = parse_whole("---\nid: a\nstatus: open\n---\n# T\n").unwrap();
        assert_eq!(ticket.priority, 2);
        assert_eq!(ticket.title, "T");
    }

    #[test]
    fn priority_rejects_signs() {
        let error = parse_whole("---\nid: a\nstatus: open\npriority: +1\n---\n").unwrap_err();
        assert_eq!(error.kind, WarningKind::InvalidPriority("+1".into()));
        assert_eq!(error.line, Some(4));
    }

    #[test]
    fn priority_rejects_minus_sign() {
        let error = parse_whole("---\nid: a\nstatus: open\npriority: -1\n---\n").unwrap_err();
        assert_eq!(error.kind, WarningKind::InvalidPriority("-1".into()));
        let message = error.kind.to_string();
        assert!(message.contains("0 or above"), "{message}");
        assert!(!message.contains("not a whole number"), "{message}");
    }

    #[test]
    fn byte_order_mark_before_delimiter_is_reported() {
        let text = "\u{feff}---\nid: a\nstatus: open\n---\n# T\n";
        let error = parse_whole(text).unwrap_err();
        assert_eq!(error.kind, WarningKind::ByteOrderMark);
        assert_eq!(error.line, Some(1));
    }

    #[test]
    fn byte_order_mark_before_other_text_is_ignored() {
        let text = "\u{feff}notes\n---\nid: a\nstatus: open\n---\n# T\n";
        let ticket = parse_whole(text).unwrap();
        assert_eq!(ticket.id, "a");
    }

    #[test]
    fn partial_head_needs_more() {
        let head = b"---\nid: a\nstatus: open\n---\nbody without title\n";
        let outcome = parse(Path::new("t.md"), head, End::More);
        assert!(outcome.is_none());
    }

    #[test]
    fn status_line_is_first_in_front_matter() {
        let text = b"status: x\n---\nid: a\nstatus: open\n---\nstatus: body\n";
        let line = find_status_line(text).unwrap();
        assert_eq!(line.number, 4);
    }
}
