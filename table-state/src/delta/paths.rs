//! Where the files named by Delta actions are: `add`/`remove`/`cdc` paths (URIs relative to
//! the table root, or absolute) and deletion vector descriptors (protocol "Deletion
//! Vectors", "Deletion Vector Format").

/// A file named by the log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Location {
    /// Relative to the table root, percent-decoded: the name on disk.
    Relative(String),
    /// An absolute URI (`s3://…`, `file:///…`, `/…`), as written in the log.
    Absolute(String),
}

/// Resolves an action's `path`: an RFC 2396 URI, absolute or relative to the table root.
///
/// A relative path is percent-decoded exactly once: a partition value `a b` is the
/// directory `k=a%20b` on disk and `k=a%2520b` in the log.
pub(crate) fn location(uri: &str) -> Result<Location, String> {
    if uri.is_empty() {
        return Err("empty path".into());
    }
    if has_scheme(uri) || uri.starts_with('/') {
        return Ok(Location::Absolute(uri.to_owned()));
    }
    let decoded = percent_decode(uri)?;
    // A path that climbs out of the table would make us pack (or report missing) files of
    // some other directory.
    if decoded
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
        || decoded.starts_with('/')
        || decoded.ends_with('/')
    {
        return Err(format!(
            "path {uri:?} does not name a file inside the table"
        ));
    }
    Ok(Location::Relative(decoded))
}

/// Whether `uri` starts with a scheme (`scheme ":"`, RFC 2396 section 3.1). A relative
/// path whose first segment holds a colon cannot be told apart from one, which is why
/// writers percent-encode `:` (`k=x%3Ay` on disk).
fn has_scheme(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Decodes `%XX` escapes once; everything else is kept as is (`+` stays `+`).
pub(crate) fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("path {text:?} has a bad percent escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("path {text:?} does not decode to UTF-8"))
}

/// A deletion vector descriptor (`add.deletionVector`, `remove.deletionVector`), as far
/// as finding its file and telling logical files apart go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletionVector {
    /// `u` (relative, UUID-named file), `p` (absolute path) or `i` (inline).
    pub storage_type: String,
    /// Random prefix + Z85 UUID (`u`), the path (`p`) or the Z85 bitmap (`i`).
    pub path_or_inline_dv: String,
    /// Where the vector starts in its file.
    pub offset: Option<i64>,
}

impl DeletionVector {
    /// `uniqueId` (protocol "Derived Fields"): with the data file's path, the key of a
    /// logical file.
    pub(crate) fn unique_id(&self) -> String {
        match self.offset {
            Some(offset) => format!("{}{}@{offset}", self.storage_type, self.path_or_inline_dv),
            None => format!("{}{}", self.storage_type, self.path_or_inline_dv),
        }
    }

    /// The file holding the vector; `None` for an inline vector.
    pub(crate) fn location(&self) -> Result<Option<Location>, String> {
        match self.storage_type.as_str() {
            "u" => {
                let text = &self.path_or_inline_dv;
                let split = text
                    .len()
                    .checked_sub(UUID_Z85_LEN)
                    .filter(|&at| text.is_char_boundary(at))
                    .ok_or_else(|| {
                        format!("deletion vector {text:?} is shorter than a Z85 UUID")
                    })?;
                let (prefix, encoded) = text.split_at(split);
                let uuid = z85_uuid(encoded).ok_or_else(|| {
                    format!("deletion vector {text:?} does not end in a Z85 UUID")
                })?;
                let name = format!("deletion_vector_{uuid}.bin");
                let relative = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                if relative
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..")
                {
                    return Err(format!(
                        "deletion vector prefix {prefix:?} is not a directory name"
                    ));
                }
                Ok(Some(Location::Relative(relative)))
            }
            "p" => location(&self.path_or_inline_dv).map(Some),
            "i" => Ok(None),
            other => Err(format!("unknown deletion vector storage type {other:?}")),
        }
    }
}

/// A UUID's 16 bytes are 20 Z85 characters.
const UUID_Z85_LEN: usize = 20;

/// The Z85 alphabet (ZeroMQ RFC 32), the base85 variant Delta uses.
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Decodes 20 Z85 characters into a UUID in its canonical textual form.
fn z85_uuid(encoded: &str) -> Option<String> {
    let bytes = z85_decode(encoded)?;
    if bytes.len() != 16 {
        return None;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Z85: every 5 characters are one big-endian 32-bit word.
fn z85_decode(encoded: &str) -> Option<Vec<u8>> {
    let encoded = encoded.as_bytes();
    if !encoded.len().is_multiple_of(5) {
        return None;
    }
    let mut out = Vec::with_capacity(encoded.len() / 5 * 4);
    for chunk in encoded.chunks(5) {
        let mut word: u64 = 0;
        for &c in chunk {
            let digit = Z85.iter().position(|&z| z == c)?;
            word = word * 85 + digit as u64;
        }
        let word = u32::try_from(word).ok()?;
        out.extend_from_slice(&word.to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_decoded_once() {
        assert_eq!(
            location("region=x%253Ay%252Fz%2525/part-0.parquet"),
            Ok(Location::Relative(
                "region=x%3Ay%2Fz%25/part-0.parquet".into()
            ))
        );
        assert_eq!(
            location("k=a%20b+c/part-0.parquet"),
            Ok(Location::Relative("k=a b+c/part-0.parquet".into()))
        );
        assert_eq!(
            location("k=%C3%BC/f.parquet"),
            Ok(Location::Relative("k=ü/f.parquet".into()))
        );
    }

    #[test]
    fn absolute_paths_are_kept_as_written() {
        for uri in [
            "s3://bucket/t/part-0.parquet",
            "file:///tmp/t/part-0.parquet",
            "file:/tmp/t/part-0.parquet",
            "abfss://c@a.dfs.core.windows.net/t/p.parquet",
            "/tmp/t/part-0.parquet",
        ] {
            assert_eq!(location(uri), Ok(Location::Absolute(uri.into())), "{uri}");
        }
        // A colon after a character that cannot be in a scheme is part of a name.
        assert_eq!(
            location("k=x:y/part-0.parquet"),
            Ok(Location::Relative("k=x:y/part-0.parquet".into()))
        );
    }

    #[test]
    fn bad_paths_are_errors() {
        for uri in [
            "",
            "a%2",
            "a%zz/b",
            "%FF.parquet",
            "../outside.parquet",
            "a/%2E%2E/b",
            "dir/",
        ] {
            assert!(location(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn relative_deletion_vector_file_name_follows_the_protocol_example() {
        // PROTOCOL.md, "JSON Example 1 — On Disk with Relative Path (with Random Prefix)".
        let dv = DeletionVector {
            storage_type: "u".into(),
            path_or_inline_dv: "ab^-aqEH.-t@S}K{vb[*k^".into(),
            offset: Some(4),
        };
        assert_eq!(
            dv.location(),
            Ok(Some(Location::Relative(
                "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin".into()
            )))
        );
        assert_eq!(dv.unique_id(), "uab^-aqEH.-t@S}K{vb[*k^@4");
        let no_prefix = DeletionVector {
            path_or_inline_dv: "^-aqEH.-t@S}K{vb[*k^".into(),
            offset: None,
            ..dv
        };
        assert_eq!(
            no_prefix.location(),
            Ok(Some(Location::Relative(
                "deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin".into()
            )))
        );
    }

    #[test]
    fn other_deletion_vector_kinds() {
        let inline = DeletionVector {
            storage_type: "i".into(),
            path_or_inline_dv: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L".into(),
            offset: None,
        };
        assert_eq!(inline.location(), Ok(None));
        let absolute = DeletionVector {
            storage_type: "p".into(),
            path_or_inline_dv: "s3://t/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"
                .into(),
            offset: Some(1),
        };
        assert!(matches!(
            absolute.location(),
            Ok(Some(Location::Absolute(_)))
        ));
        for (kind, text) in [
            ("u", "short"),
            ("u", "ab~~~~~~~~~~~~~~~~~~~~"),
            ("x", "whatever"),
        ] {
            let dv = DeletionVector {
                storage_type: kind.into(),
                path_or_inline_dv: text.into(),
                offset: None,
            };
            assert!(dv.location().is_err(), "{kind} {text}");
        }
    }

    #[test]
    fn z85_round_trips_the_zeromq_test_vector() {
        // ZeroMQ RFC 32: "HelloWorld" encodes 0x86 0x4F 0xD2 0x6F 0xB5 0x59 0xF7 0x5B.
        assert_eq!(
            z85_decode("HelloWorld"),
            Some(vec![0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
        );
        assert_eq!(z85_decode("#####"), None); // above u32::MAX
        assert_eq!(z85_decode("abcd"), None);
    }
}
