//! Opening DICOM files, strictly first and leniently when the file meta group is malformed.
//!
//! dicom-object rejects a file meta group with, for example, a Source AE Title longer than 16
//! characters. Such files exist in the wild (the cornerstone CTImage.dcm is one) and the data
//! set behind the meta group is fine, so LungDesk then reads the meta group itself, keeping
//! only the Transfer Syntax and SOP UIDs, and parses the data set with dicom-object.

use std::io::{Read, Seek};
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::FileError;

/// Opens `path`; with `header_only`, stops before Pixel Data.
pub fn open(path: &Path, header_only: bool) -> Result<DefaultDicomObject, FileError> {
    if let Err(why) = check_file_lengths(path, header_only) {
        return Err(FileError::DeclaredLength { path: path.to_owned(), detail: why });
    }
    let options =
        if header_only { OpenFileOptions::new().read_until(tags::PIXEL_DATA) } else { OpenFileOptions::new() };
    match options.open_file(path) {
        Ok(obj) => Ok(obj),
        Err(strict) if looks_like_dicom(path) => open_with_lenient_meta(path)
            .map_err(|_| FileError::Open { path: path.to_owned(), source: Box::new(strict) }),
        Err(e) => Err(FileError::Open { path: path.to_owned(), source: Box::new(e) }),
    }
}

/// A "DICM" preamble marker, or a data set that starts with the file meta group.
pub fn looks_like_dicom(path: &Path) -> bool {
    let mut head = [0u8; 132];
    let Ok(mut file) = std::fs::File::open(path) else { return false };
    if file.read_exact(&mut head).is_err() {
        return false;
    }
    &head[128..132] == b"DICM" || head[..2] == [0x02, 0x00]
}

/// JPEG transfer syntaxes retired from the standard that dicom-rs does not register; their
/// data set is explicit VR little endian with encapsulated pixel data.
const RETIRED_JPEG: &[&str] = &["1.2.840.10008.1.2.4.53", "1.2.840.10008.1.2.4.55"];

const DEFLATE: &str = "1.2.840.10008.1.2.1.99";

#[derive(Debug, Default)]
struct LenientMeta {
    transfer_syntax: String,
    sop_class_uid: String,
    sop_instance_uid: String,
    end: usize,
}

/// Where the file meta group ends by its group length (0002,0000), when it starts with one:
/// dicom-rs reads every element up to there as meta, whatever its tag, so the checks here do
/// too.
fn meta_group_end(bytes: &[u8], start: usize) -> Option<usize> {
    // dicom-rs checks the tag and a length of 4, not the VR.
    let h = bytes.get(start..start + 12)?;
    if h[..4] != [0x02, 0x00, 0x00, 0x00] {
        return None;
    }
    let (len, value) = if has_16_bit_length(&h[4..6]) {
        (u32::from(u16::from_le_bytes([h[6], h[7]])), start + 8)
    } else {
        (u32::from_le_bytes([h[8], h[9], h[10], h[11]]), start + 12)
    };
    let v = bytes.get(value..value + 4)?;
    (len == 4).then(|| value + 4 + u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
}

/// Walks the explicit-VR little-endian file meta group without checking value lengths.
fn read_meta(bytes: &[u8]) -> Option<LenientMeta> {
    let mut pos = if bytes.get(128..132) == Some(b"DICM") { 132 } else { 0 };
    let group_end = meta_group_end(bytes, pos);
    let mut meta = LenientMeta::default();
    while let Some(head) = bytes.get(pos..pos + 8) {
        let group = u16::from_le_bytes([head[0], head[1]]);
        // With a group length, the meta group ends exactly there (as dicom-rs reads it);
        // without one, at the first element of another group.
        if group_end.map_or(group != 0x0002, |end| pos >= end) {
            break;
        }
        let element = u16::from_le_bytes([head[2], head[3]]);
        let vr = &head[4..6];
        let (len, value_start) = if has_16_bit_length(vr) {
            (usize::from(u16::from_le_bytes([head[6], head[7]])), pos + 8)
        } else {
            let l = bytes.get(pos + 8..pos + 12)?;
            (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, pos + 12)
        };
        let value = bytes.get(value_start..value_start + len)?;
        let text = || String::from_utf8_lossy(value).trim_end_matches(['\0', ' ']).to_owned();
        // Off-group elements inside the group length are skipped, as dicom-rs does.
        match (group, element) {
            (0x0002, 0x0002) => meta.sop_class_uid = text(),
            (0x0002, 0x0003) => meta.sop_instance_uid = text(),
            (0x0002, 0x0010) => meta.transfer_syntax = text(),
            _ => {}
        }
        pos = value_start + len;
    }
    meta.end = pos;
    (!meta.transfer_syntax.is_empty()).then_some(meta)
}

fn open_with_lenient_meta(path: &Path) -> Result<DefaultDicomObject, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let meta = read_meta(&bytes).ok_or("no readable file meta group")?;
    // Retired JPEG syntaxes, and deflate once inflated here, are explicit VR little endian.
    let parse_as = if RETIRED_JPEG.contains(&meta.transfer_syntax.as_str()) || meta.transfer_syntax == DEFLATE {
        "1.2.840.10008.1.2.1"
    } else {
        meta.transfer_syntax.as_str()
    };
    let ts = TransferSyntaxRegistry.get(parse_as).ok_or("unknown transfer syntax")?;
    let body = &bytes[meta.end..];
    let inflated;
    let body = if meta.transfer_syntax == DEFLATE {
        // Bounded: a deflate bomb must not fill memory before the parse refuses it.
        let limit = (body.len() as u64).saturating_mul(MAX_INFLATE_RATIO).min(MAX_INFLATED_BYTES);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(body).take(limit + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
        if out.len() as u64 > limit {
            return Err(format!("the deflated data set inflates past {limit} bytes"));
        }
        inflated = out;
        inflated.as_slice()
    } else {
        body
    };
    // The parser below trusts declared lengths; one tampered 32-bit length made it touch 4 GB
    // for a 0.5 MB file. Every length is checked against the bytes that are there first.
    let implicit_vr = parse_as == "1.2.840.10008.1.2";
    let big_endian = ts.endianness() == dicom_encoding::Endianness::Big;
    check_declared_lengths(&mut std::io::Cursor::new(body), body.len() as u64, big_endian, implicit_vr, false)?;
    let dataset = InMemDicomObject::read_dataset_with_ts(body, ts).map_err(|e| e.to_string())?;
    let file_meta = FileMetaTableBuilder::new()
        .transfer_syntax(meta.transfer_syntax)
        .media_storage_sop_class_uid(meta.sop_class_uid)
        .media_storage_sop_instance_uid(meta.sop_instance_uid)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(dataset.with_exact_meta(file_meta))
}

/// The most a deflated data set may inflate to, as a ratio and in bytes.
const MAX_INFLATE_RATIO: u64 = 200;
const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Where the walk of [`check_declared_lengths`] stands, as dicom-rs's data set reader would.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Elements: the data set, or an item of a sequence; `end` where the item has a length.
    Elements { end: Option<u64> },
    /// Item headers of a sequence; `end` where the sequence has a length.
    Items { end: Option<u64> },
    /// Encapsulated pixel data: items are fragments of raw bytes.
    Fragments,
}

/// Walks a data set's element, item and fragment headers from `source`'s position and
/// refuses it when any declared length runs past `end` or its nesting breaks, following the
/// states of dicom-rs's data set reader (dicom-parser 0.10): sequences of defined and undefined
/// length walked item by item, other undefined-length elements read as sequences, undefined
/// Pixel Data as fragments, binary numbers read in whole values only. Values are skipped,
/// never read, so a walk costs a read per header. With `header_only`, stops at the data set's
/// Pixel Data. `implicit`: implicit VR, whose value representations come from the dictionary.
#[allow(clippy::too_many_lines)] // one state machine
fn check_declared_lengths<R: Read + Seek>(
    source: &mut R,
    end: u64,
    big_endian: bool,
    implicit: bool,
    header_only: bool,
) -> Result<(), String> {
    use dicom_core::VR;
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    const UNDEFINED: u32 = 0xFFFF_FFFF;
    let u16_of = |b: [u8; 2]| if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) };
    let u32_of = |b: [u8; 4]| if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) };
    let mut pos = source.stream_position().map_err(|e| e.to_string())?;
    let read = |source: &mut R, buf: &mut [u8], pos: &mut u64| -> Result<bool, String> {
        if *pos + buf.len() as u64 > end {
            return Ok(false);
        }
        source.read_exact(buf).map_err(|e| e.to_string())?;
        *pos += buf.len() as u64;
        Ok(true)
    };
    let skip = |source: &mut R, n: u64, pos: &mut u64| -> Result<(), String> {
        source.seek_relative(n as i64).map_err(|e| e.to_string())?;
        *pos += n;
        Ok(())
    };
    let too_long = |group: u16, element: u16, len: u32, pos: u64| {
        format!(
            "element ({group:04X},{element:04X}) declares {len} bytes, but only {} follow it",
            end.saturating_sub(pos)
        )
    };
    let fits = |len: u32, pos: u64| u64::from(len) <= end - pos;
    let cut = || "an element header is cut short".to_owned();
    let dictionary = dicom_dictionary_std::StandardDataDictionary;
    let mut levels = vec![Level::Elements { end: None }];
    loop {
        // Items and sequences of defined length end where their length says.
        while let Some(&top) = levels.last() {
            let (Level::Elements { end: Some(stop) } | Level::Items { end: Some(stop) }) = top else { break };
            if pos < stop {
                break;
            }
            if pos > stop {
                return Err(format!("an item or sequence runs past its declared end at byte {stop}"));
            }
            levels.pop();
        }
        let Some(&level) = levels.last() else { return Err("the data set ends inside its own nesting".into()) };
        let mut tag = [0u8; 4];
        if !read(source, &mut tag, &mut pos)? {
            return Ok(());
        }
        let (group, element) = (u16_of([tag[0], tag[1]]), u16_of([tag[2], tag[3]]));
        let mut word = [0u8; 4];
        if matches!(level, Level::Items { .. } | Level::Fragments) {
            if group != 0xFFFE || !read(source, &mut word, &mut pos)? {
                return Err(format!("an item was expected at byte {}, not ({group:04X},{element:04X})", pos - 4));
            }
            let len = u32_of(word);
            match (element, level) {
                (0xE000, Level::Fragments) => {
                    if len == UNDEFINED || !fits(len, pos) {
                        return Err(too_long(group, element, len, pos));
                    }
                    skip(source, u64::from(len), &mut pos)?;
                }
                (0xE000, _) => {
                    if len != UNDEFINED && !fits(len, pos) {
                        return Err(too_long(group, element, len, pos));
                    }
                    levels.push(Level::Elements { end: (len != UNDEFINED).then(|| pos + u64::from(len)) });
                }
                (0xE00D | 0xE0DD, _) => {
                    levels.pop();
                }
                _ => return Err(format!("unexpected item tag (FFFE,{element:04X})")),
            }
            continue;
        }
        // An element header, in the transfer syntax's encoding at every depth.
        let (vr, len) = if implicit {
            if !read(source, &mut word, &mut pos)? {
                return Err(cut());
            }
            let vr = if group == 0xFFFE {
                VR::UN
            } else {
                dictionary.by_tag(dicom_core::Tag(group, element)).map_or(VR::UN, |e| e.vr().relaxed())
            };
            (vr, u32_of(word))
        } else if group == 0xFFFE {
            if !read(source, &mut word, &mut pos)? {
                return Err(cut());
            }
            (VR::UN, u32_of(word))
        } else {
            let mut vr_len = [0u8; 4];
            if !read(source, &mut vr_len, &mut pos)? {
                return Err(cut());
            }
            let raw = [vr_len[0], vr_len[1]];
            let vr = VR::from_binary(raw).unwrap_or(VR::UN);
            if has_16_bit_length(&raw) {
                (vr, u32::from(u16_of([vr_len[2], vr_len[3]])))
            } else {
                if !read(source, &mut word, &mut pos)? {
                    return Err(cut());
                }
                (vr, u32_of(word))
            }
        };
        let pixel_data = (group, element) == (0x7FE0, 0x0010);
        if header_only && pixel_data && levels.len() == 1 {
            // A header-only read stops before Pixel Data, which a truncated file cuts short:
            // the decode reports that for its slice.
            return Ok(());
        }
        if (group, element) == (0xFFFE, 0xE00D) {
            // An item ends: back to its sequence's items (outside any, dicom-rs ignores it).
            if levels.len() > 1 {
                levels.pop();
            }
            continue;
        }
        if len == UNDEFINED {
            levels.push(if pixel_data { Level::Fragments } else { Level::Items { end: None } });
            continue;
        }
        if !fits(len, pos) {
            return Err(too_long(group, element, len, pos));
        }
        if vr == VR::SQ {
            levels.push(Level::Items { end: Some(pos + u64::from(len)) });
            continue;
        }
        // dicom-rs reads binary numbers in whole values only: a 2-byte SL reads none of its
        // bytes, and the next header starts there.
        let whole = binary_value_size(vr).map_or(len, |size| len - len % size);
        skip(source, u64::from(whole), &mut pos)?;
    }
}

/// The size of one value of a binary numeric VR, which dicom-rs reads in whole values only.
fn binary_value_size(vr: dicom_core::VR) -> Option<u32> {
    use dicom_core::VR;
    match vr {
        VR::US | VR::OW | VR::SS => Some(2),
        VR::AT | VR::UL | VR::OL | VR::SL | VR::FL | VR::OF => Some(4),
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => Some(8),
        _ => None,
    }
}

/// Whether an explicit VR has a 16-bit length. Every other VR, unknown ones included, is read
/// by dicom-rs with a reserved word and a 32-bit length.
fn has_16_bit_length(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

/// Checks every declared length of the file at `path` (after its file meta group) against the
/// file's size before dicom-rs reads it: its parser allocates what a length declares, and one
/// tampered 32-bit length made it touch 4 GB for a 0.5 MB file. A deflated data set is left to
/// the bounded inflate; an unknown transfer syntax to the parser's own refusal.
fn check_file_lengths(path: &Path, header_only: bool) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let end = file.metadata().map_err(|e| e.to_string())?.len();
    let mut head = vec![0u8; end.min(1 << 16) as usize];
    let mut reader = std::io::BufReader::new(file);
    reader.read_exact(&mut head).map_err(|e| e.to_string())?;
    // Where dicom-rs will start the data set, and in which transfer syntax; `None` when its
    // strict open refuses the meta group anyway (the lenient open checks its own parse).
    let Some((start, ts)) = strict_meta(&head, end)? else { return Ok(()) };
    if ts == DEFLATE {
        return Ok(());
    }
    let Some(syntax) = TransferSyntaxRegistry.get(&ts) else { return Ok(()) };
    reader.seek(std::io::SeekFrom::Start(start)).map_err(|e| e.to_string())?;
    let big_endian = syntax.endianness() == dicom_encoding::Endianness::Big;
    check_declared_lengths(&mut reader, end, big_endian, ts == "1.2.840.10008.1.2", header_only)
}

/// The file meta group read the way dicom-object 0.10 reads it (`FileMetaTable::read_from`): a
/// (0002,0000) element of length 4 gives the group length, then element headers (explicit VR
/// little endian; VR not checked) are read until that many bytes are consumed, whatever their
/// tags. Refuses a length that runs past the file's `end` on the four elements whose values
/// dicom-rs reserves memory for (the UIDs; a cut file asked for 4 GB), and returns where the
/// data set starts and the last Transfer Syntax UID seen; `None` when dicom-rs would refuse the
/// meta group.
fn strict_meta(head: &[u8], end: u64) -> Result<Option<(u64, String)>, String> {
    let mut pos = if head.get(128..132) == Some(b"DICM") { 132 } else { 0 };
    // (tag, value length, value start) of the element header at `at`, as dicom-rs decodes it.
    let header = |at: usize| -> Option<((u16, u16), u64, usize)> {
        let h = head.get(at..at + 8)?;
        let tag = (u16::from_le_bytes([h[0], h[1]]), u16::from_le_bytes([h[2], h[3]]));
        if tag.0 == 0xFFFE {
            return Some((tag, u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]])), at + 8));
        }
        if has_16_bit_length(&h[4..6]) {
            Some((tag, u64::from(u16::from_le_bytes([h[6], h[7]])), at + 8))
        } else {
            let l = head.get(at + 8..at + 12)?;
            Some((tag, u64::from(u32::from_le_bytes([l[0], l[1], l[2], l[3]])), at + 12))
        }
    };
    let Some((tag, len, value)) = header(pos) else { return Ok(None) };
    if tag != (0x0002, 0x0000) || len != 4 {
        return Ok(None);
    }
    let Some(g) = head.get(value..value + 4) else { return Ok(None) };
    let group_length = u64::from(u32::from_le_bytes([g[0], g[1], g[2], g[3]]));
    pos = value + 4;
    let first = pos as u64;
    let mut ts = None;
    let cut_here = (head.len() as u64) < end;
    while (pos as u64) - first < group_length {
        let Some((tag, len, value)) = header(pos) else {
            // Out of the first 64 KiB with more file to come: no real meta group is that long.
            return if cut_here { Err("the file meta group runs past 64 KiB".into()) } else { Ok(None) };
        };
        if len == 0xFFFF_FFFF {
            return Ok(None);
        }
        if value as u64 + len > end {
            if matches!(tag, (0x0002, 0x0002 | 0x0003 | 0x0010 | 0x0012)) {
                return Err(format!(
                    "file meta element (0002,{:04X}) declares {len} bytes, but only {} follow it",
                    tag.1,
                    end.saturating_sub(value as u64)
                ));
            }
            return Ok(None);
        }
        let Ok(value_end) = usize::try_from(value as u64 + len) else { return Ok(None) };
        if tag == (0x0002, 0x0010) {
            let Some(text) = head.get(value..value_end) else {
                return Err("the file meta group runs past 64 KiB".into());
            };
            ts = Some(String::from_utf8_lossy(text).trim_end_matches(['\0', ' ']).to_owned());
        }
        pos = value_end;
    }
    Ok(ts.map(|ts| (pos as u64, ts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_over_long_source_ae_title() {
        let mut file = vec![0u8; 128];
        file.extend_from_slice(b"DICM");
        let mut element = |elem: u16, vr: &[u8; 2], value: &[u8]| {
            file.extend_from_slice(&2u16.to_le_bytes());
            file.extend_from_slice(&elem.to_le_bytes());
            file.extend_from_slice(vr);
            file.extend_from_slice(&(value.len() as u16).to_le_bytes());
            file.extend_from_slice(value);
        };
        element(0x0010, b"UI", b"1.2.840.10008.1.2\0");
        element(0x0016, b"AE", b"EIGHTEEN_CHARS_AE_");
        let meta = read_meta(&file).expect("meta");
        assert_eq!(meta.transfer_syntax, "1.2.840.10008.1.2");
        assert_eq!(meta.end, file.len());
    }

    fn explicit_element(out: &mut Vec<u8>, group: u16, element: u16, vr: [u8; 2], len: u32, value: &[u8]) {
        out.extend_from_slice(&group.to_le_bytes());
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(&vr);
        if matches!(&vr, b"OB" | b"OW" | b"SQ") {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&len.to_le_bytes());
        } else {
            out.extend_from_slice(&(len as u16).to_le_bytes());
        }
        out.extend_from_slice(value);
    }

    /// A tampered 32-bit length (4 GB in a small file) is refused before the parser sees it;
    /// an honest data set with a sequence and encapsulated pixel data passes.
    #[test]
    fn declared_lengths_past_the_end_are_refused() {
        let check = |data: &[u8]| {
            check_declared_lengths(&mut std::io::Cursor::new(data), data.len() as u64, false, false, false)
        };
        let mut honest = Vec::new();
        explicit_element(&mut honest, 0x0008, 0x0060, *b"CS", 2, b"CT");
        explicit_element(&mut honest, 0x0008, 0x1140, *b"SQ", 0xFFFF_FFFF, &[]);
        honest.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        explicit_element(&mut honest, 0x0008, 0x1150, *b"UI", 4, b"1.2\0");
        honest.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        honest.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        explicit_element(&mut honest, 0x7FE0, 0x0010, *b"OB", 0xFFFF_FFFF, &[]);
        honest.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        honest.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0]);
        honest.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert_eq!(check(&honest), Ok(()));
        let mut tampered = Vec::new();
        explicit_element(&mut tampered, 0x0008, 0x0060, *b"CS", 2, b"CT");
        explicit_element(&mut tampered, 0x7FE0, 0x0010, *b"OW", 0xFFFF_FFF0, &[0; 64]);
        let e = check(&tampered).expect_err("tampered");
        assert!(e.contains("(7FE0,0010) declares 4294967280 bytes"), "{e}");
    }
}
