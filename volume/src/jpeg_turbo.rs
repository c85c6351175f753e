//! Monochrome JPEG decoding with libjpeg-turbo 3.1 (built from the source bundled in
//! `turbojpeg-sys`). It covers baseline (8-bit), extended (12-bit) and lossless (2–16-bit)
//! JPEG, which jpeg-decoder cannot (no 12-bit) or does about four times slower (lossless).
//!
//! This is the only module of LungDesk that uses `unsafe`: the FFI calls below.
#![allow(unsafe_code)]

use std::ffi::CStr;

use turbojpeg_sys as tj;

/// Size and precision of a grey-scale JPEG frame.
#[derive(Debug, Clone, Copy)]
pub struct GrayHeader {
    pub width: usize,
    pub height: usize,
    /// Bits per sample: 2–8 decode to bytes, 9–16 to 16-bit words.
    pub precision: i32,
}

/// An owned libjpeg-turbo decompressor handle.
struct Handle(tj::tjhandle);

impl Handle {
    fn new() -> Result<Self, String> {
        // SAFETY: tj3Init has no preconditions; a null result is checked.
        let handle = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() {
            return Err("libjpeg-turbo could not create a decompressor".into());
        }
        Ok(Self(handle))
    }

    fn get(&self, param: tj::TJPARAM) -> i32 {
        // SAFETY: the handle is valid for the lifetime of self.
        unsafe { tj::tj3Get(self.0, param as i32) }
    }

    fn error(&self) -> (String, bool) {
        // SAFETY: the handle is valid; tj3GetErrorStr returns a NUL-terminated static buffer.
        unsafe {
            let message = CStr::from_ptr(tj::tj3GetErrorStr(self.0)).to_string_lossy().into_owned();
            let is_warning = tj::tj3GetErrorCode(self.0) == tj::TJERR_TJERR_WARNING as i32;
            (message, is_warning)
        }
    }

    /// Turns a libjpeg-turbo return code into a result. Warnings are accepted unless they say
    /// that data is missing, which would silently fill part of the slice.
    fn check(&self, code: i32) -> Result<(), String> {
        if code == 0 {
            return Ok(());
        }
        let (message, is_warning) = self.error();
        let lost_data = message.contains("premature end") || message.contains("Premature end");
        if is_warning && !lost_data { Ok(()) } else { Err(message) }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

/// A libjpeg-turbo decompressor that has read one frame's header.
pub struct GrayDecoder<'a> {
    handle: std::rc::Rc<Handle>,
    data: &'a [u8],
    pub header: GrayHeader,
}

impl std::fmt::Debug for GrayDecoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrayDecoder").field("header", &self.header).finish_non_exhaustive()
    }
}

impl<'a> GrayDecoder<'a> {
    /// Reads the header of one grey-scale JPEG bit stream (any process libjpeg-turbo supports).
    pub fn new(data: &'a [u8]) -> Result<Self, String> {
        let handle = thread_handle()?;
        // SAFETY: data is a valid slice for the duration of the call.
        let code = unsafe { tj::tj3DecompressHeader(handle.0, data.as_ptr(), data.len() as _) };
        handle.check(code)?;
        let width = usize::try_from(handle.get(tj::TJPARAM_TJPARAM_JPEGWIDTH)).unwrap_or(0);
        let height = usize::try_from(handle.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT)).unwrap_or(0);
        let precision = handle.get(tj::TJPARAM_TJPARAM_PRECISION);
        let colorspace = handle.get(tj::TJPARAM_TJPARAM_COLORSPACE);
        if width == 0 || height == 0 {
            return Err("JPEG header gives an empty image".into());
        }
        if colorspace != tj::TJCS_TJCS_GRAY as i32 {
            return Err(format!("JPEG has colour space {colorspace}, expected one grey component"));
        }
        if !(2..=16).contains(&precision) {
            return Err(format!("JPEG sample precision {precision} is not supported"));
        }
        Ok(Self { handle, data, header: GrayHeader { width, height, precision } })
    }

    fn check_len(&self, len: usize) -> Result<(), String> {
        let needed = self.header.width * self.header.height;
        if len == needed { Ok(()) } else { Err(format!("output holds {len} samples, frame has {needed}")) }
    }

    /// Decodes a frame of precision 2–8 into bytes.
    pub fn decode_u8(&self, out: &mut [u8]) -> Result<(), String> {
        self.check_len(out.len())?;
        if self.header.precision > 8 {
            return Err("frame precision is over 8 bits".into());
        }
        // SAFETY: out holds width*height one-byte samples (pitch 0 = tight rows, grey).
        let code = unsafe {
            tj::tj3Decompress8(self.handle.0, self.data.as_ptr(), self.data.len() as _, out.as_mut_ptr(), 0, GRAY)
        };
        self.handle.check(code)
    }

    /// Decodes a frame of precision 9–16 into 16-bit words (the bit pattern of the samples).
    pub fn decode_u16(&self, out: &mut [u16]) -> Result<(), String> {
        self.check_len(out.len())?;
        let (p, ptr) = (self.header.precision, out.as_mut_ptr());
        // SAFETY: out holds width*height 16-bit samples; the 12-bit API writes `short`, which
        // has the size and alignment of u16.
        let code = unsafe {
            match p {
                9..=12 => tj::tj3Decompress12(
                    self.handle.0,
                    self.data.as_ptr(),
                    self.data.len() as _,
                    ptr.cast::<i16>(),
                    0,
                    GRAY,
                ),
                13..=16 => tj::tj3Decompress16(self.handle.0, self.data.as_ptr(), self.data.len() as _, ptr, 0, GRAY),
                _ => return Err("frame precision is 8 bits or less".into()),
            }
        };
        self.handle.check(code)
    }
}

thread_local! {
    /// One decompressor per thread: creating one costs more than a small slice's decode.
    static HANDLE: std::cell::RefCell<Option<std::rc::Rc<Handle>>> = const { std::cell::RefCell::new(None) };
}

fn thread_handle() -> Result<std::rc::Rc<Handle>, String> {
    HANDLE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some(handle) = slot.as_ref() {
            return Ok(handle.clone());
        }
        let handle = std::rc::Rc::new(Handle::new()?);
        *slot = Some(handle.clone());
        Ok(handle)
    })
}

#[allow(clippy::unnecessary_cast)] // bindgen gives the enum another integer type on some targets
const GRAY: i32 = tj::TJPF_TJPF_GRAY as i32;

/// Where restart markers go when encoding a test stream.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Restart {
    None,
    Rows(i32),
}

/// Encodes grey samples as lossless JPEG with libjpeg-turbo: an independent encoder for the
/// tests of the lossless decoder (predictor `psv` 1–7, point transform `pt`).
#[cfg(test)]
pub(crate) fn encode_lossless(
    samples: &[u16],
    width: usize,
    precision: i32,
    psv: i32,
    pt: i32,
    restart: Restart,
) -> Result<Vec<u8>, String> {
    // SAFETY: a compressor handle, destroyed by Handle's Drop.
    let handle = Handle(unsafe { tj::tj3Init(tj::TJINIT_TJINIT_COMPRESS as i32) });
    if handle.0.is_null() {
        return Err("no compressor".into());
    }
    let set = |param: tj::TJPARAM, value: i32| {
        // SAFETY: valid handle and parameter id.
        handle
            .check(unsafe { tj::tj3Set(handle.0, param as i32, value) })
            .map_err(|e| format!("parameter {param}: {e}"))
    };
    set(tj::TJPARAM_TJPARAM_LOSSLESS, 1)?;
    set(tj::TJPARAM_TJPARAM_PRECISION, precision)?;
    set(tj::TJPARAM_TJPARAM_SUBSAMP, tj::TJSAMP_TJSAMP_GRAY)?;
    set(tj::TJPARAM_TJPARAM_LOSSLESSPSV, psv)?;
    set(tj::TJPARAM_TJPARAM_LOSSLESSPT, pt)?;
    match restart {
        Restart::None => {}
        Restart::Rows(n) => set(tj::TJPARAM_TJPARAM_RESTARTROWS, n)?,
    }
    let height = samples.len() / width;
    let mut buffer: *mut u8 = std::ptr::null_mut();
    let mut size: tj::size_t = 0;
    // SAFETY: samples holds width*height values; libjpeg-turbo allocates `buffer`.
    let code = unsafe {
        tj::tj3Compress16(
            handle.0,
            samples.as_ptr(),
            width as i32,
            0,
            height as i32,
            GRAY,
            &raw mut buffer,
            &raw mut size,
        )
    };
    handle.check(code)?;
    // SAFETY: buffer holds `size` bytes written by tj3Compress16; it is freed once, below.
    let bytes = unsafe { std::slice::from_raw_parts(buffer, size as usize) }.to_vec();
    // SAFETY: buffer was allocated by libjpeg-turbo.
    unsafe { tj::tj3Free(buffer.cast()) };
    Ok(bytes)
}
