//! The trachea and main bronchi, out of the lung. A lung model reads the air of the trachea as
//! lung, and 3D connectivity through the bronchi joins it to both lungs; reference lung masks
//! (lungmask's R231, the LOLA11 convention) leave it out, and soft tissue round it — the
//! thyroid, the oesophagus, mediastinal fat at the thoracic inlet — is what a lesion model may
//! call consolidation, joined to the lung through the trachea.
//!
//! The airway is found from the head down, per axial slice. It starts in the slices nearest the
//! head that hold lung: a section of the lung mask that is small (≤ [`MAX_AIRWAY_SECTION_MM2`],
//! a wide adult trachea), dark (median ≤ [`AIRWAY_MEDIAN_HU`]: air, not the partial volume of
//! a lung apex) and on the body's midline (within [`MAX_MIDLINE_MM`]; the apices lie 35–50 mm
//! from it). Each slice further down keeps the lung mask's sections that overlap the airway of
//! the slice above (within [`OVERLAP_MM`], for bronchi that run obliquely through thick
//! slices) and are themselves small and dark: the trachea, and below the carina the two main
//! bronchi. Where a bronchus enters the lung its section joins the lung's and is no longer
//! small, and the airway ends there; intrapulmonary bronchi stay in the lung, as in the
//! reference masks.

use crate::mask::{Feet, Grid, components_where};

/// Largest section (mm²) of the lung mask taken as airway: a trachea up to 27 mm across.
pub const MAX_AIRWAY_SECTION_MM2: f64 = 600.0;
/// Highest median HU of an airway section: air, whatever the wall's partial volume round it
/// (measured on the internal air of the top slices: the trachea −906 to −925 HU on RICORD's
/// 1.25 mm slices, −960 to −980 HU on Lung-PET-CT-Dx A0002's 8 mm; lung apices −506 to
/// −878 HU, and their first sections, partial volume, −494 to −824 HU as a mean).
pub const AIRWAY_MEDIAN_HU: f64 = -870.0;
/// Farthest (mm) the trachea's centre may lie from the body's midline where the airway starts.
pub const MAX_MIDLINE_MM: f64 = 25.0;
/// How far (mm, along the slice axis) below the head-most slice with lung the airway's start is
/// looked for.
pub const START_SEARCH_MM: f64 = 40.0;
/// Longest airway (mm, along the slice axis) followed from its start: the trachea below the
/// thoracic inlet and the main bronchi are 10–17 cm together, so a chain of small dark sections
/// longer than this (emphysematous lung beside the mediastinum) is not followed further.
pub const MAX_AIRWAY_LENGTH_MM: f64 = 200.0;
/// In-plane tolerance (mm) of the overlap with the airway of the slice above.
pub const OVERLAP_MM: f64 = 3.0;
/// Body: the slice's largest 4-connected region denser than this (as in `rib_cage`).
const BODY_HU: i16 = -500;

/// The airway found in a lung mask (see the module): per slice it crosses, from the head down,
/// the slice's index along k and the pixels (`y · nx + x`) of its sections there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Airway {
    pub slices: Vec<(usize, Vec<usize>)>,
}

impl Airway {
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }

    /// Voxels of the airway.
    pub fn voxels(&self) -> usize {
        self.slices.iter().map(|(_, p)| p.len()).sum()
    }

    /// The airway's voxels and those within `mm` of them in their slice (a disc of that
    /// radius round each), as indices into the volume of `grid`.
    pub fn with_margin(&self, grid: Grid, spacing_mm: [f64; 2], mm: f64) -> Vec<usize> {
        let [nx, ny, _] = grid.dims;
        let mut out = Vec::new();
        for (z, pixels) in &self.slices {
            let within = disc_round(nx, ny, pixels, spacing_mm, mm);
            out.extend(within.iter().enumerate().filter(|&(_, &w)| w).map(|(i, _)| z * nx * ny + i));
        }
        out
    }
}

/// The pixels of one `nx` × `ny` slice within `mm` of `pixels` (a disc round each).
fn disc_round(nx: usize, ny: usize, pixels: &[usize], spacing_mm: [f64; 2], mm: f64) -> Vec<bool> {
    let mut out = vec![false; nx * ny];
    let reach = |s: f64| if s > 0.0 && s.is_finite() { (mm / s).floor().max(0.0) as i64 } else { 0 };
    let (rx, ry) = (reach(spacing_mm[0]), reach(spacing_mm[1]));
    for &i in pixels {
        let (x, y) = ((i % nx) as i64, (i / nx) as i64);
        for dy in -ry..=ry {
            for dx in -rx..=rx {
                let (px, py) = (x + dx, y + dy);
                let d_mm = ((dx as f64 * spacing_mm[0]).powi(2) + (dy as f64 * spacing_mm[1]).powi(2)).sqrt();
                if px >= 0 && py >= 0 && (px as usize) < nx && (py as usize) < ny && d_mm <= mm {
                    out[py as usize * nx + px as usize] = true;
                }
            }
        }
    }
    out
}

/// One 4-connected section of the lung mask in a slice; its median HU only when it is no
/// larger than an airway's (else infinite: a lung's section need not be sorted).
struct Section {
    pixels: Vec<usize>,
    median_hu: f64,
    centre_x: f64,
}

fn sections(nx: usize, ny: usize, in_lung: impl Fn(usize) -> bool, hu: &[i16], max_pixels: usize) -> Vec<Section> {
    let components = components_where(Grid { dims: [nx, ny, 1] }, in_lung);
    let mut out: Vec<Section> = (0..components.sizes.len())
        .map(|_| Section { pixels: Vec::new(), median_hu: f64::INFINITY, centre_x: 0.0 })
        .collect();
    for (run, c) in components.runs() {
        out[c as usize].pixels.extend(run);
    }
    for s in &mut out {
        if s.pixels.is_empty() {
            continue;
        }
        let n = s.pixels.len() as f64;
        s.centre_x = s.pixels.iter().map(|&i| (i % nx) as f64).sum::<f64>() / n;
        if s.pixels.len() <= max_pixels {
            let mut values: Vec<i16> = s.pixels.iter().map(|&i| hu[i]).collect();
            let mid = values.len() / 2;
            s.median_hu = f64::from(*values.select_nth_unstable(mid).1);
        }
    }
    out.retain(|s| !s.pixels.is_empty());
    out
}

/// The body's midline (pixel column) in a slice: the middle of its largest region's extent.
fn midline_x(nx: usize, ny: usize, hu: &[i16]) -> Option<f64> {
    let components = components_where(Grid { dims: [nx, ny, 1] }, |i| hu[i] > BODY_HU);
    let body = (1..components.sizes.len()).max_by_key(|&c| components.sizes[c])?;
    let (mut lo, mut hi) = (usize::MAX, 0);
    for (run, c) in components.runs() {
        if c as usize == body {
            lo = lo.min(run.start % nx);
            hi = hi.max((run.end - 1) % nx);
        }
    }
    Some((lo + hi) as f64 / 2.0)
}

/// The trachea and main bronchi within the lung mask `in_lung` (a voxel index of `grid` → in
/// the lung; see the module). `feet`: which way along k the feet lie, so the search runs from
/// the head. The grid's x axis runs across the patient (axial slices as the models read them).
/// Spacing that is not finite and positive, or `voxels_hu` not of the grid's size, finds none.
pub fn trachea_and_main_bronchi(
    grid: Grid,
    spacing_mm: [f64; 3],
    voxels_hu: &[i16],
    in_lung: impl Fn(usize) -> bool,
    feet: Feet,
) -> Airway {
    let [nx, ny, nz] = grid.dims;
    let plane = grid.slice_len();
    if voxels_hu.len() != grid.len() || plane == 0 || !spacing_mm.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Airway::default();
    }
    let pixel_mm2 = spacing_mm[0] * spacing_mm[1];
    let head_to_feet: Vec<usize> = match feet {
        Feet::LowerK => (0..nz).rev().collect(),
        Feet::HigherK => (0..nz).collect(),
    };
    let max_pixels = (MAX_AIRWAY_SECTION_MM2 / pixel_mm2).floor() as usize;
    let airway_like = |s: &Section| s.pixels.len() <= max_pixels && s.median_hu <= AIRWAY_MEDIAN_HU;
    let sections_of =
        |z: usize| sections(nx, ny, |i| in_lung(z * plane + i), &voxels_hu[z * plane..(z + 1) * plane], max_pixels);
    let Some(top) = head_to_feet.iter().position(|&z| (0..plane).any(|i| in_lung(z * plane + i))) else {
        return Airway::default();
    };
    let search = (START_SEARCH_MM / spacing_mm[2]).floor() as usize;
    let mut start = None;
    for (step, &z) in head_to_feet.iter().enumerate().skip(top).take(search + 1) {
        let candidates: Vec<Section> = sections_of(z).into_iter().filter(|s| airway_like(s)).collect();
        if candidates.is_empty() {
            continue;
        }
        let Some(mid) = midline_x(nx, ny, &voxels_hu[z * plane..(z + 1) * plane]) else { continue };
        let seeds: Vec<usize> = candidates
            .into_iter()
            .filter(|s| ((s.centre_x - mid) * spacing_mm[0]).abs() <= MAX_MIDLINE_MM)
            .flat_map(|s| s.pixels)
            .collect();
        if !seeds.is_empty() {
            start = Some((step, seeds));
            break;
        }
    }
    let Some((start, mut above)) = start else {
        return Airway::default();
    };
    let max_slices = (MAX_AIRWAY_LENGTH_MM / spacing_mm[2]).floor() as usize + 1;
    let mut airway = Airway::default();
    for (step, &z) in head_to_feet.iter().enumerate().skip(start).take(max_slices) {
        if step > start {
            let reach = disc_round(nx, ny, &above, [spacing_mm[0], spacing_mm[1]], OVERLAP_MM);
            let below: Vec<usize> = sections_of(z)
                .into_iter()
                .filter(|s| airway_like(s) && s.pixels.iter().any(|&i| reach[i]))
                .flat_map(|s| s.pixels)
                .collect();
            if below.is_empty() {
                break;
            }
            above = below;
        }
        airway.slices.push((z, above.clone()));
    }
    airway
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic chest on 2 mm slices, k running foot → head: a soft-tissue body, two lungs
    /// (−850 HU) from k 10 to `lung_top` whose apices narrow over its top 10 slices, and a trachea (−1000 HU, 16 mm
    /// across) on the midline from `trachea_top` down to k 40, where it forks into two bronchi
    /// that run out sideways and enter the lungs near k 38.
    fn chest_with(trachea_top: usize, lumen_hu: i16, lung_top: usize) -> (Grid, [f64; 3], Vec<i16>, Vec<bool>) {
        let (nx, ny, nz) = (120usize, 100usize, 70usize);
        let grid = Grid { dims: [nx, ny, nz] };
        let spacing = [2.0, 2.0, 2.0];
        let mut hu = vec![-1000i16; grid.len()];
        let mut lung = vec![false; grid.len()];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let i = z * nx * ny + y * nx + x;
                    let (fx, fy) = (x as f64 - 60.0, y as f64 - 50.0);
                    if (fx / 55.0).powi(2) + (fy / 45.0).powi(2) <= 1.0 {
                        hu[i] = 40;
                    }
                    // Lungs: ellipses centred 27 px (54 mm) either side, narrowing at the apex.
                    let apex = lung_top - 9;
                    let r = if !(10..=lung_top).contains(&z) {
                        0.0
                    } else if z < apex {
                        1.0
                    } else {
                        1.0 - (z - apex) as f64 / 10.0
                    };
                    for side in [-1.0, 1.0] {
                        let (dx, dy) = (fx - side * 27.0, fy);
                        if r > 0.0 && (dx / (18.0 * r)).powi(2) + (dy / (30.0 * r)).powi(2) <= 1.0 {
                            hu[i] = -850;
                            lung[i] = true;
                        }
                    }
                    // Trachea: radius 4 px on the midline from k 40 up; below, two bronchi of
                    // radius 3 px whose centres move 2 px sideways per slice down to k 30.
                    let tube = |cx: f64, radius: f64| (fx - cx).powi(2) + (fy + 10.0).powi(2) <= radius * radius;
                    let airway = if z > trachea_top {
                        false
                    } else if z >= 40 {
                        tube(0.0, 4.0)
                    } else if z >= 30 {
                        let off = 2.0 * (40 - z) as f64 + 2.0;
                        tube(-off, 3.0) || tube(off, 3.0)
                    } else {
                        false
                    };
                    if airway {
                        hu[i] = lumen_hu;
                        lung[i] = true;
                    }
                }
            }
        }
        (grid, spacing, hu, lung)
    }

    fn chest() -> (Grid, [f64; 3], Vec<i16>, Vec<bool>) {
        chest_with(69, -1000, 59)
    }

    fn find(grid: Grid, spacing: [f64; 3], hu: &[i16], lung: &[bool], feet: Feet) -> (Airway, Vec<bool>) {
        let airway = trachea_and_main_bronchi(grid, spacing, hu, |i| lung[i], feet);
        let mut mask = vec![false; grid.len()];
        for i in airway.with_margin(grid, [spacing[0], spacing[1]], 0.0) {
            mask[i] = true;
        }
        (airway, mask)
    }

    #[test]
    fn the_trachea_and_main_bronchi_come_out_down_to_where_they_enter_the_lungs() {
        let (grid, spacing, hu, lung) = chest();
        let (airway, mask) = find(grid, spacing, &hu, &lung, Feet::LowerK);
        let plane = grid.slice_len();
        let on = |z: usize| mask[z * plane..(z + 1) * plane].iter().filter(|&&a| a).count();
        // The trachea from the top slice (k 69) down past the carina.
        for z in 40..70 {
            assert!(on(z) > 30, "trachea at k {z}: {} px", on(z));
        }
        // Every airway voxel is in the lung mask, and none is parenchyma (−850 HU).
        for (i, &a) in mask.iter().enumerate() {
            if a {
                assert!(lung[i] && hu[i] == -1000, "voxel {i}");
            }
        }
        // Where the bronchi reach the lungs they join the lung's section and stop: the slices
        // below hold no airway, and the lungs keep every parenchyma voxel.
        let last = (0..70).find(|&z| on(z) > 0);
        assert!(last.is_some_and(|k| (30..40).contains(&k)), "airway ends at k {last:?}");
        for z in 0..30 {
            assert_eq!(on(z), 0, "k {z}");
        }
        assert_eq!(airway.voxels(), mask.iter().filter(|&&a| a).count());
        // The margin: a disc round each airway pixel in its slice, never a band along the
        // slice's edge.
        let margin = airway.with_margin(grid, [spacing[0], spacing[1]], 3.0);
        let [nx, ny, _] = grid.dims;
        assert!(margin.len() > airway.voxels());
        for &i in &margin {
            let (x, y) = (i % nx, (i / nx) % ny);
            assert!(x > 0 && y > 0 && x < nx - 1 && y < ny - 1, "edge pixel {i} in the margin");
            assert!(mask[i] || hu[i] != -1000 || !lung[i]);
        }
    }

    #[test]
    fn the_search_runs_from_the_head_whichever_way_k_runs() {
        let (grid, spacing, hu, lung) = chest();
        let [nx, ny, nz] = grid.dims;
        let plane = nx * ny;
        let flip = |v: &[i16]| (0..nz).rev().flat_map(|z| v[z * plane..(z + 1) * plane].to_vec()).collect::<Vec<_>>();
        let flipb = |v: &[bool]| (0..nz).rev().flat_map(|z| v[z * plane..(z + 1) * plane].to_vec()).collect::<Vec<_>>();
        let (a, a_mask) = find(grid, spacing, &hu, &lung, Feet::LowerK);
        let (_, b_mask) = find(grid, spacing, &flip(&hu), &flipb(&lung), Feet::HigherK);
        assert_eq!(flipb(&a_mask), b_mask);
        assert!(a.voxels() > 0);
        // Searched from the wrong end (the lung bases), nothing is airway.
        let (wrong, _) = find(grid, spacing, &hu, &lung, Feet::HigherK);
        assert!(wrong.is_empty());
    }

    /// The lung model may not call the trachea lung above the apices: the search for its start
    /// runs 40 mm (20 slices) below the head-most slice with lung, and no further.
    #[test]
    fn the_airway_may_start_below_the_apices_within_the_search() {
        let (grid, spacing, hu, lung) = chest_with(52, -1000, 59);
        let (airway, _) = find(grid, spacing, &hu, &lung, Feet::LowerK);
        assert_eq!(airway.slices.first().map(|s| s.0), Some(52), "starts at the trachea's top");
        // Lungs up to k 69: a trachea whose top (k 45) is 48 mm below theirs is not looked for.
        let (grid, spacing, hu, lung) = chest_with(45, -1000, 69);
        let (late, _) = find(grid, spacing, &hu, &lung, Feet::LowerK);
        assert!(late.is_empty(), "{:?}", late.slices.first().map(|s| s.0));
    }

    /// A small midline section that is not air (a lumen of −850 HU, as lung's partial volume) is
    /// not a trachea; nor does a spacing that is not a spacing find anything.
    #[test]
    fn a_section_that_is_not_air_or_a_bad_spacing_finds_no_airway() {
        let (grid, spacing, hu, lung) = chest_with(69, -850, 59);
        assert!(find(grid, spacing, &hu, &lung, Feet::LowerK).0.is_empty());
        let (grid, _, hu, lung) = chest();
        for bad in [[0.0, 2.0, 2.0], [2.0, f64::NAN, 2.0], [2.0, 2.0, -1.0]] {
            assert!(find(grid, bad, &hu, &lung, Feet::LowerK).0.is_empty(), "{bad:?}");
        }
        assert!(trachea_and_main_bronchi(grid, [2.0; 3], &hu[1..], |i| lung[i], Feet::LowerK).is_empty());
    }

    #[test]
    fn apices_off_the_midline_and_lungs_without_an_airway_are_left_alone() {
        let (grid, spacing, mut hu, mut lung) = chest();
        // Remove the trachea and bronchi: air where they were is no longer lung.
        let plane = grid.slice_len();
        for z in 30..70 {
            for i in 0..plane {
                let j = z * plane + i;
                if hu[j] == -1000 && lung[j] {
                    lung[j] = false;
                    hu[j] = 40;
                }
            }
        }
        // Emphysematous apices, as dark as air.
        for (h, &l) in hu.iter_mut().zip(&lung) {
            if l {
                *h = -990;
            }
        }
        let (airway, _) = find(grid, spacing, &hu, &lung, Feet::LowerK);
        assert!(airway.is_empty());
    }
}
