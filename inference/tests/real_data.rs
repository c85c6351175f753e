//! The HU baseline on the real CT series in ../shared/data. There is no lesion ground truth
//! for them, so these tests check only what anatomy makes certain: two lungs of plausible
//! volume. The numbers are printed for the record.

use lungdesk_inference::baseline::{BaselineParams, segment};
use lungdesk_inference::grade::grade;
use lungdesk_inference::quantify::quantify;
use lungdesk_volume::shared_data::real_data;
use lungdesk_volume::{Progress, load_folder};

mod common;
use common::tracheal_lumen;

#[test]
fn baseline_finds_two_lungs_of_plausible_volume_in_real_series() {
    for name in ["ricord-1a-covid", "lung-pet-ct-dx-a0002"] {
        let Some(dir) = real_data(&format!("ct/{name}")) else { continue };
        let volume = load_folder(&dir, None).expect("load");
        let found = segment(&volume.geometry, &volume.voxels_hu, &BaselineParams::default(), &Progress::new())
            .expect("baseline");
        let q = quantify(&volume.geometry, &found.labels).expect("quantify");
        let p = grade(&q);
        eprintln!("{name}: {q:?}\n{name}: {}", p.explanation);
        assert!((2000.0..9000.0).contains(&q.lung_ml), "{name}: lungs {:.0} mL", q.lung_ml);
        for (side, stats) in [("right", q.right), ("left", q.left)] {
            assert!(stats.lung_ml > 700.0, "{name}: {side} lung {:.0} mL", stats.lung_ml);
        }
        // The trachea is air inside the body, but not lung: its lumen, tracked on HU alone
        // through the top 50 mm of the series (past the apices), is not labelled.
        let slices = (50.0 / volume.geometry.spacing_mm[2]).ceil() as usize;
        let lumen = tracheal_lumen(&volume, slices);
        let labelled = lumen.iter().filter(|&&i| found.labels[i] != lungdesk_volume::labels::BACKGROUND).count();
        eprintln!("{name}: {labelled} of the trachea's {} voxels labelled", lumen.len());
        assert!(lumen.len() > 1000, "{name}: tracheal lumen of {} voxels", lumen.len());
        assert!(labelled * 100 <= lumen.len(), "{name}: {labelled} of the trachea's {} voxels labelled", lumen.len());
    }
}

/// Per slice, air (< -500 HU) connected to the image border: the outside of the body.
fn outside_body(dims: [usize; 3], hu: &[i16]) -> Vec<bool> {
    let [nx, ny, nz] = dims;
    let mut out = vec![false; hu.len()];
    for z in 0..nz {
        let base = z * nx * ny;
        let mut stack: Vec<usize> =
            (0..nx * ny).filter(|&i| i % nx == 0 || i % nx == nx - 1 || i / nx == 0 || i / nx == ny - 1).collect();
        while let Some(i) = stack.pop() {
            if out[base + i] || hu[base + i] >= -500 {
                continue;
            }
            out[base + i] = true;
            let (x, y) = (i % nx, i / nx);
            if x > 0 {
                stack.push(i - 1);
            }
            if x + 1 < nx {
                stack.push(i + 1);
            }
            if y > 0 {
                stack.push(i - nx);
            }
            if y + 1 < ny {
                stack.push(i + nx);
            }
        }
    }
    out
}

/// On real anatomy the rib cage bound (inference/src/rib_cage.rs) finds a rib cage that holds
/// the lungs on nearly every slice that has lung, and it shuts the chest wall out of the band
/// around the lungs where the lesion model may add lung: of the band's voxels within 5 mm of
/// the skin, at least nine in ten go.
#[test]
fn the_rib_cage_of_real_series_holds_the_lungs_and_shuts_out_the_skin() {
    use lungdesk_inference::mask::{Grid, inplane_depth_mm, within_mm_of};
    use lungdesk_inference::rib_cage::bound_by_rib_cage;
    for name in ["ricord-1a-covid", "lung-pet-ct-dx-a0002"] {
        let Some(dir) = real_data(&format!("ct/{name}")) else { continue };
        let volume = load_folder(&dir, None).expect("load");
        let g = &volume.geometry;
        let grid = Grid { dims: g.dims };
        let found = segment(g, &volume.voxels_hu, &BaselineParams::default(), &Progress::new()).expect("baseline");
        let lung: Vec<bool> = found.labels.iter().map(|&l| l != lungdesk_volume::labels::BACKGROUND).collect();
        let in_plane = [g.spacing_mm[0], g.spacing_mm[1]];
        let mut band = within_mm_of(grid, &lung, in_plane, lungdesk_inference::analysis::LUNG_GROWTH_MM);
        let body: Vec<bool> = outside_body(g.dims, &volume.voxels_hu).iter().map(|&o| !o).collect();
        let depth = inplane_depth_mm(grid, &body, in_plane);
        let near_skin = |band: &[bool]| (0..band.len()).filter(|&i| band[i] && body[i] && depth[i] < 5.0).count();
        let before = near_skin(&band);
        let done = bound_by_rib_cage(grid, g.spacing_mm, &volume.voxels_hu, &lung, &mut band);
        let after = near_skin(&band);
        let lung_slices = lung.chunks(grid.slice_len()).filter(|s| s.contains(&true)).count();
        eprintln!("{name}: {done:?} of {lung_slices} slices with lung; band voxels near the skin {before} -> {after}");
        assert!(done.bounded_slices as f64 >= 0.9 * lung_slices as f64, "{name}: {done:?} of {lung_slices}");
        assert!(before > 1000, "{name}: the band must reach the skin for this test to mean anything ({before})");
        // What stays is where bone itself lies within a few mm of the skin (spinous processes,
        // sternum, the shoulders at the apex), inside the hull by definition.
        assert!(after as f64 <= 0.1 * before as f64, "{name}: the band still reaches the skin: {before} -> {after}");
        assert!((0..lung.len()).all(|i| !lung[i] || band[i]), "{name}: the lung itself is never taken out");

        // Does an accepted hull cut lung? Bound the band by the lung shrunk by 5 mm (so that
        // the lung's own edge is not what holds it in) and count how much of the whole lung
        // the bound would have taken.
        let lung_depth = inplane_depth_mm(grid, &lung, in_plane);
        let core: Vec<bool> = lung_depth.iter().map(|&d| d >= 5.0).collect();
        let mut band = within_mm_of(grid, &lung, in_plane, lungdesk_inference::analysis::LUNG_GROWTH_MM);
        bound_by_rib_cage(grid, g.spacing_mm, &volume.voxels_hu, &core, &mut band);
        let total = lung.iter().filter(|&&l| l).count();
        let cut = (0..lung.len()).filter(|&i| lung[i] && !band[i]).count();
        eprintln!("{name}: with the lung shrunk by 5 mm, the bound cuts {cut} of {total} lung voxels");
        assert!(cut as f64 <= 0.005 * total as f64, "{name}: the rib cage cuts {cut} of {total} lung voxels");
    }
}
