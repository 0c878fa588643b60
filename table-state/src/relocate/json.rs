//! Rewriting chosen string values of JSON text in place: every byte outside the replaced
//! strings is kept (key order, number spelling, whitespace, escapes), which a parse and
//! re-serialisation cannot promise (`serde_json` sorts keys unless `preserve_order`, and
//! may respell numbers and escapes).

use crate::{Error, Result};

/// One step of the way from a document's root to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// Whether `path` is `pattern`, where `None` in the pattern matches any array index.
pub(super) fn path_is(path: &[Step], pattern: &[Option<&str>]) -> bool {
    path.len() == pattern.len()
        && path
            .iter()
            .zip(pattern)
            .all(|(step, want)| match (step, want) {
                (Step::Key(key), Some(want)) => key == want,
                (Step::Index(_), None) => true,
                _ => false,
            })
}

/// Deepest nesting accepted (serde_json itself stops at 128).
const MAX_DEPTH: usize = 256;

/// Calls `select(document, path, value)` for every string value (not object keys) in
/// `text`, which holds one or more JSON documents separated by whitespace (a JSON file, or
/// newline-delimited JSON, `document` counting from 0). Where `select` returns a new value
/// that differs, the string is replaced, JSON-escaped. Returns the new text, or `None` when
/// nothing was replaced. `file` names the file in errors.
pub(super) fn rewrite_strings(
    file: &str,
    text: &[u8],
    mut select: impl FnMut(usize, &[Step], &str) -> Option<String>,
) -> Result<Option<Vec<u8>>> {
    let invalid = |reason: String| Error::Invalid {
        path: file.to_owned(),
        reason,
    };
    // Validate first, so the scanner below only ever sees well-formed JSON.
    for document in serde_json::Deserializer::from_slice(text).into_iter::<serde::de::IgnoredAny>()
    {
        document.map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    }
    let mut scanner = Scanner {
        text,
        at: 0,
        edits: Vec::new(),
        path: Vec::new(),
        document: 0,
    };
    loop {
        scanner.skip_whitespace();
        if scanner.at >= text.len() {
            break;
        }
        scanner.value(&mut select, 0).map_err(invalid)?;
        scanner.document += 1;
    }
    if scanner.edits.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(text.len() + 64 * scanner.edits.len());
    let mut copied = 0;
    for (start, end, replacement) in &scanner.edits {
        out.extend_from_slice(&text[copied..*start]);
        out.extend_from_slice(replacement.as_bytes());
        copied = *end;
    }
    out.extend_from_slice(&text[copied..]);
    Ok(Some(out))
}

struct Scanner<'t> {
    text: &'t [u8],
    at: usize,
    /// `(start, end, replacement)` byte ranges of string tokens, in order.
    edits: Vec<(usize, usize, String)>,
    path: Vec<Step>,
    document: usize,
}

type Select<'s> = dyn FnMut(usize, &[Step], &str) -> Option<String> + 's;

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> std::result::Result<(), String> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at byte {}",
                char::from(byte),
                self.at
            ))
        }
    }

    /// A string token starting at the current `"`: its decoded value and byte range.
    fn string(&mut self) -> std::result::Result<(String, usize, usize), String> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => self.at += 2,
                Some(_) => self.at += 1,
                None => return Err(format!("unterminated string at byte {start}")),
            }
        }
        self.at += 1;
        let token = self.text.get(start..self.at).unwrap_or_default();
        let value: String = serde_json::from_slice(token)
            .map_err(|e| format!("bad string at byte {start}: {e}"))?;
        Ok((value, start, self.at))
    }

    fn value(&mut self, select: &mut Select<'_>, depth: usize) -> std::result::Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.skip_whitespace();
        match self.peek() {
            Some(b'"') => {
                let (value, start, end) = self.string()?;
                if let Some(new) = select(self.document, &self.path, &value)
                    && new != value
                {
                    let encoded = serde_json::to_string(&new).map_err(|e| e.to_string())?;
                    self.edits.push((start, end, encoded));
                }
            }
            Some(b'{') => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(());
                }
                loop {
                    self.skip_whitespace();
                    if self.peek() != Some(b'"') {
                        return Err(format!("expected a key at byte {}", self.at));
                    }
                    let (key, _, _) = self.string()?;
                    self.expect(b':')?;
                    self.path.push(Step::Key(key));
                    self.value(select, depth + 1)?;
                    self.path.pop();
                    self.skip_whitespace();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            break;
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(());
                }
                let mut index = 0;
                loop {
                    self.path.push(Step::Index(index));
                    self.value(select, depth + 1)?;
                    self.path.pop();
                    index += 1;
                    self.skip_whitespace();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            break;
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.at)),
                    }
                }
            }
            Some(_) => {
                // A number, `true`, `false` or `null`: runs to the next delimiter.
                let start = self.at;
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.at += 1;
                }
                if self.at == start {
                    return Err(format!("expected a value at byte {start}"));
                }
            }
            None => return Err("unexpected end of JSON".to_owned()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selected_strings_change_and_everything_else_is_kept() {
        let text = br#"{"b": 1.50, "location":"s3://a/t", "n": 9223372036854775807,
            "list": [ {"p": "s3://a/t/x", "q": "s3://a/t/y"}, "s3://a/t/z" ], "esc": "\u00e9\/"}"#;
        let out = rewrite_strings("f", text, |_, path, value| {
            let wanted = path_is(path, &[Some("location")])
                || path_is(path, &[Some("list"), None, Some("p")]);
            wanted.then(|| value.replace("s3://a", "file:///new \"dir\""))
        })
        .unwrap()
        .unwrap();
        let expected = br#"{"b": 1.50, "location":"file:///new \"dir\"/t", "n": 9223372036854775807,
            "list": [ {"p": "file:///new \"dir\"/t/x", "q": "s3://a/t/y"}, "s3://a/t/z" ], "esc": "\u00e9\/"}"#;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected.to_vec()).unwrap()
        );
    }

    #[test]
    fn newline_delimited_documents_are_counted() {
        let text = b"{\"add\":{\"path\":\"a\"}}\n{\"add\":{\"path\":\"b\"}}\n";
        let mut seen = Vec::new();
        let out = rewrite_strings("f", text, |document, path, value| {
            seen.push((document, path.to_vec(), value.to_owned()));
            None
        })
        .unwrap();
        assert_eq!(out, None);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, 1);
        assert_eq!(seen[1].2, "b");
    }

    #[test]
    fn unchanged_values_are_no_edit() {
        let text = br#"{"a":"x"}"#;
        assert_eq!(
            rewrite_strings("f", text, |_, _, v| Some(v.to_owned())).unwrap(),
            None
        );
    }

    #[test]
    fn invalid_json_is_an_error_naming_the_file() {
        let error = rewrite_strings("meta.json", b"{\"a\":", |_, _, _| None).unwrap_err();
        assert!(
            error.to_string().starts_with("meta.json: invalid JSON"),
            "{error}"
        );
    }
}
