//! NIfTI-1 export with the volume's true affine, so geometry can be checked in any research
//! tool. NIfTI world space is RAS: x and y of LPS are negated.

use std::path::Path;

use nalgebra::Matrix4;
use ndarray::ArrayView3;
use nifti::writer::WriterOptions;
use nifti::{NiftiHeader, NiftiType, XForm};

use crate::error::VolumeError;
use crate::geometry::VolumeGeometry;
use crate::volume::Volume;

/// The NIfTI affine (voxel → RAS mm) of a volume.
pub fn ras_from_voxel(volume: &Volume) -> Matrix4<f64> {
    ras_from_geometry(&volume.geometry)
}

fn ras_from_geometry(geometry: &VolumeGeometry) -> Matrix4<f64> {
    let lps = geometry.patient_from_voxel.to_cols_array();
    let mut m = Matrix4::from_column_slice(&lps);
    for c in 0..4 {
        m[(0, c)] = -m[(0, c)];
        m[(1, c)] = -m[(1, c)];
    }
    m
}

/// Writes `volume` to `path` (`.nii` or `.nii.gz`, chosen by the name) as signed 16-bit HU.
/// The header carries no DICOM text: only a fixed description.
pub fn write_nifti(volume: &Volume, path: &Path) -> Result<(), VolumeError> {
    write_array(&volume.geometry, &volume.voxels_hu, NiftiType::Int16, "LungDesk CT export, HU", path)
}

/// Writes a label volume on `geometry`'s grid (x fastest; classes of [`crate::labels`]) as
/// unsigned 8-bit NIfTI with the same affine as the CT, so it overlays in any research tool.
pub fn write_label_nifti(geometry: &VolumeGeometry, labels: &[u8], path: &Path) -> Result<(), VolumeError> {
    write_array(geometry, labels, NiftiType::Uint8, "LungDesk labels 0 bg 1 lung 2 GGO 3 cons", path)
}

/// The smallest voxel volume (mm³) whose affine is written: a (0.01 mm)³ voxel.
const MIN_VOXEL_MM3: f64 = 1e-6;

fn write_array<T>(
    geometry: &VolumeGeometry,
    voxels: &[T],
    ty: NiftiType,
    description: &str,
    path: &Path,
) -> Result<(), VolumeError>
where
    T: nifti::DataElement + Clone + bytemuck::Pod,
{
    let [nx, ny, nz] = geometry.dims;
    let nifti_error = |detail: String| VolumeError::Nifti { path: path.to_owned(), detail };
    // Memory is z, y, x with x fastest; reversing the axes gives the (x, y, z) Fortran-order
    // view NIfTI stores, without copying.
    let data = ArrayView3::from_shape((nz, ny, nx), voxels).map_err(|e| nifti_error(e.to_string()))?.reversed_axes();
    let mut header = NiftiHeader::default();
    let affine = ras_from_geometry(geometry);
    // The nifti crate unwraps while decomposing the affine for the qform (a singular or tiny
    // affine, e.g. a spacing of 1e-308, panicked there): refused here with the reason, and the
    // crate's header code runs under catch_unwind as a last line of defence.
    let (linear, det) = (affine.fixed_view::<3, 3>(0, 0), affine.fixed_view::<3, 3>(0, 0).determinant());
    if affine.iter().any(|v| !v.is_finite() || v.abs() > f64::from(f32::MAX)) || det.abs() < MIN_VOXEL_MM3 {
        return Err(nifti_error(format!(
            "the voxel-to-patient affine is unusable (voxel volume {:.3e} mm³; columns {:?})",
            det.abs(),
            linear.column_iter().map(|c| c.norm()).collect::<Vec<_>>()
        )));
    }
    let sets_forms = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        header.set_sform(&affine, XForm::ScannerAnat);
        header.set_qform(&affine, XForm::ScannerAnat);
    }));
    if sets_forms.is_err() {
        return Err(nifti_error("the nifti crate could not encode the affine".into()));
    }
    let [sx, sy, sz] = geometry.spacing_mm;
    header.pixdim = [1.0, sx as f32, sy as f32, sz as f32, 1.0, 1.0, 1.0, 1.0];
    header.xyzt_units = 2; // millimetres
    header.scl_slope = 1.0;
    header.scl_inter = 0.0;
    header.set_description_str(description).map_err(|e| nifti_error(e.to_string()))?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    WriterOptions::new(path)
        .reference_header(&header)
        .compress(gz)
        .write_nifti_with_type(&data, ty)
        .map_err(|e| nifti_error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::DMat4;

    /// A spacing of 1e-308 mm (a hostile Pixel Spacing or Slice Thickness) made the nifti
    /// crate panic on its affine; it is now an error that names the file.
    #[test]
    fn a_degenerate_affine_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tiny.nii");
        for scale in [1e-308, 0.0, f64::NAN, 1e300] {
            let geometry = VolumeGeometry {
                dims: [2, 2, 2],
                spacing_mm: [scale, scale, 1.0],
                patient_from_voxel: DMat4::from_scale(glam::DVec3::new(scale, scale, 1.0)),
            };
            let e = write_label_nifti(&geometry, &[0u8; 8], &path).expect_err("refused");
            assert!(e.to_string().contains("tiny.nii") && e.to_string().contains("affine"), "{e}");
        }
        let good = VolumeGeometry { dims: [2, 2, 2], spacing_mm: [1.0; 3], patient_from_voxel: DMat4::IDENTITY };
        write_label_nifti(&good, &[0u8; 8], &path).expect("a sane affine is written");
    }
}
