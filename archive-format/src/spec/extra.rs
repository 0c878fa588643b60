//! Extra fields (APPNOTE 4.5): ZIP64 extended information (0x0001), extended timestamp
//! (0x5455, Info-ZIP) and Info-ZIP Unicode path (0x7075). Other fields are skipped.

use super::{Cursor, put_u16, put_u32, put_u64};
use crate::{Error, Result};

/// Header ID of the ZIP64 extended information field (APPNOTE 4.5.3).
pub const ZIP64_ID: u16 = 0x0001;
/// Header ID of the Info-ZIP extended timestamp field (APPNOTE 4.6.?; Info-ZIP "UT").
pub const EXTENDED_TIMESTAMP_ID: u16 = 0x5455;
/// Header ID of the Info-ZIP Unicode path field ("up").
pub const UNICODE_PATH_ID: u16 = 0x7075;

/// The extra fields of one header that lakezip understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraFields {
    /// Raw payload of the ZIP64 field; which values it holds depends on the header (see [`Zip64Values::resolve`]).
    pub zip64: Option<Vec<u8>>,
    /// Modification time in Unix seconds from the extended timestamp field.
    pub mtime: Option<i64>,
    /// `(crc32 of the header's raw name, UTF-8 name)` from the Unicode path field.
    pub unicode_path: Option<(u32, String)>,
}

impl ExtraFields {
    /// Parses an extra-field block. `offset` is the block's absolute offset, for errors.
    ///
    /// A field whose declared length runs past the block is an error; fewer than four
    /// trailing bytes (alignment padding some tools add) are ignored.
    pub fn parse(bytes: &[u8], record: &'static str, offset: u64) -> Result<Self> {
        let mut fields = ExtraFields::default();
        let mut cursor = Cursor::new(bytes);
        while cursor.remaining() >= 4 {
            let field_offset = offset + (bytes.len() - cursor.remaining()) as u64;
            let (Some(id), Some(len)) = (cursor.u16(), cursor.u16()) else {
                break;
            };
            let Some(data) = cursor.take(usize::from(len)) else {
                return Err(Error::invalid(
                    record,
                    field_offset,
                    format!(
                        "extra field {id:#06x} declares {len} bytes but only {} remain",
                        cursor.remaining()
                    ),
                ));
            };
            match id {
                ZIP64_ID => fields.zip64 = Some(data.to_vec()),
                EXTENDED_TIMESTAMP_ID => {
                    let mut c = Cursor::new(data);
                    if let (Some(flags), Some(mtime)) = (c.u8(), c.u32())
                        && flags & 1 == 1
                    {
                        fields.mtime = Some(i64::from(mtime as i32));
                    }
                }
                UNICODE_PATH_ID => {
                    let mut c = Cursor::new(data);
                    if let (Some(1), Some(crc)) = (c.u8(), c.u32()) {
                        let rest = c.take(c.remaining()).unwrap_or_default();
                        if let Ok(name) = std::str::from_utf8(rest) {
                            fields.unicode_path = Some((crc, name.to_owned()));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(fields)
    }
}

/// Which header fields were placeholders, i.e. which values the ZIP64 field must supply,
/// in the order APPNOTE 4.5.3 fixes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Zip64Needs {
    /// Uncompressed size was 0xFFFFFFFF.
    pub uncompressed: bool,
    /// Compressed size was 0xFFFFFFFF.
    pub compressed: bool,
    /// Local header offset was 0xFFFFFFFF (central directory only).
    pub offset: bool,
    /// Disk start was 0xFFFF (central directory only).
    pub disk: bool,
}

/// Values taken from a ZIP64 extended information field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zip64Values {
    /// Uncompressed size, if the field held it.
    pub uncompressed: Option<u64>,
    /// Compressed size, if the field held it.
    pub compressed: Option<u64>,
    /// Local header offset, if the field held it.
    pub offset: Option<u64>,
    /// Disk start number, if the field held it.
    pub disk: Option<u32>,
}

impl Zip64Values {
    /// Reads the values `needs` asks for from a ZIP64 payload; a missing one is an error
    /// naming it (the field is present but too short).
    pub fn resolve(
        payload: Option<&[u8]>,
        needs: Zip64Needs,
        record: &'static str,
        offset: u64,
    ) -> Result<Self> {
        let mut values = Zip64Values::default();
        if !(needs.uncompressed || needs.compressed || needs.offset || needs.disk) {
            return Ok(values);
        }
        let missing = |what: &str| {
            Error::invalid(
                record,
                offset,
                format!("zip64 extended information extra field does not include {what}"),
            )
        };
        let mut c = Cursor::new(payload.unwrap_or_default());
        if needs.uncompressed {
            values.uncompressed = Some(c.u64().ok_or_else(|| missing("uncompressed size"))?);
        }
        if needs.compressed {
            values.compressed = Some(c.u64().ok_or_else(|| missing("compressed size"))?);
        }
        if needs.offset {
            values.offset = Some(c.u64().ok_or_else(|| missing("relative header offset"))?);
        }
        if needs.disk {
            values.disk = Some(c.u32().ok_or_else(|| missing("disk start number"))?);
        }
        Ok(values)
    }
}

/// Appends a ZIP64 extended information field holding `values` (in spec order).
pub fn encode_zip64(out: &mut Vec<u8>, values: &[u64]) {
    put_u16(out, ZIP64_ID);
    put_u16(out, (values.len() * 8) as u16);
    for v in values {
        put_u64(out, *v);
    }
}

/// Appends an extended timestamp field with the modification time only, if it fits the
/// field's signed 32-bit seconds.
pub fn encode_mtime(out: &mut Vec<u8>, mtime: i64) {
    if let Ok(seconds) = i32::try_from(mtime) {
        put_u16(out, EXTENDED_TIMESTAMP_ID);
        put_u16(out, 5);
        out.push(1);
        put_u32(out, seconds as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip64_round_trip_and_missing_field() {
        let mut raw = Vec::new();
        encode_zip64(&mut raw, &[5_000_000_000, 6_000_000_000]);
        encode_mtime(&mut raw, 1_700_000_000);
        let fields = ExtraFields::parse(&raw, "test", 0).unwrap();
        assert_eq!(fields.mtime, Some(1_700_000_000));
        let needs = Zip64Needs {
            uncompressed: true,
            compressed: true,
            ..Default::default()
        };
        let v = Zip64Values::resolve(fields.zip64.as_deref(), needs, "test", 0).unwrap();
        assert_eq!(v.uncompressed, Some(5_000_000_000));
        assert_eq!(v.compressed, Some(6_000_000_000));
        let needs_offset = Zip64Needs {
            offset: true,
            ..needs
        };
        let err = Zip64Values::resolve(fields.zip64.as_deref(), needs_offset, "test", 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("relative header offset"), "{err}");
    }

    #[test]
    fn overlong_field_is_an_error() {
        let raw = [0x01, 0x00, 0x10, 0x00, 1, 2, 3];
        assert!(ExtraFields::parse(&raw, "test", 0).is_err());
    }
}
