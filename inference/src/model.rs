//! Running a 2D ONNX segmentation model over a volume, slice by slice, through `ort`.
//!
//! 1. Each axial slice is resampled (bilinear) to the manifest's in-plane spacing, its HU
//!    clipped to the manifest's window and scaled to 0..1.
//! 2. The slice is cut into overlapping tiles; tiles that miss the region of interest are
//!    skipped. Tiles run in batches; ONNX Runtime spreads each batch over all cores.
//! 3. Softmax probabilities are blended where tiles overlap (weights that ramp down over the
//!    overlap), resampled back to the volume grid (bilinear) and the arg-max class is taken.
//!
//! On slices thinner than the model's spacing, only every k-th slice is read
//! ([`read_slices`]) and the slices between take probabilities interpolated between them.

use std::path::PathBuf;
use std::sync::Mutex;

use lungdesk_volume::{Progress, VolumeGeometry, labels};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use rayon::prelude::*;

use crate::manifest::{LoadedManifest, ManifestError, shape_text};
use crate::runtime::Runtime;

/// The most output classes a model may have (background, lung, ground glass, consolidation).
pub const MAX_CLASSES: usize = 4;

/// Slices run together between progress reports and cancel checks.
pub const CHUNK_SLICES: usize = 8;

/// Why a model could not be loaded or run. Each variant names the model file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("model {file}: cannot read it: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("model {file}: ONNX Runtime cannot load it (damaged or not an ONNX model?): {detail}")]
    Load { file: PathBuf, detail: String },
    #[error("model {file}: inference failed: {detail}")]
    Run { file: PathBuf, detail: String },
    #[error(
        "model {file}: the series is not axial (slice normal {normal:?}); the bundled models read axial slices only"
    )]
    NotAxial { file: PathBuf, normal: [f64; 3] },
    #[error("analysis cancelled")]
    Cancelled,
}

/// A loaded model and its manifest.
#[derive(Debug)]
pub struct SliceModel {
    pub manifest: LoadedManifest,
    session: Mutex<Session>,
}

fn dims_of(outlet: &ort::value::Outlet) -> Vec<i64> {
    outlet.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default()
}

/// The shape of the model's input or output `name`, checked against the manifest's.
fn check_outlet(
    outlets: &[ort::value::Outlet],
    kind: &str,
    name: &str,
    declared: &[serde_json::Value],
    path: &std::path::Path,
) -> Result<Vec<i64>, ManifestError> {
    let path = path.to_owned();
    let Some(outlet) = outlets.iter().find(|o| o.name() == name) else {
        let names: Vec<&str> = outlets.iter().map(ort::value::Outlet::name).collect();
        return Err(ManifestError::Invalid {
            path,
            detail: format!("the model has no {kind} {name:?} (it has {names:?})"),
        });
    };
    let actual = dims_of(outlet);
    if shape_fits(declared, &actual) {
        return Ok(actual);
    }
    let (declared, actual) = (shape_text(declared), format!("{actual:?}"));
    Err(if kind == "input" {
        ManifestError::WrongInputShape { path, declared, actual }
    } else {
        ManifestError::WrongOutputShape { path, declared, actual }
    })
}

/// Whether a manifest shape fits a model's: same rank; fixed sizes on both sides agree.
fn shape_fits(declared: &[serde_json::Value], actual: &[i64]) -> bool {
    declared.len() == actual.len()
        && declared.iter().zip(actual).all(|(d, &a)| match d.as_i64() {
            Some(d) => a < 0 || d == a,
            None => true,
        })
}

impl SliceModel {
    /// Loads the model file of `manifest` into an ONNX Runtime session and checks its inputs
    /// and outputs against the manifest. A damaged file is an error, not a crash.
    pub fn load(manifest: LoadedManifest, runtime: &Runtime) -> Result<Self, ModelError> {
        let file = manifest.model_file.clone();
        let bytes = std::fs::read(&file).map_err(|source| ModelError::Read { file: file.clone(), source })?;
        manifest.verify_checksum(&bytes)?;
        let load_error = |detail: String| ModelError::Load { file: file.clone(), detail };
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let session = Session::builder(&runtime.environment)
            .map_err(|e| load_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| load_error(e.to_string()))?
            .commit_from_memory(&bytes)
            .map_err(|e| load_error(e.to_string()))?;
        let m = &manifest.manifest;
        let path = manifest.path.clone();
        let input = check_outlet(session.inputs(), "input", &m.input.name, &m.input.shape, &path)?;
        if m.input.shape[1].as_u64() != Some(1) {
            let detail = format!(
                "input shape {} must have one channel (HU), the model has {input:?}",
                shape_text(&m.input.shape)
            );
            return Err(ManifestError::Invalid { path, detail }.into());
        }
        check_outlet(session.outputs(), "output", &m.output.name, &m.output.shape, &path)?;
        Ok(Self { manifest, session: Mutex::new(session) })
    }

    /// The slices this model reads in a series of `slices` slices `slice_gap_mm` apart (see
    /// [`read_slices`]).
    pub fn read_slices(&self, slices: usize, slice_gap_mm: f64) -> Vec<usize> {
        let [mx, my] = self.manifest.manifest.input.spacing_mm;
        read_slices(slices, slice_gap_mm, mx.min(my))
    }

    /// Progress steps [`Self::predict`] reports on a series of this geometry.
    pub fn steps(&self, geometry: &VolumeGeometry) -> usize {
        self.read_slices(geometry.dims[2], geometry.spacing_mm[2]).len().div_ceil(CHUNK_SLICES)
    }

    /// Runs the model on `batch` tiles (`[n, 1, h, w]`, values 0..1) and returns its logits
    /// (`[n, classes, h, w]`).
    pub fn run_tiles(&self, input: Vec<f32>, n: usize, tile: [usize; 2]) -> Result<Vec<f32>, ModelError> {
        let m = &self.manifest.manifest;
        let run_error = |detail: String| ModelError::Run { file: self.manifest.model_file.clone(), detail };
        let tensor = Tensor::from_array(([n, 1, tile[1], tile[0]], input)).map_err(|e| run_error(e.to_string()))?;
        let mut session = self.session.lock().map_err(|_| run_error("session lock poisoned".into()))?;
        let outputs =
            session.run(ort::inputs![m.input.name.as_str() => tensor]).map_err(|e| run_error(e.to_string()))?;
        let value = outputs.get(&m.output.name).ok_or_else(|| run_error(format!("no output {:?}", m.output.name)))?;
        let (shape, logits) = value.try_extract_tensor::<f32>().map_err(|e| run_error(e.to_string()))?;
        let want = [n as i64, m.output.classes.len() as i64, tile[1] as i64, tile[0] as i64];
        if **shape != want {
            return Err(run_error(format!("output shape {:?}, expected {want:?}", &**shape)));
        }
        Ok(logits.to_vec())
    }

    /// LungDesk labels on the volume grid (x fastest), from the model's arg-max class. Only
    /// voxels inside `roi` (when given) are read; the rest are background. Reports
    /// [`Self::steps`] steps on `progress` and stops when it is cancelled.
    #[allow(clippy::too_many_lines, clippy::many_single_char_names)] // the four steps of the module doc, in order
    pub fn predict(
        &self,
        geometry: &VolumeGeometry,
        voxels_hu: &[i16],
        roi: Option<&[bool]>,
        progress: &Progress,
    ) -> Result<Vec<u8>, ModelError> {
        let m = &self.manifest.manifest;
        let normal = geometry.patient_from_voxel.z_axis.truncate().normalize();
        if normal.z.abs() < 0.9 {
            return Err(ModelError::NotAxial { file: self.manifest.model_file.clone(), normal: normal.to_array() });
        }
        let [nx, ny, nz] = geometry.dims;
        let [sx, sy, sz] = geometry.spacing_mm;
        let [mx, my] = m.input.spacing_mm;
        let grid = [((nx as f64 * sx) / mx).ceil() as usize, ((ny as f64 * sy) / my).ceil() as usize];
        let tile = m.tiling.tile;
        let origins = [origins(grid[0], tile[0], m.tiling.overlap), origins(grid[1], tile[1], m.tiling.overlap)];
        let weights = [ramp(tile[0], m.tiling.overlap), ramp(tile[1], m.tiling.overlap)];
        let classes = m.output.classes.len();
        let [lo, hi] = m.input.hu_window;
        let slice_len = nx * ny;
        let plane = grid[0] * grid[1];
        let tile_len = tile[0] * tile[1];
        // Native position of model pixel i's centre, along one axis.
        let native = |i: usize, model_mm: f64, native_mm: f64| (i as f64 + 0.5) * model_mm / native_mm - 0.5;
        // Per native column and row: the two model pixels around it and the weight of the
        // second (bilinear, clamped at the edges).
        let taps = |n: usize, native_mm: f64, model_mm: f64, len: usize| -> Vec<(usize, usize, f32)> {
            (0..n)
                .map(|v| {
                    let g = ((v as f64 + 0.5) * native_mm / model_mm - 0.5).clamp(0.0, (len - 1) as f64);
                    let g0 = g.floor() as usize;
                    (g0, (g0 + 1).min(len - 1), (g - g0 as f64) as f32)
                })
                .collect()
        };
        let back = BackToVolume {
            grid,
            classes,
            x_taps: taps(nx, sx, mx, grid[0]),
            y_taps: taps(ny, sy, my, grid[1]),
            class_labels: &self.manifest.class_labels,
        };
        let read = read_slices(nz, sz, mx.min(my));
        let mut labels_out = vec![labels::BACKGROUND; voxels_hu.len()];
        let (mut run_time, mut tiles_run) = (std::time::Duration::ZERO, 0usize);
        // The last slice read by the chunk before, and its probabilities (`None`: it missed
        // the ROI, so background).
        let mut previous: Option<(usize, Option<Vec<f32>>)> = None;
        for chunk in read.chunks(CHUNK_SLICES) {
            if progress.is_cancelled() {
                return Err(ModelError::Cancelled);
            }
            // 1. Model-grid images and ROI of each slice read.
            let images: Vec<Option<(Vec<f32>, Vec<bool>)>> = chunk
                .par_iter()
                .map(|&z| {
                    let hu = &voxels_hu[z * slice_len..(z + 1) * slice_len];
                    let roi = roi.map(|r| &r[z * slice_len..(z + 1) * slice_len]);
                    if roi.is_some_and(|r| !r.contains(&true)) {
                        return None;
                    }
                    let mut image = vec![0.0f32; plane];
                    let mut inside = vec![roi.is_none(); plane];
                    for gy in 0..grid[1] {
                        let y = native(gy, my, sy);
                        for gx in 0..grid[0] {
                            let x = native(gx, mx, sx);
                            let value = bilinear(|xi, yi| f64::from(hu[yi * nx + xi]), nx, ny, x, y);
                            image[gy * grid[0] + gx] = ((value - lo) / (hi - lo)).clamp(0.0, 1.0) as f32;
                            if let Some(r) = roi {
                                let (xi, yi) = (
                                    x.round().clamp(0.0, (nx - 1) as f64) as usize,
                                    y.round().clamp(0.0, (ny - 1) as f64) as usize,
                                );
                                inside[gy * grid[0] + gx] = r[yi * nx + xi];
                            }
                        }
                    }
                    Some((image, inside))
                })
                .collect();
            // 2. Tiles that touch the ROI, in batches.
            let mut jobs = Vec::new();
            for (s, image) in images.iter().enumerate() {
                let Some((_, inside)) = image else { continue };
                for &oy in &origins[1] {
                    for &ox in &origins[0] {
                        let touches = (oy..(oy + tile[1]).min(grid[1]))
                            .any(|gy| (ox..(ox + tile[0]).min(grid[0])).any(|gx| inside[gy * grid[0] + gx]));
                        if touches {
                            jobs.push((s, ox, oy));
                        }
                    }
                }
            }
            let mut logits = Vec::with_capacity(jobs.len() * classes * tile_len);
            for batch in jobs.chunks(m.tiling.batch) {
                let mut input = vec![0.0f32; batch.len() * tile_len];
                for (b, &(s, ox, oy)) in batch.iter().enumerate() {
                    let Some((image, _)) = &images[s] else { continue };
                    for ty in 0..tile[1].min(grid[1] - oy) {
                        let w = tile[0].min(grid[0] - ox);
                        let src = (oy + ty) * grid[0] + ox;
                        input[b * tile_len + ty * tile[0]..][..w].copy_from_slice(&image[src..src + w]);
                    }
                }
                let started = std::time::Instant::now();
                logits.extend(self.run_tiles(input, batch.len(), tile)?);
                run_time += started.elapsed();
                tiles_run += batch.len();
            }
            // 3. Per slice read (in parallel): blend the tiles' softmax probabilities.
            let probabilities: Vec<Option<Vec<f32>>> = (0..images.len())
                .into_par_iter()
                .map(|s| {
                    images[s].as_ref()?;
                    let mut acc = vec![0.0f32; plane * classes];
                    let mut weight_sum = vec![0.0f32; plane];
                    for (j, &(_, ox, oy)) in jobs.iter().enumerate().filter(|(_, job)| job.0 == s) {
                        let out = &logits[j * classes * tile_len..(j + 1) * classes * tile_len];
                        for ty in 0..tile[1].min(grid[1] - oy) {
                            for tx in 0..tile[0].min(grid[0] - ox) {
                                let t = ty * tile[0] + tx;
                                let w = weights[0][tx] * weights[1][ty];
                                let max = (0..classes).map(|k| out[k * tile_len + t]).fold(f32::NEG_INFINITY, f32::max);
                                let mut exp = [0.0f32; MAX_CLASSES];
                                for (k, e) in exp.iter_mut().enumerate().take(classes) {
                                    *e = (out[k * tile_len + t] - max).exp();
                                }
                                let total: f32 = exp.iter().sum();
                                let g = (oy + ty) * grid[0] + ox + tx;
                                for (k, e) in exp.iter().enumerate().take(classes) {
                                    acc[k * plane + g] += w * e / total;
                                }
                                weight_sum[g] += w;
                            }
                        }
                    }
                    // Pixels no tile covered (outside the ROI) are background.
                    for (g, &w) in weight_sum.iter().enumerate() {
                        for k in 0..classes {
                            acc[k * plane + g] =
                                if w > 0.0 { acc[k * plane + g] / w } else { f32::from(u8::from(k == 0)) };
                        }
                    }
                    Some(acc)
                })
                .collect();
            drop(logits);
            // 4. Back to the volume grid, every slice up to the chunk's last one read: the
            // probabilities of the slice read there, or interpolated between the two read
            // around it; then bilinear in-plane and the arg-max class.
            let first = previous.as_ref().map_or(0, |(z, _)| z + 1);
            let last = chunk[chunk.len() - 1];
            let mut planes: Vec<(usize, Option<Vec<f32>>)> =
                previous.take().into_iter().chain(chunk.iter().copied().zip(probabilities)).collect();
            labels_out[first * slice_len..(last + 1) * slice_len].par_chunks_mut(slice_len).enumerate().for_each(
                |(s, out)| {
                    let z = first + s;
                    let roi = roi.map(|r| &r[z * slice_len..(z + 1) * slice_len]);
                    let after = planes.partition_point(|(read_z, _)| *read_z < z);
                    let (after_z, after_p) = &planes[after];
                    if *after_z == z {
                        if let Some(p) = after_p {
                            back.label_slice(p, roi, out);
                        }
                        return;
                    }
                    let (before_z, before_p) = &planes[after - 1];
                    let t = (z - before_z) as f32 / (after_z - before_z) as f32;
                    if let Some(p) = interpolate(before_p.as_deref(), after_p.as_deref(), t, plane) {
                        back.label_slice(&p, roi, out);
                    }
                },
            );
            previous = planes.pop();
            progress.advance();
        }
        tracing::info!(
            model = %self.manifest.label(),
            slices_read = read.len(),
            tiles = tiles_run,
            onnx_seconds = run_time.as_secs_f64(),
            "model run"
        );
        Ok(labels_out)
    }
}

/// The slices a 2D model reads in a series of `slices` slices `slice_gap_mm` apart, for a
/// model of in-plane spacing `model_mm`: every slice where the slices lie at least `model_mm`
/// apart; on thinner slices every k-th, k as large as keeps the slices read no farther apart
/// than `model_mm`, and always the last. The slices between take the class probabilities
/// interpolated linearly between the two read around them, so the model reads the series at
/// its own resolution along all three axes (a 0.35 mm series at 1.5 mm reads one slice in
/// four) rather than at the scanner's finest.
pub fn read_slices(slices: usize, slice_gap_mm: f64, model_mm: f64) -> Vec<usize> {
    if slices == 0 {
        return Vec::new();
    }
    let stride = if slice_gap_mm > 0.0 && model_mm.is_finite() {
        ((model_mm / slice_gap_mm).floor() as usize).clamp(1, slices)
    } else {
        1
    };
    let mut read: Vec<usize> = (0..slices).step_by(stride).collect();
    if read.last() != Some(&(slices - 1)) {
        read.push(slices - 1);
    }
    read
}

/// Class probabilities (`classes` planes of `plane` pixels) a fraction `t` of the way from
/// slice `a` to slice `b`; `None` for a slice outside the ROI, which is background. `None`
/// when both are.
fn interpolate(a: Option<&[f32]>, b: Option<&[f32]>, t: f32, plane: usize) -> Option<Vec<f32>> {
    let len = a.or(b)?.len();
    let background = |i: usize| f32::from(u8::from(i < plane));
    Some(
        (0..len)
            .map(|i| {
                let (pa, pb) = (a.map_or_else(|| background(i), |p| p[i]), b.map_or_else(|| background(i), |p| p[i]));
                pa + (pb - pa) * t
            })
            .collect(),
    )
}

/// How model-grid class probabilities go back to a native slice.
struct BackToVolume<'a> {
    grid: [usize; 2],
    classes: usize,
    x_taps: Vec<(usize, usize, f32)>,
    y_taps: Vec<(usize, usize, f32)>,
    class_labels: &'a [u8],
}

impl BackToVolume<'_> {
    /// Labels of one native slice (`out`, x fastest) from the model-grid probabilities `acc`
    /// (`classes` planes): bilinear probabilities, arg-max class (two classes: the second where
    /// its probability passes 0.5); voxels outside `roi` are left as they are. Where the four
    /// model pixels around a voxel share their arg-max class, any blend of them has it too
    /// (each inequality between two classes holds at all four corners, so it holds for every
    /// weighted mean of them), so that class is taken without interpolating.
    #[allow(clippy::many_single_char_names)] // the four corners, as in the module's bilinear
    fn label_slice(&self, acc: &[f32], roi: Option<&[bool]>, out: &mut [u8]) {
        let (grid, classes) = (self.grid, self.classes);
        let plane = grid[0] * grid[1];
        let winner: Vec<u8> = (0..plane)
            .map(|g| {
                if classes == 2 {
                    return u8::from(acc[plane + g] > 0.5);
                }
                let mut best = (0, f32::NEG_INFINITY);
                for k in 0..classes {
                    if acc[k * plane + g] > best.1 {
                        best = (k, acc[k * plane + g]);
                    }
                }
                best.0 as u8
            })
            .collect();
        let nx = self.x_taps.len();
        for (y, &(y0, y1, fy)) in self.y_taps.iter().enumerate() {
            for (x, &(x0, x1, fx)) in self.x_taps.iter().enumerate() {
                let i = y * nx + x;
                if roi.is_some_and(|r| !r[i]) {
                    continue;
                }
                let (a, b, c, d) = (y0 * grid[0] + x0, y0 * grid[0] + x1, y1 * grid[0] + x0, y1 * grid[0] + x1);
                let w = winner[a];
                if winner[b] == w && winner[c] == w && winner[d] == w {
                    out[i] = self.class_labels[usize::from(w)];
                    continue;
                }
                out[i] = self.class_labels[bilinear_arg_max(acc, plane, classes, [a, b, c, d], fx, fy)];
            }
        }
    }
}

/// The arg-max class (two classes: 1 where the second passes 0.5) of the probabilities at
/// model pixels `corners` (top left, top right, bottom left, bottom right) blended bilinearly
/// with weights `fx` and `fy` of the right and bottom ones.
#[allow(clippy::many_single_char_names)] // the four corners
fn bilinear_arg_max(acc: &[f32], plane: usize, classes: usize, corners: [usize; 4], fx: f32, fy: f32) -> usize {
    let [a, b, c, d] = corners;
    let at = |k: usize| {
        let p = &acc[k * plane..(k + 1) * plane];
        let top = p[a] + (p[b] - p[a]) * fx;
        let bottom = p[c] + (p[d] - p[c]) * fx;
        top + (bottom - top) * fy
    };
    if classes == 2 {
        return usize::from(at(1) > 0.5);
    }
    let mut best = (0, f32::NEG_INFINITY);
    for k in 0..classes {
        let v = at(k);
        if v > best.1 {
            best = (k, v);
        }
    }
    best.0
}

/// Tile origins along an axis of `len` pixels: overlapping by at least `overlap`, the last
/// one flush with the end; one tile (padded) when the axis is shorter than a tile.
pub fn origins(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let step = tile - overlap;
    let mut out = Vec::new();
    let mut origin = 0;
    while origin + tile < len {
        out.push(origin);
        origin += step;
    }
    out.push(len - tile);
    out
}

/// Blending weights across a tile: 1 in the middle, ramping down over `overlap` pixels to
/// each edge (never zero).
fn ramp(tile: usize, overlap: usize) -> Vec<f32> {
    (0..tile).map(|u| ((u.min(tile - 1 - u) + 1) as f32 / (overlap + 1) as f32).min(1.0)).collect()
}

/// Bilinear interpolation of `at(x, y)` on an `nx`×`ny` grid at (x, y), clamped to the edge.
fn bilinear(at: impl Fn(usize, usize) -> f64, nx: usize, ny: usize, x: f64, y: f64) -> f64 {
    let x = x.clamp(0.0, (nx - 1) as f64);
    let y = y.clamp(0.0, (ny - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(nx - 1), (y0 + 1).min(ny - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_axis_with_overlap() {
        assert_eq!(origins(100, 128, 32), vec![0]);
        assert_eq!(origins(128, 128, 32), vec![0]);
        assert_eq!(origins(300, 128, 32), vec![0, 96, 172]);
        for len in [129, 200, 257, 1000] {
            let o = origins(len, 128, 32);
            assert_eq!(o.last().copied(), Some(len - 128));
            assert!(o.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 96), "{o:?}");
        }
    }

    #[test]
    fn ramp_is_positive_and_flat_in_the_middle() {
        let r = ramp(16, 4);
        assert!(r.iter().all(|&w| w > 0.0 && w <= 1.0));
        assert!((r[0] - 0.2).abs() < 1e-6 && (r[15] - 0.2).abs() < 1e-6 && (r[8] - 1.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn thin_slices_are_read_at_the_model_spacing() {
        assert_eq!(read_slices(5, 2.0, 1.5), vec![0, 1, 2, 3, 4], "thicker than the model: every slice");
        assert_eq!(read_slices(5, 1.5, 1.5), vec![0, 1, 2, 3, 4]);
        assert_eq!(read_slices(10, 0.35, 1.5), vec![0, 4, 8, 9], "1.4 mm apart, and the last");
        assert_eq!(read_slices(9, 0.5, 1.5), vec![0, 3, 6, 8]);
        assert_eq!(read_slices(1, 0.1, 3.0), vec![0]);
        assert_eq!(read_slices(3, 0.0, 3.0), vec![0, 1, 2], "no spacing: every slice");
        assert!(read_slices(0, 1.0, 1.0).is_empty());
        for (n, gap) in [(1000, 0.35), (255, 1.25), (37, 0.7)] {
            let read = read_slices(n, gap, 1.5);
            assert!(read.windows(2).all(|w| (w[1] - w[0]) as f64 * gap <= 1.5 + 1e-9), "{read:?}");
            assert_eq!(read.last(), Some(&(n - 1)));
        }
    }

    #[test]
    fn slices_between_take_the_probabilities_between() {
        let a = [0.2, 0.8, 0.6, 0.4];
        let b = [0.6, 0.4, 0.2, 0.8];
        let mid = interpolate(Some(&a), Some(&b), 0.25, 2).expect("two slices");
        let expected = [0.3, 0.7, 0.5, 0.5];
        assert!(mid.iter().zip(expected).all(|(m, e)| (m - e).abs() < 1e-6), "{mid:?}");
        // A slice outside the ROI is background: class 0 (the first plane) certain.
        let towards_nothing = interpolate(Some(&a), None, 0.5, 2).expect("one slice");
        let expected = [0.6, 0.9, 0.3, 0.2];
        assert!(towards_nothing.iter().zip(expected).all(|(m, e)| (m - e).abs() < 1e-6), "{towards_nothing:?}");
        assert!(interpolate(None, None, 0.5, 2).is_none());
    }

    /// Taking the shared class where the four model pixels around a voxel agree gives the
    /// labels that interpolating every voxel gives, on random probability maps (smooth
    /// blobs, so that both branches run) with two and four classes, coarser and finer grids.
    #[test]
    fn shared_corner_classes_give_what_full_interpolation_gives() {
        let mut state = 0x243f_6a88_85a3_08d3u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 10_000) as f32 / 10_000.0
        };
        let (mut shared, mut mixed) = (0usize, 0usize);
        for case in 0..200 {
            let classes = if case % 2 == 0 { 2 } else { 4 };
            let grid = [6 + case % 7, 5 + case % 5];
            let plane = grid[0] * grid[1];
            // Smooth maps: a few random bumps per class, normalised to sum to one.
            let bumps: Vec<[f32; 4]> = (0..classes * 3).map(|_| [next(), next(), next() * 4.0 + 1.0, next()]).collect();
            let mut acc = vec![0f32; plane * classes];
            for g in 0..plane {
                let (gx, gy) = ((g % grid[0]) as f32 / grid[0] as f32, (g / grid[0]) as f32 / grid[1] as f32);
                for k in 0..classes {
                    acc[k * plane + g] = 0.05
                        + bumps[k * 3..k * 3 + 3]
                            .iter()
                            .map(|&[bx, by, w, h]| h * (-(((gx - bx).powi(2) + (gy - by).powi(2)) * w * 10.0)).exp())
                            .sum::<f32>();
                }
                let total: f32 = (0..classes).map(|k| acc[k * plane + g]).sum();
                for k in 0..classes {
                    acc[k * plane + g] /= total;
                }
            }
            let (nx, ny) = (grid[0] * 3 + case % 4, grid[1] * 2 + case % 3);
            let taps = |n: usize, len: usize| -> Vec<(usize, usize, f32)> {
                (0..n)
                    .map(|v| {
                        let g = ((v as f64 + 0.5) * len as f64 / n as f64 - 0.5).clamp(0.0, (len - 1) as f64);
                        let g0 = g.floor() as usize;
                        (g0, (g0 + 1).min(len - 1), (g - g0 as f64) as f32)
                    })
                    .collect()
            };
            let class_labels = [10u8, 11, 12, 13];
            let back = BackToVolume {
                grid,
                classes,
                x_taps: taps(nx, grid[0]),
                y_taps: taps(ny, grid[1]),
                class_labels: &class_labels,
            };
            let mut fast = vec![0u8; nx * ny];
            back.label_slice(&acc, None, &mut fast);
            for (y, &(y0, y1, fy)) in back.y_taps.iter().enumerate() {
                for (x, &(x0, x1, fx)) in back.x_taps.iter().enumerate() {
                    let corners = [y0 * grid[0] + x0, y0 * grid[0] + x1, y1 * grid[0] + x0, y1 * grid[0] + x1];
                    let full = class_labels[bilinear_arg_max(&acc, plane, classes, corners, fx, fy)];
                    assert_eq!(fast[y * nx + x], full, "case {case} at {x}, {y}");
                    let first = fast[y * nx + x];
                    let around: Vec<u8> = corners
                        .iter()
                        .map(|&g| class_labels[bilinear_arg_max(&acc, plane, classes, [g; 4], 0.0, 0.0)])
                        .collect();
                    if around.iter().all(|&c| c == first) {
                        shared += 1;
                    } else {
                        mixed += 1;
                    }
                }
            }
            // Outside the ROI nothing is written.
            let roi: Vec<bool> = (0..nx * ny).map(|i| i % 3 != 0).collect();
            let mut masked = vec![0u8; nx * ny];
            back.label_slice(&acc, Some(&roi), &mut masked);
            assert!(masked.iter().zip(&fast).zip(&roi).all(|((&m, &f), &r)| if r { m == f } else { m == 0 }));
        }
        assert!(shared > 1000 && mixed > 1000, "both branches ran: {shared} shared, {mixed} mixed");
    }

    #[test]
    fn bilinear_interpolates_and_clamps() {
        let at = |x: usize, y: usize| (x + 10 * y) as f64;
        assert!((bilinear(at, 3, 3, 0.5, 0.5) - 5.5).abs() < 1e-12);
        assert!((bilinear(at, 3, 3, -4.0, 9.0) - 20.0).abs() < 1e-12);
    }
}
