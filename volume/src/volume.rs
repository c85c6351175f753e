//! A CT volume in Hounsfield units on a regular grid, assembled from a scanned series.

use std::collections::BTreeSet;

use rayon::prelude::*;
use serde::Serialize;

use crate::decode::{HuMapping, read_slice_into};
use crate::error::{FileError, VolumeError};
use crate::geometry::{Problem, VolumeGeometry, plan};
use crate::progress::Progress;
use crate::scan::Series;

/// HU written where a slice is missing or unreadable when the series declares no Pixel Padding
/// Value: the usual CT padding outside the reconstruction circle.
pub const DEFAULT_PADDING_HU: i16 = -3024;

/// A CT volume: i16 HU, x (column) fastest, then y (row), then z (slice).
#[derive(Debug, Clone)]
pub struct Volume {
    pub series_uid: String,
    pub geometry: VolumeGeometry,
    pub voxels_hu: Vec<i16>,
    /// The value that marks padding (outside the scan circle, missing slices).
    pub padding_hu: i16,
    pub problems: Vec<Problem>,
}

/// Summary numbers of a volume's HU values.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct HuStats {
    pub min_hu: i16,
    pub max_hu: i16,
    /// Smallest value that is not padding.
    pub min_hu_excluding_padding: Option<i16>,
    pub padding_voxels: usize,
}

impl Volume {
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        let [nx, ny, _] = self.geometry.dims;
        (k * ny + j) * nx + i
    }
    pub fn get(&self, i: usize, j: usize, k: usize) -> i16 {
        self.voxels_hu[self.index(i, j, k)]
    }
    pub fn slice_hu(&self, k: usize) -> &[i16] {
        let n = self.geometry.dims[0] * self.geometry.dims[1];
        &self.voxels_hu[k * n..(k + 1) * n]
    }
    pub fn stats(&self) -> HuStats {
        let (min, max, min_np, pad) = self
            .voxels_hu
            .par_chunks(1 << 16)
            .map(|c| {
                let mut acc = (i16::MAX, i16::MIN, i16::MAX, 0usize);
                for &v in c {
                    acc.0 = acc.0.min(v);
                    acc.1 = acc.1.max(v);
                    if v == self.padding_hu {
                        acc.3 += 1;
                    } else {
                        acc.2 = acc.2.min(v);
                    }
                }
                acc
            })
            .reduce(|| (i16::MAX, i16::MIN, i16::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1), a.2.min(b.2), a.3 + b.3));
        HuStats {
            min_hu: min,
            max_hu: max,
            min_hu_excluding_padding: (pad < self.voxels_hu.len()).then_some(min_np),
            padding_voxels: pad,
        }
    }
}

/// Decodes every slice of `series` in parallel into one HU volume.
///
/// A slice that fails to decode does not abort the import: its place is filled with padding
/// and a [`Problem::SliceUnreadable`] names the file and the error. Only a series in which no
/// slice decodes is an error.
pub fn load_series(series: &Series, progress: &Progress) -> Result<Volume, VolumeError> {
    let not_a_volume = |why: String| VolumeError::NotAVolume { series_uid: series.series_uid.clone(), why };
    let plan = plan(&series.slices).map_err(not_a_volume)?;
    let [nx, ny, nz] = plan.geometry.dims;
    let slice_len = nx * ny;
    let limit = crate::limits::max_volume_voxels();
    let too_large = || VolumeError::TooLarge { dims: plan.geometry.dims, limit_voxels: limit };
    let total = slice_len.checked_mul(nz).ok_or_else(too_large)?;
    if total > limit {
        return Err(too_large());
    }

    // Padding: the series' own Pixel Padding Value in HU, else the CT convention.
    let padding_hu = plan
        .slots
        .iter()
        .flatten()
        .next()
        .and_then(|&i| {
            let h = &series.slices[i];
            h.pixel_padding_value.map(|raw| HuMapping::new(h).hu(raw))
        })
        .unwrap_or(DEFAULT_PADDING_HU);
    // Zeroed allocation maps pages lazily, so the first touch of each slice happens on the
    // worker that decodes it; every slice is then either decoded or filled with padding.
    let mut voxels_hu: Vec<i16> = vec![0; total];

    progress.start(nz);
    let results: Vec<Result<(), FileError>> = voxels_hu
        .par_chunks_mut(slice_len)
        .zip(plan.slots.par_iter())
        .map(|(out, slot)| {
            if progress.is_cancelled() {
                return Ok(());
            }
            let result = if let Some(i) = slot {
                read_slice_into(&series.slices[*i], plan.rows, plan.cols, out)
            } else {
                out.fill(padding_hu);
                Ok(())
            };
            if result.is_err() {
                out.fill(padding_hu);
            }
            progress.advance();
            result
        })
        .collect();
    if progress.is_cancelled() {
        return Err(VolumeError::Cancelled);
    }
    let mut problems = plan.problems;
    if series.uid_derived {
        problems.insert(0, Problem::SeriesUidDerived { series_uid: series.series_uid.clone() });
    }
    let mut failed = Vec::new();
    for (k, result) in results.into_iter().enumerate() {
        if let Err(e) = result {
            problems.push(Problem::SliceUnreadable { slice: k, path: e.path().to_owned(), error: e.to_string() });
            failed.push(e);
        }
    }
    let present = plan.slots.iter().flatten().count();
    if present > 0 && failed.len() == present {
        return Err(VolumeError::AllSlicesFailed {
            series_uid: series.series_uid.clone(),
            first: Box::new(failed.swap_remove(0)),
        });
    }
    Ok(Volume { series_uid: series.series_uid.clone(), geometry: plan.geometry, voxels_hu, padding_hu, problems })
}

/// The distinct transfer syntaxes of a series with their names.
pub fn transfer_syntax_names(series: &Series) -> BTreeSet<(String, String)> {
    series.transfer_syntaxes.iter().map(|uid| (uid.clone(), crate::decode::transfer_syntax_name(uid))).collect()
}
