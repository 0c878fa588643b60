//! Entry names: decoding (UTF-8, Info-ZIP Unicode path, CP437) and the safety rules that
//! every name must pass before anything is listed as extractable or written to disk.

use crate::{Error, Result};

/// The upper half of code page 437, which APPNOTE (appendix D) names as the encoding of
/// names without the UTF-8 flag.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ',
    'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ',
    'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕',
    '╣', '║', '╗', '╝', '╜', '╛', '┐', '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦',
    '╠', '═', '╬', '╧', '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐',
    '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', '≡', '±',
    '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
];

/// Decodes a stored name.
///
/// An Info-ZIP Unicode path field whose CRC matches the raw name wins, with or without
/// the UTF-8 flag (bit 11): the CRC proves it describes this very name, and some writers
/// set the flag on a placeholder raw name. Otherwise, with the flag the name must be
/// valid UTF-8; without it, valid UTF-8 is taken as is (many tools write UTF-8 without
/// setting the flag); anything else is CP437.
pub fn decode(raw: &[u8], utf8_flag: bool, unicode_path: Option<&(u32, String)>) -> Result<String> {
    if let Some((crc, name)) = unicode_path
        && *crc == crc32fast::hash(raw)
    {
        return Ok(name.clone());
    }
    if utf8_flag {
        return String::from_utf8(raw.to_vec()).map_err(|_| Error::UnsafeName {
            name: String::from_utf8_lossy(raw).into_owned(),
            reason: "flagged as UTF-8 but is not valid UTF-8",
        });
    }
    if let Ok(s) = std::str::from_utf8(raw) {
        return Ok(s.to_owned());
    }
    Ok(raw
        .iter()
        .map(|&b| {
            if b < 0x80 {
                char::from(b)
            } else {
                CP437_HIGH[usize::from(b - 0x80)]
            }
        })
        .collect())
}

/// The longest name a ZIP header can hold: its length is a 16-bit field.
pub const MAX_LEN: usize = u16::MAX as usize;

/// Checks that a name is a relative, `/`-separated path that stays inside the extraction
/// directory: not empty, no NUL or control characters, no backslash, not absolute, no
/// drive letter, no `.` or `..` or empty components. A trailing `/` marks a directory.
/// It must also fit a header's name field ([`MAX_LEN`] bytes of UTF-8), which is what
/// keeps the writer from writing a name whose length field wraps.
pub fn check_safe(name: &str) -> Result<()> {
    let unsafe_name = |reason| {
        Err(Error::UnsafeName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return unsafe_name("empty name");
    }
    if name.len() > MAX_LEN {
        return unsafe_name("longer than the 65,535 bytes a zip name can hold");
    }
    if name.chars().any(|c| c.is_control()) {
        return unsafe_name("contains a control character");
    }
    if name.contains('\\') {
        return unsafe_name("contains a backslash (zip names use '/')");
    }
    if name.starts_with('/') {
        return unsafe_name("absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return unsafe_name("starts with a drive letter");
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    for component in body.split('/') {
        match component {
            "" => return unsafe_name("empty path component"),
            "." => return unsafe_name("'.' path component"),
            ".." => return unsafe_name("'..' path component escapes the target directory"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_and_unsafe_names() {
        for ok in ["a", "a/b.parquet", "dir/", "k=a+b%3Ac/x", "é/ü"] {
            assert!(check_safe(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "C:x",
            "c:/x",
            "a//b",
            "./a",
            "a\0b",
            "..",
            "a/..",
        ] {
            assert!(check_safe(bad).is_err(), "{bad:?}");
        }
    }

    /// Found by fuzzing (`tests/fuzz_regressions/roundtrip/name-longer-than-65535-bytes`):
    /// the writer accepted a 140,001-byte name and wrote its length modulo 65,536, so
    /// the archive it produced was corrupt.
    #[test]
    fn names_longer_than_the_header_field_are_refused() {
        assert!(check_safe(&"n".repeat(MAX_LEN)).is_ok());
        let err = check_safe(&"n".repeat(MAX_LEN + 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("65,535"), "{err}");
        let mut writer = crate::write::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let meta = crate::write::MemberMeta {
            name: "n".repeat(140_001),
            mtime: 0,
            mode: 0o644,
        };
        assert!(writer.add_bytes(meta, b"x").is_err());
    }

    #[test]
    fn cp437_fallback() {
        assert_eq!(decode(&[0x80, b'a'], false, None).unwrap(), "Ça");
        assert!(decode(&[0xff], true, None).is_err());
        let up = (crc32fast::hash(b"x"), "ÿ".to_owned());
        assert_eq!(decode(b"x", false, Some(&up)).unwrap(), "ÿ");
        // The Unicode path field wins over a flagged raw name too (yauzl's
        // unicode-path-extra-field.zip), but only when its CRC matches.
        assert_eq!(decode(b"x", true, Some(&up)).unwrap(), "ÿ");
        let stale = (crc32fast::hash(b"y"), "ÿ".to_owned());
        assert_eq!(decode(b"x", true, Some(&stale)).unwrap(), "x");
    }
}
