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
    header.set_sform(&affine, XForm::ScannerAnat);
    header.set_qform(&affine, XForm::ScannerAnat);
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
