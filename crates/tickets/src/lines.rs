//! Splitting file bytes into lines without copying them.

/// One line of a file, without its `\n` or `\r\n` ending.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line<'a> {
    /// The 1-based line number.
    pub number: usize,
    /// The byte offset of the line's first byte in the file.
    pub start: usize,
    /// The line's bytes, without the line ending.
    pub text: &'a [u8],
    /// The byte offset just past the line ending: where the next line starts.
    pub end: usize,
}

/// An iterator over the lines of a byte slice.
///
/// A trailing line without `\n` is yielded only when `complete` is set: when
/// the slice is the whole file rather than its first bytes, because otherwise
/// the rest of that line has not been read yet.
pub(crate) struct Lines<'a> {
    bytes: &'a [u8],
    position: usize,
    number: usize,
    complete: bool,
}

impl<'a> Lines<'a> {
    pub fn new(bytes: &'a [u8], complete: bool) -> Lines<'a> {
        Lines {
            bytes,
            position: 0,
            number: 0,
            complete,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let start = self.position;
        let rest = self.bytes.get(start..).filter(|rest| !rest.is_empty())?;
        let mut text = match rest.iter().position(|&byte| byte == b'\n') {
            Some(newline) => {
                self.position = start + newline + 1;
                &rest[..newline]
            }
            None if self.complete => {
                self.position = self.bytes.len();
                rest
            }
            None => return None,
        };
        if let Some(stripped) = text.strip_suffix(b"\r") {
            text = stripped;
        }
        self.number += 1;
        Some(Line {
            number: self.number,
            start,
            text,
            end: self.position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(bytes: &[u8], complete: bool) -> Vec<&[u8]> {
        Lines::new(bytes, complete).map(|line| line.text).collect()
    }

    #[test]
    fn lines_strip_lf_and_crlf() {
        let lines = texts(b"a\r\nb\nc", true);
        assert_eq!(lines, [&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn lines_hold_back_partial_tail() {
        assert_eq!(texts(b"a\nb", false), [&b"a"[..]]);
    }

    #[test]
    fn lines_record_numbers_and_offsets() {
        let lines: Vec<_> = Lines::new(b"ab\ncd\n", true).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[1].number, lines[1].start), (2, 3));
    }
}
