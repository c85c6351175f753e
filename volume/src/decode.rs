//! Pixel decoding: one frame of one file into i16 Hounsfield units.
//!
//! Stored values are sign-extended or masked to Bits Stored according to Pixel Representation,
//! then mapped through Rescale Slope/Intercept and rounded. Padding such as −3024 HU outside the
//! reconstruction circle survives unchanged. Values outside the i16 range are clamped; CT never
//! reaches them.

use std::borrow::Cow;
use std::path::Path;

use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::FileError;
use crate::header::{HeaderOutcome, SliceHeader, header_from_object};
use crate::jpeg_turbo::{GrayDecoder, GrayHeader};
use crate::lossless_jpeg;

#[cfg(target_endian = "big")]
compile_error!("the pixel paths assume a little-endian host (x86-64, aarch64)");

/// Transfer syntaxes whose dataset is stored natively once dicom-object has read it.
const NATIVE: &[&str] = &["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"];

/// JPEG processes decoded by libjpeg-turbo: baseline, extended 12-bit, the retired
/// progressive processes 6/8 and 10/12, lossless and lossless SV1.
const LIBJPEG_TURBO: &[&str] = &[
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.53",
    "1.2.840.10008.1.2.4.55",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
];

/// Lossless JPEG process 14 (any predictor, and selection value 1).
const LOSSLESS_PROCESS_14: &[&str] = &["1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"];

/// The human name of a transfer syntax, or "unknown".
pub fn transfer_syntax_name(uid: &str) -> String {
    TransferSyntaxRegistry.get(uid).map_or_else(|| "unknown transfer syntax".to_owned(), |ts| ts.name().to_owned())
}

/// Opens `path` with its pixel data and decodes frame `frame` to HU.
pub fn read_frame_hu(path: &Path, frame: u32) -> Result<(SliceHeader, Vec<i16>), FileError> {
    let obj = open_full(path)?;
    let header = match header_from_object(path, &obj, true) {
        HeaderOutcome::Image(header) => *header,
        HeaderOutcome::NotImage { why, .. } => {
            return Err(FileError::UnsupportedLayout { path: path.to_owned(), detail: why });
        }
    };
    let mut out = vec![0i16; usize::from(header.rows) * usize::from(header.cols)];
    decode_frame_into(&obj, &header, frame, &mut out)?;
    Ok((header, out))
}

/// Decodes the first frame of the file `scanned` describes into `out`, which is
/// `rows`×`cols`. Uncompressed little-endian slices whose Pixel Data ends the file are read
/// straight into `out`; everything else is parsed in full.
pub(crate) fn read_slice_into(scanned: &SliceHeader, rows: u16, cols: u16, out: &mut [i16]) -> Result<(), FileError> {
    if scanned.rows == rows && scanned.cols == cols && read_native_tail(scanned, out) {
        return Ok(());
    }
    read_parsed_slice_into(&scanned.path, rows, cols, out).map(|_| ())
}

/// Reads the pixel data of an uncompressed little-endian 16-bit slice straight from the end
/// of the file, after checking that the element header (tag, VR, length) is exactly where
/// it must be. Returns false, having read nothing useful, whenever that does not hold.
fn read_native_tail(h: &SliceHeader, out: &mut [i16]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let explicit = match h.transfer_syntax_uid.as_str() {
        "1.2.840.10008.1.2.1" => true,
        "1.2.840.10008.1.2" => false,
        _ => return false,
    };
    if h.bits_allocated != 16 || h.samples_per_pixel != 1 || h.number_of_frames != 1 {
        return false;
    }
    let value_len = out.len() * 2;
    let header_len = if explicit { 12 } else { 8 };
    let Ok(mut file) = std::fs::File::open(&h.path) else { return false };
    let Ok(file_len) = file.metadata().map(|m| m.len() as usize) else { return false };
    let Some(start) = file_len.checked_sub(value_len + header_len) else { return false };
    let mut element = [0u8; 12];
    if file.seek(SeekFrom::Start(start as u64)).is_err() || file.read_exact(&mut element[..header_len]).is_err() {
        return false;
    }
    let length_ok = |at: usize| {
        u32::from_le_bytes([element[at], element[at + 1], element[at + 2], element[at + 3]]) as usize == value_len
    };
    let tag_ok = element[..4] == [0xE0, 0x7F, 0x10, 0x00];
    let vr_ok = !explicit || (matches!(&element[4..6], b"OW" | b"OB") && element[6..8] == [0, 0]);
    if !(tag_ok && vr_ok && length_ok(header_len - 4)) {
        return false;
    }
    if file.read_exact(bytemuck::cast_slice_mut(out)).is_err() {
        return false;
    }
    HuMapping::new(h).map_in_place(out);
    true
}

/// Opens `path` with its pixel data, checks it is `rows`×`cols`, and decodes its first frame
/// into `out`. Returns the header (each slice has its own rescale).
fn read_parsed_slice_into(path: &Path, rows: u16, cols: u16, out: &mut [i16]) -> Result<SliceHeader, FileError> {
    let obj = open_full(path)?;
    let header = match header_from_object(path, &obj, true) {
        HeaderOutcome::Image(header) => *header,
        HeaderOutcome::NotImage { why, .. } => {
            return Err(FileError::UnsupportedLayout { path: path.to_owned(), detail: why });
        }
    };
    if header.rows != rows || header.cols != cols {
        return Err(FileError::SizeMismatch {
            path: path.to_owned(),
            rows,
            cols,
            got_rows: header.rows,
            got_cols: header.cols,
        });
    }
    decode_frame_into(&obj, &header, 0, out)?;
    Ok(header)
}

fn open_full(path: &Path) -> Result<DefaultDicomObject, FileError> {
    crate::open::open(path, false)
}

/// Decodes frame `frame` of `obj` into `out` (rows × cols HU values).
pub(crate) fn decode_frame_into(
    obj: &DefaultDicomObject,
    h: &SliceHeader,
    frame: u32,
    out: &mut [i16],
) -> Result<(), FileError> {
    let path = h.path.as_path();
    let ts = h.transfer_syntax_uid.as_str();
    let layout_error = |detail: String| FileError::UnsupportedLayout { path: path.to_owned(), detail };
    if h.samples_per_pixel != 1 {
        return Err(layout_error(format!(
            "{} samples per pixel ({}); CT images are monochrome",
            h.samples_per_pixel, h.photometric
        )));
    }
    if !matches!(h.bits_allocated, 8 | 16 | 32) {
        return Err(layout_error(format!("Bits Allocated {} is not 8, 16 or 32", h.bits_allocated)));
    }
    if h.bits_stored == 0 || h.bits_stored > h.bits_allocated {
        return Err(FileError::BadAttribute {
            path: path.to_owned(),
            what: "Bits Stored",
            tag: "0028,0101",
            detail: format!("{} with Bits Allocated {}", h.bits_stored, h.bits_allocated),
        });
    }
    if frame >= h.number_of_frames {
        return Err(FileError::FrameOutOfRange { path: path.to_owned(), frame, frames: h.number_of_frames });
    }
    let n = usize::from(h.rows) * usize::from(h.cols);
    if out.len() != n {
        return Err(layout_error(format!("output holds {} voxels, frame has {n}", out.len())));
    }
    let to_hu = HuMapping::new(h);
    if NATIVE.contains(&ts) {
        return decode_native(obj, h, frame, n, out, &to_hu);
    }
    if LIBJPEG_TURBO.contains(&ts) {
        let turbo = frame_bit_stream(obj, h, frame).and_then(|data| decode_turbo(&data, h, out, &to_hu));
        // libjpeg-turbo rejects a few non-conformant streams that jpeg-decoder accepts.
        return match turbo {
            Ok(()) => Ok(()),
            Err(truncated @ FileError::Truncated { .. }) => Err(truncated),
            // The stream is another size than the header says: no decoder may be fed it (the
            // jpeg-decoder fallback panicked on such streams).
            Err(mismatch @ FileError::UnsupportedLayout { .. }) => Err(mismatch),
            Err(turbo_error) => decode_with_pixeldata(obj, h, frame, out, &to_hu).map_err(|_| turbo_error),
        };
    }
    match TransferSyntaxRegistry.get(ts) {
        None => Err(FileError::UnsupportedTransferSyntax {
            path: path.to_owned(),
            uid: ts.to_owned(),
            name: transfer_syntax_name(ts),
            why: "not a known DICOM transfer syntax".into(),
        }),
        Some(syntax) if syntax.is_unsupported_pixel_encapsulation() => Err(FileError::UnsupportedTransferSyntax {
            path: path.to_owned(),
            uid: ts.to_owned(),
            name: syntax.name().to_owned(),
            why: "no decoder for this pixel encoding is built into LungDesk".into(),
        }),
        Some(_) => decode_with_pixeldata(obj, h, frame, out, &to_hu),
    }
}

/// Decodes a JPEG bit stream with libjpeg-turbo straight into `out`, then maps it to HU in place.
fn decode_turbo(data: &[u8], h: &SliceHeader, out: &mut [i16], to_hu: &HuMapping) -> Result<(), FileError> {
    let decode_error =
        |detail: String| FileError::Decode { path: h.path.clone(), uid: h.transfer_syntax_uid.clone(), detail };
    let decoder = GrayDecoder::new(data).map_err(decode_error)?;
    let GrayHeader { width, height, precision } = decoder.header;
    if width != usize::from(h.cols) || height != usize::from(h.rows) {
        return Err(FileError::UnsupportedLayout {
            path: h.path.clone(),
            detail: format!("JPEG stream is {width}×{height}, header says {}×{}", h.cols, h.rows),
        });
    }
    if LOSSLESS_PROCESS_14.contains(&h.transfer_syntax_uid.as_str()) {
        // The fast path; anything it declines goes to libjpeg-turbo below.
        match lossless_jpeg::decode(data, bytemuck::cast_slice_mut(out)) {
            Ok(header) if header.width == width && header.height == height => {
                to_hu.map_in_place(out);
                return Ok(());
            }
            // Another decoder would fill the missing rows as silently; the slice is damaged.
            Err(e) if e.is_truncated() => {
                return Err(FileError::Truncated {
                    path: h.path.clone(),
                    uid: h.transfer_syntax_uid.clone(),
                    detail: e.to_string(),
                });
            }
            _ => {}
        }
    }
    if precision <= 8 {
        let mut bytes = vec![0u8; out.len()];
        decoder.decode_u8(&mut bytes).map_err(decode_error)?;
        to_hu.map(bytes.iter().map(|&v| i32::from(v)), out);
    } else {
        decoder.decode_u16(bytemuck::cast_slice_mut(out)).map_err(decode_error)?;
        to_hu.map_in_place(out);
    }
    Ok(())
}

fn decode_native(
    obj: &DefaultDicomObject,
    h: &SliceHeader,
    frame: u32,
    n: usize,
    out: &mut [i16],
    to_hu: &HuMapping,
) -> Result<(), FileError> {
    let path = h.path.as_path();
    let element = obj.element(tags::PIXEL_DATA).map_err(|_| FileError::MissingAttribute {
        path: path.to_owned(),
        what: "Pixel Data",
        tag: "7FE0,0010",
    })?;
    let bytes = element.to_bytes().map_err(|e| FileError::Decode {
        path: path.to_owned(),
        uid: h.transfer_syntax_uid.clone(),
        detail: e.to_string(),
    })?;
    let sample_bytes = usize::from(h.bits_allocated / 8);
    let frame_bytes = n * sample_bytes;
    let start = frame as usize * frame_bytes;
    let Some(data) = bytes.get(start..start + frame_bytes) else {
        return Err(FileError::Decode {
            path: path.to_owned(),
            uid: h.transfer_syntax_uid.clone(),
            detail: format!(
                "pixel data holds {} bytes, frame {frame} needs bytes {start}..{}",
                bytes.len(),
                start + frame_bytes
            ),
        });
    };
    map_le_bytes(data, h.bits_allocated, out, to_hu);
    Ok(())
}

fn map_le_bytes(data: &[u8], bits_allocated: u16, out: &mut [i16], to_hu: &HuMapping) {
    match bits_allocated {
        8 => to_hu.map(data.iter().map(|&v| i32::from(v)), out),
        16 => {
            // Copy the little-endian words as they are, then map in place (vectorised).
            let n_bytes = out.len() * 2;
            bytemuck::cast_slice_mut::<i16, u8>(out).copy_from_slice(&data[..n_bytes]);
            to_hu.map_in_place(out);
        }
        _ => to_hu.map(data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i32), out),
    }
}

/// The encapsulated bit stream of frame `frame`, its fragments joined.
///
/// Frames are found from the Basic Offset Table when it has one entry per frame; else one
/// fragment per frame when the counts agree; else a new frame starts at each fragment that
/// begins with a JPEG Start Of Image marker.
fn frame_bit_stream<'a>(obj: &'a DefaultDicomObject, h: &SliceHeader, frame: u32) -> Result<Cow<'a, [u8]>, FileError> {
    let path = h.path.as_path();
    let decode_error = |detail: &str| FileError::Decode {
        path: path.to_owned(),
        uid: h.transfer_syntax_uid.clone(),
        detail: detail.to_owned(),
    };
    let element = obj.element(tags::PIXEL_DATA).map_err(|_| FileError::MissingAttribute {
        path: path.to_owned(),
        what: "Pixel Data",
        tag: "7FE0,0010",
    })?;
    let Value::PixelSequence(seq) = element.value() else {
        return Err(decode_error("transfer syntax is encapsulated but Pixel Data is not"));
    };
    let fragments = seq.fragments();
    let offsets = seq.offset_table();
    let frames = h.number_of_frames as usize;
    let f = frame as usize;
    let range = if frames == 1 {
        0..fragments.len()
    } else if offsets.len() == frames {
        // Offsets count item headers (8 bytes) plus values, from the first fragment.
        let mut starts = Vec::with_capacity(fragments.len());
        let mut at = 0u64;
        for fragment in fragments {
            starts.push(at);
            at += 8 + fragment.len() as u64;
        }
        let first = starts.iter().position(|&s| s == u64::from(offsets[f]));
        let end = offsets.get(f + 1).and_then(|&next| starts.iter().position(|&s| s == u64::from(next)));
        match (first, end.unwrap_or(fragments.len())) {
            (Some(first), end) if first < end => first..end,
            (Some(_), _) => return Err(decode_error("Basic Offset Table does not increase from frame to frame")),
            (None, _) => return Err(decode_error("Basic Offset Table does not point at a fragment")),
        }
    } else if fragments.len() == frames {
        f..f + 1
    } else {
        let starts: Vec<usize> = (0..fragments.len()).filter(|&i| fragments[i].starts_with(&[0xFF, 0xD8])).collect();
        if starts.len() != frames {
            return Err(decode_error("cannot tell where each frame's fragments start"));
        }
        starts[f]..starts.get(f + 1).copied().unwrap_or(fragments.len())
    };
    match &fragments[range] {
        [] => Err(decode_error("encapsulated pixel data has no fragments for this frame")),
        [one] => Ok(Cow::Borrowed(one.as_slice())),
        many => Ok(Cow::Owned(many.concat())),
    }
}

/// RLE Lossless (PS3.5 G): a 64-byte header of a segment count and 15 offsets.
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Checks what dicom-rs's decoders will be fed before they see it, so that a damaged stream is
/// this slice's error and not a panic or a huge allocation inside them: the size a JPEG,
/// JPEG-LS or JPEG 2000 codestream declares must be the header's Rows × Columns (their
/// adapters panicked when it was not), and an RLE header's segment count and offsets must fit
/// the fragment (a truncated RLE file indexed out of bounds; a tampered one allocated 15 GB).
fn check_stream_for_third_party_decoder(data: &[u8], h: &SliceHeader) -> Result<(), String> {
    if h.transfer_syntax_uid == RLE_LOSSLESS {
        return check_rle_header(data, h);
    }
    match codestream_size(data) {
        Some((w, rows)) if w != usize::from(h.cols) || rows != usize::from(h.rows) => {
            Err(format!("the codestream is {w}×{rows}, the header says {}×{}", h.cols, h.rows))
        }
        _ => Ok(()),
    }
}

fn check_rle_header(data: &[u8], h: &SliceHeader) -> Result<(), String> {
    let word = |i: usize| data.get(4 * i..4 * i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let segments = word(0).ok_or("RLE header is cut short")?;
    let expected = usize::from(h.bits_allocated.div_ceil(8)) * usize::from(h.samples_per_pixel);
    if segments == 0 || segments > 15 || segments != expected {
        return Err(format!("RLE header declares {segments} segment(s), the image needs {expected}"));
    }
    let mut offsets = Vec::with_capacity(segments + 1);
    for s in 1..=segments {
        let offset = word(s).ok_or("RLE header is cut short")?;
        if offset <= offsets.last().copied().unwrap_or(63) || offset >= data.len() {
            return Err(format!(
                "RLE segment {s} starts at byte {offset}, outside the {} bytes of the frame",
                data.len()
            ));
        }
        offsets.push(offset);
    }
    offsets.push(data.len());
    // Each segment must unpack (PackBits, PS3.5 G.3.1) to one byte per pixel: fewer means the
    // stream is cut short, more that Rows × Columns do not describe it.
    let pixels = usize::from(h.rows) * usize::from(h.cols);
    for (s, range) in offsets.windows(2).enumerate() {
        let unpacked = packbits_len(&data[range[0]..range[1]]);
        if unpacked < pixels || unpacked > pixels + 1 + pixels / 64 {
            return Err(format!(
                "RLE segment {} unpacks to {unpacked} bytes, the header's {}×{} needs {pixels}",
                s + 1,
                h.cols,
                h.rows
            ));
        }
    }
    Ok(())
}

/// The number of bytes a PackBits segment unpacks to (it stops where a run is cut short).
fn packbits_len(segment: &[u8]) -> usize {
    let (mut at, mut out) = (0usize, 0usize);
    while let Some(&n) = segment.get(at) {
        let n = n as i8;
        if n >= 0 {
            let literal = n as usize + 1;
            if at + 1 + literal > segment.len() {
                return out + (segment.len() - at - 1);
            }
            out += literal;
            at += 1 + literal;
        } else if n != -128 {
            if at + 1 >= segment.len() {
                return out;
            }
            out += 1 + n.unsigned_abs() as usize;
            at += 2;
        } else {
            at += 1;
        }
    }
    out
}

/// (columns, rows) declared by a JPEG / JPEG-LS frame header or a JPEG 2000 SIZ marker, when the
/// stream starts like one.
pub(crate) fn codestream_size(data: &[u8]) -> Option<(usize, usize)> {
    let be16 = |at: usize| data.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let be32 = |at: usize| data.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if data.starts_with(&[0xFF, 0xD8]) {
        let mut pos = 2;
        while pos + 4 <= data.len() && data[pos] == 0xFF {
            let marker = data[pos + 1];
            if marker == 0xFF {
                pos += 1;
                continue;
            }
            let len = be16(pos + 2)?;
            let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) || marker == 0xF7;
            if sof {
                return Some((be16(pos + 7)?, be16(pos + 5)?));
            }
            pos += 2 + len;
        }
        return None;
    }
    // A raw codestream (FF4F FF51), or the one inside a JP2 file's jp2c box.
    let siz = data.windows(4).take(4096).position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])? + 4;
    let (x, y, x0, y0) = (be32(siz + 4)?, be32(siz + 8)?, be32(siz + 12)?, be32(siz + 16)?);
    Some((x.checked_sub(x0)?, y.checked_sub(y0)?))
}

fn decode_with_pixeldata(
    obj: &DefaultDicomObject,
    h: &SliceHeader,
    frame: u32,
    out: &mut [i16],
    to_hu: &HuMapping,
) -> Result<(), FileError> {
    let decode_error =
        |detail: String| FileError::Decode { path: h.path.clone(), uid: h.transfer_syntax_uid.clone(), detail };
    if !NATIVE.contains(&h.transfer_syntax_uid.as_str()) {
        let data = frame_bit_stream(obj, h, frame)?;
        check_stream_for_third_party_decoder(&data, h).map_err(decode_error)?;
    }
    // Last line of defence: the decoders of dicom-pixeldata (and the codec crates under it) have
    // panicked on damaged input (index out of bounds in RLE, size asserts in the JPEG and JPEG
    // 2000 adapters). A panic there is this slice's error, never the import's end; the decoded
    // buffer is discarded, so no broken state outlives it.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data_frame(frame)))
        .map_err(|_| decode_error("the decoder failed on damaged data (it panicked)".into()))?
        .map_err(|e| decode_error(e.to_string().lines().next().unwrap_or("decoder failed").to_owned()))?;
    let data = decoded.data();
    let bits = decoded.bits_allocated();
    let needed = out.len() * usize::from(bits / 8);
    let Some(data) = data.get(..needed) else {
        return Err(FileError::Decode {
            path: h.path.clone(),
            uid: h.transfer_syntax_uid.clone(),
            detail: format!("decoder returned {} bytes, the frame needs {needed}", data.len()),
        });
    };
    map_le_bytes(data, bits, out, to_hu);
    Ok(())
}

/// Stored value → HU: sign extension or masking to Bits Stored, then the modality rescale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HuMapping {
    signed: bool,
    shift: u32,
    mask: i64,
    slope: f64,
    intercept: f64,
    integer_intercept: Option<i32>,
}

impl HuMapping {
    pub(crate) fn new(h: &SliceHeader) -> Self {
        let bits = u32::from(h.bits_stored.clamp(1, 32));
        #[allow(clippy::float_cmp)] // exactly 1 and an integral intercept: the integer fast path
        let integer_intercept =
            (h.rescale_slope == 1.0 && h.rescale_intercept.fract() == 0.0 && h.rescale_intercept.abs() < 65536.0)
                .then_some(h.rescale_intercept as i32);
        Self {
            signed: h.pixel_representation == 1,
            shift: 32 - bits,
            mask: (1i64 << bits) - 1,
            slope: h.rescale_slope,
            intercept: h.rescale_intercept,
            integer_intercept,
        }
    }

    #[inline]
    fn stored(&self, raw: i32) -> i64 {
        if self.signed { i64::from((raw << self.shift) >> self.shift) } else { i64::from(raw) & self.mask }
    }

    #[inline]
    pub(crate) fn hu(&self, raw: i32) -> i16 {
        let stored = self.stored(raw);
        let hu = match self.integer_intercept {
            Some(intercept) => stored + i64::from(intercept),
            None => (stored as f64 * self.slope + self.intercept).round() as i64,
        };
        hu.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
    }

    fn map(&self, values: impl Iterator<Item = i32>, out: &mut [i16]) {
        for (o, v) in out.iter_mut().zip(values) {
            *o = self.hu(v);
        }
    }

    /// Maps samples already in `out` (bit patterns of up to 16 bits) to HU. The common CT case,
    /// a signed sample and an integer intercept, runs as a tight loop the compiler vectorises.
    fn map_in_place(&self, out: &mut [i16]) {
        match (self.signed, self.integer_intercept) {
            (true, Some(intercept)) => {
                let shift = self.shift.saturating_sub(16);
                for o in out {
                    let stored = i32::from((*o << shift) >> shift);
                    *o = (stored + intercept).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                }
            }
            (false, Some(intercept)) => {
                let mask = self.mask as i32;
                for o in out {
                    let stored = i32::from(*o as u16) & mask;
                    *o = (stored + intercept).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                }
            }
            _ => {
                for o in out {
                    *o = self.hu(i32::from(*o as u16));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bits_stored: u16, signed: bool, slope: f64, intercept: f64) -> SliceHeader {
        SliceHeader {
            bits_stored,
            pixel_representation: u16::from(signed),
            rescale_slope: slope,
            rescale_intercept: intercept,
            ..SliceHeader::for_tests()
        }
    }

    #[test]
    fn signed_16_bit_keeps_padding() {
        let m = HuMapping::new(&header(16, true, 1.0, -1024.0));
        // -2000 stored as u16 two's complement, as a lossless JPEG returns it.
        assert_eq!(m.hu(i32::from(-2000i16 as u16)), -3024);
        assert_eq!(m.hu(1024), 0);
    }

    #[test]
    fn signed_12_bit_sign_extends() {
        let m = HuMapping::new(&header(12, true, 1.0, 0.0));
        assert_eq!(m.hu(0x0FFF), -1);
        assert_eq!(m.hu(0x0800), -2048);
        assert_eq!(m.hu(0x07FF), 2047);
    }

    #[test]
    fn unsigned_12_bit_masks_high_bits() {
        let m = HuMapping::new(&header(12, false, 1.0, -1024.0));
        assert_eq!(m.hu(0xF000 | 1024), 0);
    }

    #[test]
    fn fractional_slope_rounds() {
        let m = HuMapping::new(&header(16, false, 0.5, -1024.5));
        assert_eq!(m.hu(2049), 0);
        assert_eq!(m.hu(4000), 976);
    }

    #[test]
    fn clamps_to_i16() {
        let m = HuMapping::new(&header(16, false, 10.0, 0.0));
        assert_eq!(m.hu(65535), i16::MAX);
    }
}
