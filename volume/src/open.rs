//! Opening DICOM files, strictly first and leniently when the file meta group is malformed.
//!
//! dicom-object rejects a file meta group with, for example, a Source AE Title longer than 16
//! characters. Such files exist in the wild (the cornerstone CTImage.dcm is one) and the data
//! set behind the meta group is fine, so LungDesk then reads the meta group itself, keeping
//! only the Transfer Syntax and SOP UIDs, and parses the data set with dicom-object.

use std::io::Read;
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::FileError;

/// Opens `path`; with `header_only`, stops before Pixel Data.
pub fn open(path: &Path, header_only: bool) -> Result<DefaultDicomObject, FileError> {
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

/// Walks the explicit-VR little-endian file meta group without checking value lengths.
fn read_meta(bytes: &[u8]) -> Option<LenientMeta> {
    let mut pos = if bytes.get(128..132) == Some(b"DICM") { 132 } else { 0 };
    let mut meta = LenientMeta::default();
    while let Some(head) = bytes.get(pos..pos + 8) {
        let group = u16::from_le_bytes([head[0], head[1]]);
        if group != 0x0002 {
            break;
        }
        let element = u16::from_le_bytes([head[2], head[3]]);
        let vr = &head[4..6];
        let (len, value_start) = if matches!(vr, b"OB" | b"OW" | b"OF" | b"SQ" | b"UT" | b"UN") {
            let l = bytes.get(pos + 8..pos + 12)?;
            (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, pos + 12)
        } else {
            (usize::from(u16::from_le_bytes([head[6], head[7]])), pos + 8)
        };
        let value = bytes.get(value_start..value_start + len)?;
        let text = || String::from_utf8_lossy(value).trim_end_matches(['\0', ' ']).to_owned();
        match element {
            0x0002 => meta.sop_class_uid = text(),
            0x0003 => meta.sop_instance_uid = text(),
            0x0010 => meta.transfer_syntax = text(),
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
    let dataset = if meta.transfer_syntax == DEFLATE {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(body).read_to_end(&mut inflated).map_err(|e| e.to_string())?;
        InMemDicomObject::read_dataset_with_ts(inflated.as_slice(), ts)
    } else {
        InMemDicomObject::read_dataset_with_ts(body, ts)
    }
    .map_err(|e| e.to_string())?;
    let file_meta = FileMetaTableBuilder::new()
        .transfer_syntax(meta.transfer_syntax)
        .media_storage_sop_class_uid(meta.sop_class_uid)
        .media_storage_sop_instance_uid(meta.sop_instance_uid)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(dataset.with_exact_meta(file_meta))
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
}
