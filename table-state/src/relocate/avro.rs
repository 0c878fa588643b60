//! Avro Object Container Files (Iceberg manifest lists and manifests), read and rewritten
//! datum by datum while the file header stays byte for byte as written.
//!
//! The container framing is handled here (Avro 1.11 spec, "Object Container Files"):
//! magic `Obj\x01`, the metadata map, the 16-byte sync marker, then blocks of
//! `(datum count, byte size, codec(datums), sync)`. The `apache-avro` crate only decodes
//! and encodes datums with the writer schema from the header. Keeping the header verbatim
//! keeps `avro.schema` (Iceberg's `field-id`s live there), the codec and every Iceberg key
//! (`schema`, `partition-spec`, `format-version`, `content`, `snapshot-id`, …); a block
//! whose re-encoded datums equal the original bytes is copied unchanged, so an untouched
//! file comes out identical.

use std::collections::BTreeMap;
use std::str::FromStr;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{Codec, Schema};

use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"Obj\x01";
const SYNC_LEN: usize = 16;

/// A parsed container file borrowing the file's bytes.
pub(super) struct Container<'b> {
    file: String,
    /// Magic, metadata map and sync marker, exactly as in the file.
    header: &'b [u8],
    schema: Schema,
    codec: Codec,
    sync: [u8; SYNC_LEN],
    blocks: Vec<Block<'b>>,
}

struct Block<'b> {
    /// Number of datums.
    count: u64,
    /// The codec's output for the block.
    data: &'b [u8],
    /// The whole block as in the file (count, size, data, sync).
    raw: &'b [u8],
}

impl<'b> Container<'b> {
    /// Parses the header and splits the blocks; `file` names the file in errors.
    pub(super) fn parse(file: &str, bytes: &'b [u8]) -> Result<Self> {
        let invalid = |reason: String| Error::Invalid {
            path: file.to_owned(),
            reason,
        };
        let mut cursor = Cursor { bytes, at: 0 };
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(invalid(
                "not an Avro container file (no Obj\\x01 magic)".to_owned(),
            ));
        }
        cursor.at = MAGIC.len();
        let mut metadata = BTreeMap::new();
        loop {
            let count = cursor.long().map_err(&invalid)?;
            if count == 0 {
                break;
            }
            if count < 0 {
                // A negative count is followed by the block's size in bytes.
                cursor.long().map_err(&invalid)?;
            }
            for _ in 0..count.unsigned_abs() {
                let key = cursor.bytes().map_err(&invalid)?;
                let value = cursor.bytes().map_err(&invalid)?;
                let key = String::from_utf8(key.to_vec())
                    .map_err(|_| invalid("header key is not UTF-8".to_owned()))?;
                metadata.insert(key, value.to_vec());
            }
        }
        let sync: [u8; SYNC_LEN] = cursor
            .take(SYNC_LEN)
            .map_err(&invalid)?
            .try_into()
            .map_err(|_| invalid("short sync marker".to_owned()))?;
        let header = &bytes[..cursor.at];

        let schema_text = metadata
            .get("avro.schema")
            .ok_or_else(|| invalid("no avro.schema in the header".to_owned()))?;
        let schema_text = std::str::from_utf8(schema_text)
            .map_err(|_| invalid("avro.schema is not UTF-8".to_owned()))?;
        let schema =
            Schema::parse_str(schema_text).map_err(|e| invalid(format!("avro.schema: {e}")))?;
        let codec_name = match metadata.get("avro.codec") {
            Some(name) => std::str::from_utf8(name)
                .map_err(|_| invalid("avro.codec is not UTF-8".to_owned()))?,
            None => "null",
        };
        let codec = Codec::from_str(codec_name)
            .map_err(|_| invalid(format!("unsupported Avro codec {codec_name:?}")))?;

        let mut blocks = Vec::new();
        while cursor.at < bytes.len() {
            let start = cursor.at;
            let count = cursor.long().map_err(&invalid)?;
            let size = cursor.long().map_err(&invalid)?;
            let (Ok(count), Ok(size)) = (u64::try_from(count), usize::try_from(size)) else {
                return Err(invalid(format!(
                    "negative block count or size at byte {start}"
                )));
            };
            let data = cursor.take(size).map_err(&invalid)?;
            let marker = cursor.take(SYNC_LEN).map_err(&invalid)?;
            if marker != sync {
                return Err(invalid(format!(
                    "sync marker mismatch after the block at byte {start}"
                )));
            }
            blocks.push(Block {
                count,
                data,
                raw: &bytes[start..cursor.at],
            });
        }
        Ok(Container {
            file: file.to_owned(),
            header,
            schema,
            codec,
            sync,
            blocks,
        })
    }

    /// Every datum of the file, decoded with the writer schema.
    pub(super) fn values(&self) -> Result<Vec<Value>> {
        let mut values = Vec::new();
        self.rewrite(|value| {
            values.push(value.clone());
            Ok(())
        })?;
        Ok(values)
    }

    /// Decodes every datum, lets `edit` change it in place, and re-encodes it with the
    /// same schema. Blocks whose datums encode to the original bytes are copied as they
    /// were; changed blocks are compressed again with the file's codec. Returns the new
    /// file, or `None` when no block changed.
    pub(super) fn rewrite(
        &self,
        mut edit: impl FnMut(&mut Value) -> Result<()>,
    ) -> Result<Option<Vec<u8>>> {
        let invalid = |reason: String| Error::Invalid {
            path: self.file.clone(),
            reason,
        };
        let reader = GenericDatumReader::builder(&self.schema)
            .build()
            .map_err(|e| invalid(format!("avro.schema: {e}")))?;
        let writer = GenericDatumWriter::builder(&self.schema)
            .build()
            .map_err(|e| invalid(format!("avro.schema: {e}")))?;
        let mut out = self.header.to_vec();
        let mut changed = false;
        for (number, block) in self.blocks.iter().enumerate() {
            let mut datums = block.data.to_vec();
            self.codec
                .decompress(&mut datums)
                .map_err(|e| invalid(format!("block {number}: {e}")))?;
            let mut cursor = datums.as_slice();
            let mut encoded = Vec::with_capacity(datums.len() + 256);
            for _ in 0..block.count {
                let mut value = reader
                    .read_value(&mut cursor)
                    .map_err(|e| invalid(format!("block {number}: {e}")))?;
                edit(&mut value)?;
                writer
                    .write_value_ref(&mut encoded, &value)
                    .map_err(|e| invalid(format!("block {number}: cannot encode: {e}")))?;
            }
            if !cursor.is_empty() {
                return Err(invalid(format!(
                    "block {number}: {} bytes after its {} datums",
                    cursor.len(),
                    block.count
                )));
            }
            if encoded == datums {
                out.extend_from_slice(block.raw);
                continue;
            }
            changed = true;
            self.codec
                .compress(&mut encoded)
                .map_err(|e| invalid(format!("block {number}: cannot compress: {e}")))?;
            write_long(&mut out, block.count);
            write_long(&mut out, encoded.len() as u64);
            out.extend_from_slice(&encoded);
            out.extend_from_slice(&self.sync);
        }
        Ok(changed.then_some(out))
    }
}

/// The field `name` of a record datum.
pub(super) fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Record(fields) => fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value),
        _ => None,
    }
}

/// The field `name` of a record datum, mutable.
pub(super) fn field_mut<'v>(value: &'v mut Value, name: &str) -> Option<&'v mut Value> {
    match value {
        Value::Record(fields) => fields
            .iter_mut()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value),
        _ => None,
    }
}

/// The value inside a union (`["null", T]` fields), or the value itself.
pub(super) fn unwrap_union(value: &Value) -> &Value {
    match value {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

/// The string a (possibly optional) field holds.
pub(super) fn as_str(value: &Value) -> Option<&str> {
    match unwrap_union(value) {
        Value::String(text) => Some(text),
        _ => None,
    }
}

/// The integer an `int` or `long` (possibly optional) field holds.
pub(super) fn as_long(value: &Value) -> Option<i64> {
    match unwrap_union(value) {
        Value::Int(number) => Some(i64::from(*number)),
        Value::Long(number) => Some(*number),
        _ => None,
    }
}

/// Replaces the string a (possibly optional) string field holds; false if it holds none.
pub(super) fn set_str(value: &mut Value, text: String) -> bool {
    let target = match value {
        Value::Union(_, inner) => inner.as_mut(),
        other => other,
    };
    match target {
        Value::String(old) => {
            *old = text;
            true
        }
        _ => false,
    }
}

/// Replaces the number a (possibly optional) `long` field holds; false if it holds none.
pub(super) fn set_long(value: &mut Value, number: i64) -> bool {
    let target = match value {
        Value::Union(_, inner) => inner.as_mut(),
        other => other,
    };
    match target {
        Value::Long(old) => {
            *old = number;
            true
        }
        _ => false,
    }
}

/// Zig-zag varint, as Avro writes `long`s.
fn write_long(out: &mut Vec<u8>, value: u64) {
    // Block counts and sizes are non-negative: zig-zag of n ≥ 0 is 2n.
    let mut rest = value << 1;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
}

struct Cursor<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Cursor<'b> {
    fn long(&mut self) -> std::result::Result<i64, String> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| format!("truncated number at byte {}", self.at))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(format!(
            "number longer than 10 bytes before byte {}",
            self.at
        ))
    }

    fn take(&mut self, len: usize) -> std::result::Result<&'b [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("truncated: {len} bytes wanted at byte {}", self.at))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn bytes(&mut self) -> std::result::Result<&'b [u8], String> {
        let len = self.long()?;
        let len =
            usize::try_from(len).map_err(|_| format!("negative length at byte {}", self.at))?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trip() {
        for value in [0u64, 1, 63, 64, 127, 128, 300, 1 << 40] {
            let mut out = Vec::new();
            write_long(&mut out, value);
            let mut cursor = Cursor { bytes: &out, at: 0 };
            assert_eq!(cursor.long().unwrap(), value as i64);
            assert_eq!(cursor.at, out.len());
        }
    }

    #[test]
    fn every_fixture_avro_file_re_encodes_identically() {
        let warehouse = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/warehouse/default.db");
        let mut files = 0;
        for table in std::fs::read_dir(&warehouse).unwrap() {
            let metadata = table.unwrap().path().join("metadata");
            for entry in std::fs::read_dir(metadata).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "avro") {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let container = Container::parse(&path.display().to_string(), &bytes).unwrap();
                assert!(matches!(container.codec, Codec::Deflate(_)));
                // Every datum re-encodes to its original bytes: nothing changes.
                assert_eq!(container.rewrite(|_| Ok(())).unwrap(), None);
                assert!(!container.values().unwrap().is_empty());
                files += 1;
            }
        }
        assert!(files >= 40, "{files} Avro files");
    }
}
