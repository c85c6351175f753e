//! Monochrome JPEG decoding with libjpeg-turbo 3.1 (built from the source bundled in
//! `turbojpeg-sys`). It covers baseline (8-bit), extended (12-bit) and lossless (2–16-bit)
//! JPEG, which jpeg-decoder cannot (no 12-bit) or does about four times slower (lossless).
//!
//! This is the only module of LungDesk that uses `unsafe`: the FFI calls below.
#![allow(unsafe_code)]

use std::ffi::CStr;

use turbojpeg_sys as tj;

/// Samples of one decoded grey-scale frame, in the JPEG's own precision.
#[derive(Debug)]
pub enum GraySamples {
    U8(Vec<u8>),
    /// 9–12-bit samples (libjpeg-turbo's 12-bit API uses `short`).
    I16(Vec<i16>),
    /// 13–16-bit lossless samples.
    U16(Vec<u16>),
}

#[derive(Debug)]
pub struct GrayFrame {
    pub width: usize,
    pub height: usize,
    pub samples: GraySamples,
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

/// Decodes one grey-scale JPEG bit stream (any process libjpeg-turbo supports).
pub fn decode_gray(data: &[u8]) -> Result<GrayFrame, String> {
    let handle = Handle::new()?;
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
    let n = width * height;
    let gray = tj::TJPF_TJPF_GRAY as i32;
    let samples = match precision {
        2..=8 => {
            let mut out = vec![0u8; n];
            // SAFETY: out holds width*height one-byte samples (pitch 0 = tight rows, grey).
            let code = unsafe {
                tj::tj3Decompress8(handle.0, data.as_ptr(), data.len() as _, out.as_mut_ptr(), 0, gray)
            };
            handle.check(code)?;
            GraySamples::U8(out)
        }
        9..=12 => {
            let mut out = vec![0i16; n];
            // SAFETY: out holds width*height 16-bit samples.
            let code = unsafe {
                tj::tj3Decompress12(handle.0, data.as_ptr(), data.len() as _, out.as_mut_ptr(), 0, gray)
            };
            handle.check(code)?;
            GraySamples::I16(out)
        }
        13..=16 => {
            let mut out = vec![0u16; n];
            // SAFETY: out holds width*height 16-bit samples.
            let code = unsafe {
                tj::tj3Decompress16(handle.0, data.as_ptr(), data.len() as _, out.as_mut_ptr(), 0, gray)
            };
            handle.check(code)?;
            GraySamples::U16(out)
        }
        other => return Err(format!("JPEG sample precision {other} is not supported")),
    };
    Ok(GrayFrame { width, height, samples })
}
