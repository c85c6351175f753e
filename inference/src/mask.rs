//! Binary masks on a volume grid (x fastest, `dims` = [nx, ny, nz]) and the morphology the
//! HU baseline needs: connected components, hole filling, box erosion and dilation, and an
//! in-plane distance to the mask's edge.

use rayon::prelude::*;

/// A 3D grid shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub dims: [usize; 3],
}

impl Grid {
    pub fn len(self) -> usize {
        self.dims.iter().product()
    }
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
    pub fn slice_len(self) -> usize {
        self.dims[0] * self.dims[1]
    }
    pub fn index(self, x: usize, y: usize, z: usize) -> usize {
        (z * self.dims[1] + y) * self.dims[0] + x
    }
    pub fn coords(self, i: usize) -> [usize; 3] {
        let [nx, ny, _] = self.dims;
        [i % nx, (i / nx) % ny, i / (nx * ny)]
    }
}

/// One run of a component: voxels `x..x + len` of one row along x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    x: u32,
    len: u32,
    label: u32,
}

/// 6-connected components of a mask, held as runs along x (a few bytes per run instead of a
/// label per voxel: a lung mask of 1,000 slices has about a million runs and 262 million
/// voxels). Labels are 1.. in the scan order (x fastest) of each component's first voxel.
#[derive(Debug, Clone)]
pub struct Components {
    nx: usize,
    /// Per row (`y + ny · z`), where its runs begin in `runs`; one more at the end.
    row_start: Vec<usize>,
    runs: Vec<Run>,
    /// Each component's voxel count; index 0 unused.
    pub sizes: Vec<usize>,
}

impl Components {
    /// Every run as its voxel indices and its component's label, in scan order.
    pub fn runs(&self) -> impl Iterator<Item = (std::ops::Range<usize>, u32)> + '_ {
        self.row_runs(0..self.row_start.len() - 1)
    }

    /// The runs of the rows `rows` (row `y + ny · z`), as in [`Self::runs`].
    fn row_runs(&self, rows: std::ops::Range<usize>) -> impl Iterator<Item = (std::ops::Range<usize>, u32)> + '_ {
        rows.flat_map(move |row| {
            self.runs[self.row_start[row]..self.row_start[row + 1]].iter().map(move |r| {
                let start = row * self.nx + r.x as usize;
                (start..start + r.len as usize, r.label)
            })
        })
    }

    /// The runs of axial slice `z`, as in [`Self::runs`].
    pub fn slice_runs(&self, z: usize, ny: usize) -> impl Iterator<Item = (std::ops::Range<usize>, u32)> + '_ {
        self.row_runs(z * ny..(z + 1) * ny)
    }

    /// A mask of `len` voxels set on the components whose label `keep` accepts.
    pub fn mask_where(&self, len: usize, keep: impl Fn(u32) -> bool) -> Vec<bool> {
        let mut mask = vec![false; len];
        for (voxels, label) in self.runs() {
            if keep(label) {
                mask[voxels].fill(true);
            }
        }
        mask
    }
}

/// 6-connected components of `mask`.
pub fn components_3d(grid: Grid, mask: &[bool]) -> Components {
    components_where(grid, |i| mask[i])
}

/// The root of `a` in the union-find forest `parent`, halving the path on the way.
fn find(parent: &mut [u32], mut a: u32) -> u32 {
    while parent[a as usize] != a {
        let up = parent[parent[a as usize] as usize];
        parent[a as usize] = up;
        a = up;
    }
    a
}

/// 6-connected components of the voxels `inside` accepts (by index): runs along x, each
/// joined (union-find) to the runs it overlaps in the row before and in the same row of the
/// slice before; then labelled in scan order.
pub fn components_where(grid: Grid, inside: impl Fn(usize) -> bool) -> Components {
    let [nx, ny, nz] = grid.dims;
    let rows = ny * nz;
    let mut row_start = Vec::with_capacity(rows + 1);
    let mut runs: Vec<Run> = Vec::new();
    let mut parent: Vec<u32> = Vec::new();
    for row in 0..rows {
        row_start.push(runs.len());
        let base = row * nx;
        let mut x = 0;
        while x < nx {
            if !inside(base + x) {
                x += 1;
                continue;
            }
            let first = x;
            while x < nx && inside(base + x) {
                x += 1;
            }
            let id = runs.len() as u32;
            parent.push(id);
            runs.push(Run { x: first as u32, len: (x - first) as u32, label: id });
        }
        let current = row_start[row]..runs.len();
        let y = row % ny;
        let neighbours = [(y > 0).then(|| row - 1), (row >= ny).then(|| row - ny)];
        for neighbour in neighbours.into_iter().flatten() {
            let (mut a, mut b) = (current.start, row_start[neighbour]);
            let b_end = row_start[neighbour + 1];
            while a < current.end && b < b_end {
                let (ra, rb) = (runs[a], runs[b]);
                let (a_end, r_end) = (ra.x + ra.len, rb.x + rb.len);
                if ra.x < r_end && rb.x < a_end {
                    let (pa, pb) = (find(&mut parent, ra.label), find(&mut parent, rb.label));
                    if pa != pb {
                        parent[pa.max(pb) as usize] = pa.min(pb);
                    }
                }
                if a_end < r_end {
                    a += 1;
                } else {
                    b += 1;
                }
            }
        }
    }
    row_start.push(runs.len());
    // Labels in scan order of each component's first run.
    let mut label_of_root = vec![0u32; runs.len()];
    let mut sizes = vec![0usize];
    for run in &mut runs {
        let root = find(&mut parent, run.label) as usize;
        if label_of_root[root] == 0 {
            label_of_root[root] = sizes.len() as u32;
            sizes.push(0);
        }
        run.label = label_of_root[root];
        sizes[run.label as usize] += run.len as usize;
    }
    Components { nx, row_start, runs, sizes }
}

/// Keeps the largest one or two components of `mask` that are each at least 5 % of the
/// largest and 50 mL (the two lungs, or one when they touch); clears the rest.
pub fn keep_largest_lungs(grid: Grid, mask: &mut [bool], voxel_ml: f64) {
    let components = components_3d(grid, mask);
    let sizes = &components.sizes;
    let mut order: Vec<usize> = (1..sizes.len()).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(sizes[c]));
    let largest = order.first().map_or(0, |&c| sizes[c]);
    let keep: Vec<u32> = order
        .iter()
        .take(2)
        .filter(|&&c| sizes[c] * 20 >= largest && sizes[c] as f64 * voxel_ml >= 50.0)
        .map(|&c| c as u32)
        .collect();
    mask.fill(false);
    for (voxels, label) in components.runs() {
        if keep.contains(&label) {
            mask[voxels].fill(true);
        }
    }
}

/// Marks, per axial slice, the pixels of `background` that connect (4-connected, within the
/// slice) to the slice's border.
fn border_connected_2d(nx: usize, ny: usize, background: &[bool]) -> Vec<bool> {
    // A scanline fill: each popped seed is widened to its whole run of the row, and the rows
    // above and below are searched for new runs only under that span. The same pixels as a
    // pixel-by-pixel 4-connected flood fill (the test keeps one to compare), with far fewer
    // stack entries.
    let mut reached = vec![false; nx * ny];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for x in 0..nx {
        stack.push((x, 0));
        stack.push((x, ny - 1));
    }
    for y in 0..ny {
        stack.push((0, y));
        stack.push((nx - 1, y));
    }
    let open = |reached: &[bool], i: usize| background[i] && !reached[i];
    while let Some((x, y)) = stack.pop() {
        let row = y * nx;
        if !open(&reached, row + x) {
            continue;
        }
        let (mut left, mut right) = (x, x);
        while left > 0 && open(&reached, row + left - 1) {
            left -= 1;
        }
        while right + 1 < nx && open(&reached, row + right + 1) {
            right += 1;
        }
        reached[row + left..=row + right].fill(true);
        for next in [y.checked_sub(1), (y + 1 < ny).then_some(y + 1)].into_iter().flatten() {
            let row = next * nx;
            let mut i = left;
            while i <= right {
                if open(&reached, row + i) {
                    stack.push((i, next));
                    while i <= right && open(&reached, row + i) {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
        }
    }
    reached
}

/// Per axial slice, the pixels of `mask` that connect to the slice border through `mask`.
pub fn border_connected_slices(grid: Grid, mask: &[bool]) -> Vec<bool> {
    let [nx, ny, _] = grid.dims;
    let mut out = vec![false; mask.len()];
    out.par_chunks_mut(grid.slice_len()).zip(mask.par_chunks(grid.slice_len())).for_each(|(out, mask)| {
        out.copy_from_slice(&border_connected_2d(nx, ny, mask));
    });
    out
}

/// Fills, per axial slice, every hole of `mask`: background not connected to the border.
pub fn fill_holes_slices(grid: Grid, mask: &mut [bool]) {
    let [nx, ny, _] = grid.dims;
    mask.par_chunks_mut(grid.slice_len()).for_each(|slice| {
        let background: Vec<bool> = slice.iter().map(|&m| !m).collect();
        let outside = border_connected_2d(nx, ny, &background);
        for (m, o) in slice.iter_mut().zip(outside) {
            *m = !o;
        }
    });
}

/// Per axial slice, the pixels within `mm` (in-plane) of `mask`, the mask included (and, as
/// [`inplane_depth_mm`] takes the slice border for outside, a band along the border).
pub fn within_mm_of(grid: Grid, mask: &[bool], spacing_mm: [f64; 2], mm: f64) -> Vec<bool> {
    let [nx, ny, _] = grid.dims;
    let slice = Grid { dims: [nx, ny, 1] };
    let mut out = vec![false; mask.len()];
    out.par_chunks_mut(grid.slice_len()).zip(mask.par_chunks(grid.slice_len())).for_each(|(out, mask)| {
        if !mask.contains(&true) {
            return;
        }
        let outside: Vec<bool> = mask.iter().map(|&m| !m).collect();
        let distance = inplane_depth_mm(slice, &outside, spacing_mm);
        for ((o, &m), &d) in out.iter_mut().zip(mask).zip(&distance) {
            *o = m || f64::from(d) <= mm;
        }
    });
    out
}

/// The largest in-plane hole (cm²) of a lung mask that is filled even when it opens, in 3D, to
/// the outside of the lungs: vessels, bronchi and small opacities that the mask left out.
pub const MAX_OPEN_HOLE_CM2: f64 = 4.0;

/// Which way along the grid's slice axis (k) the patient's feet lie: the direction from which
/// the diaphragm, liver, spleen and stomach bulge into the lungs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feet {
    /// k decreases towards the feet (k runs foot → head).
    LowerK,
    /// k increases towards the feet (k runs head → foot).
    HigherK,
}

impl Feet {
    /// From the patient-space direction of increasing k (LPS: +z is superior).
    pub fn of_k_axis(k_axis_lps: [f64; 3]) -> Self {
        if k_axis_lps[2] >= 0.0 { Feet::LowerK } else { Feet::HigherK }
    }
}

/// Share of a large hole's underside that must rest on lung, rather than on what lies below the
/// lungs, for the hole to be filled although it opens in 3D.
pub const MIN_LUNG_BELOW_SHARE: f64 = 0.5;

/// Fills the holes of a lung mask without swallowing what bulges into the lungs from below,
/// and returns the voxels filled from large holes (those over [`MAX_OPEN_HOLE_CM2`] in a slice:
/// in the lung, a mass or a consolidation that the segmentation left out).
///
/// Per axial slice, a hole is background that the slice's border cannot reach. Small holes
/// (≤ [`MAX_OPEN_HOLE_CM2`]: vessels, bronchi, small opacities) are filled first. A larger
/// hole is filled when it is enclosed in 3D as well, with no path through the remaining
/// background to a face of the grid: a consolidation or a mass inside the lung, even where
/// vessels run from it towards the hilum (their small sections are filled by then). A large
/// hole that opens in 3D is filled only when it rests on lung: of the voxels just below (towards
/// `feet`) the underside of its 3D run of in-plane holes, at least [`MIN_LUNG_BELOW_SHARE`] are
/// lung — a mass that the lung wraps from below, open to the hilum above or beside it. An organ
/// seen in cross-section where the lung wraps round it — the diaphragm's dome with the liver or
/// spleen, the stomach — rests on what lies below the lungs and stays out; filling holes per
/// slice alone would make those lung.
pub fn fill_lung_holes(grid: Grid, mask: &mut [bool], spacing_mm: [f64; 2], feet: Feet) -> Vec<bool> {
    let [nx, ny, nz] = grid.dims;
    let max_small_px = (MAX_OPEN_HOLE_CM2 * 100.0 / (spacing_mm[0] * spacing_mm[1])).floor() as usize;
    let holes_of = |slice: &[bool]| {
        let background: Vec<bool> = slice.iter().map(|&m| !m).collect();
        let outside = border_connected_2d(nx, ny, &background);
        let hole: Vec<bool> = background.iter().zip(&outside).map(|(&b, &o)| b && !o).collect();
        components_3d(Grid { dims: [nx, ny, 1] }, &hole)
    };
    // 1. Small holes are filled; the large ones are kept aside. Filling a small hole changes
    //    no other hole of its slice (holes are apart and none reaches the border), so the
    //    large holes are those of the slice after the small ones are filled.
    let mut large = vec![false; mask.len()];
    mask.par_chunks_mut(grid.slice_len()).zip(large.par_chunks_mut(grid.slice_len())).for_each(|(slice, large)| {
        let holes = holes_of(slice);
        for (pixels, hole) in holes.runs() {
            if holes.sizes[hole as usize] <= max_small_px {
                slice[pixels].fill(true);
            } else {
                large[pixels].fill(true);
            }
        }
    });
    // 2. The large holes in 3D runs; those enclosed in 3D or resting on lung are filled. A run
    //    opens to the outside in 3D exactly when it reaches the first or last slice or one of
    //    its voxels has, straight above or below, background that is no hole in its own slice
    //    (that background reaches the slice's border): in-plane, a hole voxel's neighbours are
    //    mask or the same hole, and holes joined through slices are one run. So no 3D flood
    //    fill of the whole background is needed.
    //    Of two voxels straight above each other in large holes, both are in the same run.
    let runs = components_3d(grid, &large);
    let sizes = &runs.sizes;
    let mut opens = vec![false; sizes.len()];
    let (mut lung_below, mut other_below) = (vec![0usize; sizes.len()], vec![0usize; sizes.len()]);
    let plane = nx * ny;
    for (voxels, run) in runs.runs() {
        let run = run as usize;
        for i in voxels {
            let z = i / plane;
            let open_to = |j: usize| !mask[j] && !large[j];
            opens[run] |= z == 0 || z + 1 == nz || open_to(i - plane) || open_to(i + plane);
            let below = match feet {
                Feet::LowerK => (z > 0).then(|| i - plane),
                Feet::HigherK => (z + 1 < nz).then(|| i + plane),
            };
            match below {
                Some(j) if large[j] => {}
                Some(j) if mask[j] => lung_below[run] += 1,
                // Below the grid counts as what lies below the lungs.
                _ => other_below[run] += 1,
            }
        }
    }
    drop(large);
    let fill: Vec<bool> = (0..sizes.len())
        .map(|run| {
            let below = lung_below[run] + other_below[run];
            run != 0 && (!opens[run] || lung_below[run] as f64 >= MIN_LUNG_BELOW_SHARE * below as f64)
        })
        .collect();
    let mut filled = vec![false; mask.len()];
    for (voxels, run) in runs.runs() {
        if fill[run as usize] {
            mask[voxels.clone()].fill(true);
            filled[voxels].fill(true);
        }
    }
    filled
}

/// Along one axis: `out[i]` = whether any (`dilate`) or every (erode) voxel within `radius`
/// along that axis is set. Voxels beyond the grid count as unset. Output slices are computed
/// in parallel, each from at most 2 × `radius` + 1 input slices or rows.
fn box_pass(grid: Grid, mask: &[bool], axis: usize, radius: usize, dilate: bool) -> Vec<bool> {
    if radius == 0 {
        return mask.to_vec();
    }
    let [nx, ny, nz] = grid.dims;
    let slice_len = grid.slice_len();
    let r = radius as isize;
    let mut out = vec![false; mask.len()];
    out.par_chunks_mut(slice_len).enumerate().for_each(|(z, out_slice)| {
        for y in 0..ny {
            for x in 0..nx {
                let (position, n) = match axis {
                    0 => (x, nx),
                    1 => (y, ny),
                    _ => (z, nz),
                };
                let mut any = false;
                let mut all = true;
                for d in -r..=r {
                    let p = position as isize + d;
                    let set = p >= 0 && (p as usize) < n && {
                        let p = p as usize;
                        match axis {
                            0 => mask[z * slice_len + y * nx + p],
                            1 => mask[z * slice_len + p * nx + x],
                            _ => mask[p * slice_len + y * nx + x],
                        }
                    };
                    any |= set;
                    all &= set;
                }
                out_slice[y * nx + x] = if dilate { any } else { all };
            }
        }
    });
    out
}

/// Box dilation (`dilate`) or erosion with half-widths `radius` voxels along x, y, z.
pub fn box_morphology(grid: Grid, mask: &[bool], radius: [usize; 3], dilate: bool) -> Vec<bool> {
    let mut out = mask.to_vec();
    for (axis, &r) in radius.iter().enumerate() {
        out = box_pass(grid, &out, axis, r, dilate);
    }
    out
}

/// Opening (erosion then dilation): removes structures thinner than the box.
pub fn open(grid: Grid, mask: &[bool], radius: [usize; 3]) -> Vec<bool> {
    box_morphology(grid, &box_morphology(grid, mask, radius, false), radius, true)
}

/// Per axial slice, each mask pixel's distance in mm to the nearest pixel outside the mask
/// (a two-pass chamfer transform, within 8 % of Euclidean); 0 outside the mask.
pub fn inplane_depth_mm(grid: Grid, mask: &[bool], spacing_mm: [f64; 2]) -> Vec<f32> {
    let [nx, ny, _] = grid.dims;
    let mut out = vec![0f32; mask.len()];
    out.par_chunks_mut(grid.slice_len())
        .zip(mask.par_chunks(grid.slice_len()))
        .for_each(|(d, m)| inplane_depth_slice_mm([nx, ny], m, spacing_mm, d));
    out
}

/// [`inplane_depth_mm`] of one `dims` slice `mask`, into `out`.
pub fn inplane_depth_slice_mm(dims: [usize; 2], mask: &[bool], spacing_mm: [f64; 2], out: &mut [f32]) {
    let [nx, ny] = dims;
    let (dx, dy) = (spacing_mm[0] as f32, spacing_mm[1] as f32);
    let dd = dx.hypot(dy);
    let d = out;
    for (v, &inside) in d.iter_mut().zip(mask) {
        *v = if inside { f32::INFINITY } else { 0.0 };
    }
    let at = |x: usize, y: usize| y * nx + x;
    for y in 0..ny {
        for x in 0..nx {
            let mut v = d[at(x, y)];
            if v == 0.0 {
                continue;
            }
            // The slice border counts as outside.
            if x == 0 || y == 0 {
                v = v.min(dx.min(dy));
            } else {
                v = v.min(d[at(x - 1, y)] + dx).min(d[at(x, y - 1)] + dy).min(d[at(x - 1, y - 1)] + dd);
                if x + 1 < nx {
                    v = v.min(d[at(x + 1, y - 1)] + dd);
                }
            }
            d[at(x, y)] = v;
        }
    }
    for y in (0..ny).rev() {
        for x in (0..nx).rev() {
            let mut v = d[at(x, y)];
            if v == 0.0 {
                continue;
            }
            if x + 1 == nx || y + 1 == ny {
                v = v.min(dx.min(dy));
            } else {
                v = v.min(d[at(x + 1, y)] + dx).min(d[at(x, y + 1)] + dy).min(d[at(x + 1, y + 1)] + dd);
                if x > 0 {
                    v = v.min(d[at(x - 1, y + 1)] + dd);
                }
            }
            d[at(x, y)] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel-by-pixel 4-connected flood fill that the scanline fill replaced.
    fn border_connected_2d_by_pixel(nx: usize, ny: usize, background: &[bool]) -> Vec<bool> {
        let mut reached = vec![false; nx * ny];
        let mut stack: Vec<usize> = Vec::new();
        let seed = |i: usize, reached: &mut Vec<bool>, stack: &mut Vec<usize>| {
            if background[i] && !reached[i] {
                reached[i] = true;
                stack.push(i);
            }
        };
        for x in 0..nx {
            seed(x, &mut reached, &mut stack);
            seed((ny - 1) * nx + x, &mut reached, &mut stack);
        }
        for y in 0..ny {
            seed(y * nx, &mut reached, &mut stack);
            seed(y * nx + nx - 1, &mut reached, &mut stack);
        }
        while let Some(i) = stack.pop() {
            let (x, y) = (i % nx, i / nx);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < nx).then(|| i + 1),
                (y > 0).then(|| i - nx),
                (y + 1 < ny).then(|| i + nx),
            ];
            for j in neighbours.into_iter().flatten() {
                if background[j] && !reached[j] {
                    reached[j] = true;
                    stack.push(j);
                }
            }
        }
        reached
    }

    /// The scanline fill reaches exactly the pixels the pixel-by-pixel fill does, on 500
    /// random images (noise of every density, and blocks), including 1-pixel-wide ones.
    #[test]
    fn the_scanline_fill_matches_the_pixel_fill() {
        let mut next = random(0x9e37_79b9_7f4a_7c15u64);
        for case in 0..500 {
            let (nx, ny) = (1 + next(40), 1 + next(40));
            let density = next(100);
            let background: Vec<bool> = (0..nx * ny).map(|_| next(100) < density).collect();
            assert_eq!(
                border_connected_2d(nx, ny, &background),
                border_connected_2d_by_pixel(nx, ny, &background),
                "case {case}: {nx}×{ny}, density {density} %"
            );
        }
    }

    /// The reference for the large-hole rule: whether each run of large holes opens to the
    /// outside, found by flood-filling the whole background from the grid's faces.
    /// Background voxels of `mask` that connect, 6-connected in 3D through background, to a face
    /// of the grid.
    fn border_connected_3d(grid: Grid, mask: &[bool]) -> Vec<bool> {
        let [nx, ny, nz] = grid.dims;
        let mut reached = vec![false; mask.len()];
        let mut stack = Vec::new();
        for i in 0..mask.len() {
            let [x, y, z] = grid.coords(i);
            let face = x == 0 || y == 0 || z == 0 || x + 1 == nx || y + 1 == ny || z + 1 == nz;
            if face && !mask[i] {
                reached[i] = true;
                stack.push(i);
            }
        }
        while let Some(i) = stack.pop() {
            let [x, y, z] = grid.coords(i);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < nx).then(|| i + 1),
                (y > 0).then(|| i - nx),
                (y + 1 < ny).then(|| i + nx),
                (z > 0).then(|| i - nx * ny),
                (z + 1 < nz).then(|| i + nx * ny),
            ];
            for j in neighbours.into_iter().flatten() {
                if !mask[j] && !reached[j] {
                    reached[j] = true;
                    stack.push(j);
                }
            }
        }
        reached
    }

    /// 6-connected components of `mask`: one label per voxel (0 = outside the mask, 1.. =
    /// components) and each component's voxel count (index 0 unused).
    fn components_3d_dense(grid: Grid, mask: &[bool]) -> (Vec<u32>, Vec<usize>) {
        let [nx, ny, nz] = grid.dims;
        let mut labels = vec![0u32; mask.len()];
        let mut sizes = vec![0usize];
        let mut stack = Vec::new();
        for start in 0..mask.len() {
            if !mask[start] || labels[start] != 0 {
                continue;
            }
            let label = sizes.len() as u32;
            let mut size = 0;
            labels[start] = label;
            stack.push(start);
            while let Some(i) = stack.pop() {
                size += 1;
                let [x, y, z] = grid.coords(i);
                let mut visit = |j: usize| {
                    if mask[j] && labels[j] == 0 {
                        labels[j] = label;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < nx {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - nx);
                }
                if y + 1 < ny {
                    visit(i + nx);
                }
                if z > 0 {
                    visit(i - nx * ny);
                }
                if z + 1 < nz {
                    visit(i + nx * ny);
                }
            }
            sizes.push(size);
        }
        (labels, sizes)
    }

    /// A xorshift generator from `seed`: `next(n)` is in `0..n`.
    fn random(mut state: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    /// Each voxel's label, and the sizes, from the runs.
    fn expand(grid: Grid, components: &Components) -> (Vec<u32>, Vec<usize>) {
        let mut labels = vec![0u32; grid.len()];
        for (voxels, label) in components.runs() {
            labels[voxels].fill(label);
        }
        (labels, components.sizes.clone())
    }

    /// The run-based components label every voxel exactly as the voxel flood fill does
    /// (same labels in the same order, same sizes), on 600 random masks from sparse specks to
    /// nearly full, on grids down to one voxel wide; and the runs of each slice are the runs.
    #[test]
    fn run_components_match_the_flood_fill() {
        let mut next = random(0x9e37_79b9_7f4a_7c15u64);
        let mut many = 0;
        for case in 0..600 {
            let dims = [1 + next(17), 1 + next(13), 1 + next(7)];
            let grid = Grid { dims };
            let density = next(101);
            let mask: Vec<bool> = (0..grid.len()).map(|_| next(100) < density).collect();
            let components = components_3d(grid, &mask);
            assert_eq!(expand(grid, &components), components_3d_dense(grid, &mask), "case {case}, {dims:?}");
            let by_slice: Vec<_> = (0..dims[2]).flat_map(|z| components.slice_runs(z, dims[1])).collect();
            assert_eq!(by_slice, components.runs().collect::<Vec<_>>());
            assert_eq!(components.mask_where(grid.len(), |_| true), mask);
            many += usize::from(components.sizes.len() > 5);
        }
        assert!(many > 100, "{many} cases had several components");
    }

    /// `fill_lung_holes` as it was written first: small holes, then the large holes of the
    /// updated slices, and whether each run opens found by the 3D flood fill.
    fn fill_lung_holes_by_3d_flood(grid: Grid, mask: &mut [bool], spacing_mm: [f64; 2], feet: Feet) -> Vec<bool> {
        let [nx, ny, nz] = grid.dims;
        let max_small_px = (MAX_OPEN_HOLE_CM2 * 100.0 / (spacing_mm[0] * spacing_mm[1])).floor() as usize;
        let holes_of = |slice: &[bool]| {
            let background: Vec<bool> = slice.iter().map(|&m| !m).collect();
            let outside = border_connected_2d(nx, ny, &background);
            let hole: Vec<bool> = background.iter().zip(&outside).map(|(&b, &o)| b && !o).collect();
            components_3d_dense(Grid { dims: [nx, ny, 1] }, &hole)
        };
        for slice in mask.chunks_mut(grid.slice_len()) {
            let (components, sizes) = holes_of(slice);
            for (m, &c) in slice.iter_mut().zip(&components) {
                if c != 0 && sizes[c as usize] <= max_small_px {
                    *m = true;
                }
            }
        }
        let mut large = vec![false; mask.len()];
        for (large, slice) in large.chunks_mut(grid.slice_len()).zip(mask.chunks(grid.slice_len())) {
            let (components, _) = holes_of(slice);
            for (l, &c) in large.iter_mut().zip(&components) {
                *l = c != 0;
            }
        }
        let outside_3d = border_connected_3d(grid, mask);
        let (runs, sizes) = components_3d_dense(grid, &large);
        let mut opens = vec![false; sizes.len()];
        let (mut lung_below, mut other_below) = (vec![0usize; sizes.len()], vec![0usize; sizes.len()]);
        let plane = nx * ny;
        for (i, &run) in runs.iter().enumerate() {
            if run == 0 {
                continue;
            }
            let run = run as usize;
            opens[run] |= outside_3d[i];
            let z = i / plane;
            let below = match feet {
                Feet::LowerK => (z > 0).then(|| i - plane),
                Feet::HigherK => (z + 1 < nz).then(|| i + plane),
            };
            match below {
                Some(j) if runs[j] as usize == run => {}
                Some(j) if mask[j] => lung_below[run] += 1,
                _ => other_below[run] += 1,
            }
        }
        let mut filled = vec![false; mask.len()];
        for ((m, f), &run) in mask.iter_mut().zip(filled.iter_mut()).zip(&runs) {
            let below = lung_below[run as usize] + other_below[run as usize];
            let fill = run != 0
                && (!opens[run as usize] || lung_below[run as usize] as f64 >= MIN_LUNG_BELOW_SHARE * below as f64);
            if fill {
                *m = true;
                *f = true;
            }
        }
        filled
    }

    /// The large-hole rule without a 3D flood fill gives what the flood fill gives, on 300
    /// random masks of lung-like blocks with holes of every size (some through the first or
    /// last slice, some opening to the outside through a neighbouring slice), for both feet.
    #[test]
    fn the_large_hole_rule_matches_the_3d_flood_fill() {
        let mut next = random(0x2545_f491_4f6c_dd1du64);
        let grid = Grid { dims: [24, 24, 10] };
        let [nx, ny, nz] = grid.dims;
        let mut filled_some = 0;
        for _ in 0..300 {
            let mut mask = vec![false; grid.len()];
            let paint = |mask: &mut Vec<bool>, value: bool, size: usize, next: &mut dyn FnMut(usize) -> usize| {
                let (w, h, d) = (1 + next(size), 1 + next(size), 1 + next(nz));
                let (x0, y0, z0) = (next(nx - w + 1), next(ny - h + 1), next(nz - d + 1));
                for z in z0..z0 + d {
                    for y in y0..y0 + h {
                        for x in x0..x0 + w {
                            mask[grid.index(x, y, z)] = value;
                        }
                    }
                }
            };
            for _ in 0..=next(3) {
                paint(&mut mask, true, 22, &mut next);
            }
            for _ in 0..next(6) {
                paint(&mut mask, false, 12, &mut next);
            }
            for feet in [Feet::LowerK, Feet::HigherK] {
                let (mut fast, mut reference) = (mask.clone(), mask.clone());
                let filled = fill_lung_holes(grid, &mut fast, [4.0, 4.0], feet);
                let expected = fill_lung_holes_by_3d_flood(grid, &mut reference, [4.0, 4.0], feet);
                assert_eq!(fast, reference);
                assert_eq!(filled, expected);
                filled_some += usize::from(filled.contains(&true));
            }
        }
        assert!(filled_some > 20, "large holes were filled in {filled_some} cases: the rule was exercised");
    }

    fn grid() -> Grid {
        Grid { dims: [20, 20, 5] }
    }

    fn cube(grid: Grid, lo: [usize; 3], hi: [usize; 3]) -> Vec<bool> {
        (0..grid.len())
            .map(|i| {
                let c = grid.coords(i);
                (0..3).all(|a| c[a] >= lo[a] && c[a] < hi[a])
            })
            .collect()
    }

    #[test]
    fn components_are_counted_and_sized() {
        let g = grid();
        let a = cube(g, [1, 1, 0], [4, 4, 2]);
        let b = cube(g, [10, 10, 1], [15, 12, 5]);
        let both: Vec<bool> = a.iter().zip(&b).map(|(x, y)| *x || *y).collect();
        let components = components_3d(g, &both);
        let (labels, sizes) = expand(g, &components);
        assert_eq!(sizes.len(), 3);
        let mut s = sizes[1..].to_vec();
        s.sort_unstable();
        assert_eq!(s, vec![18, 40]);
        assert_eq!(labels[g.index(0, 0, 0)], 0);
    }

    #[test]
    fn holes_are_filled_but_open_bays_are_not() {
        let g = grid();
        let mut ring = cube(g, [2, 2, 0], [12, 12, 5]);
        let hole = cube(g, [5, 5, 0], [8, 8, 5]);
        let bay = cube(g, [9, 0, 0], [11, 6, 5]); // reaches the slice border
        for i in 0..g.len() {
            ring[i] = ring[i] && !hole[i] && !bay[i];
        }
        fill_holes_slices(g, &mut ring);
        assert!(ring[g.index(6, 6, 2)], "the enclosed hole is filled");
        assert!(!ring[g.index(10, 3, 2)], "the bay open to the border stays empty");
    }

    /// A lung that wraps round a dome rising from below: per-slice filling would call the
    /// dome lung; `fill_lung_holes` keeps it out, and still fills an enclosed cavity and a
    /// small vessel-like hole that opens to the outside.
    #[test]
    fn lung_holes_fill_but_the_dome_from_below_stays_out() {
        let grid = Grid { dims: [40, 40, 30] };
        let [nx, ny, nz] = grid.dims;
        let lung_box =
            |x: usize, y: usize, z: usize| (4..36).contains(&x) && (4..36).contains(&y) && (10..28).contains(&z);
        let dome = |x: usize, y: usize, z: usize| {
            let (dx, dy, dz) = (x as f64 - 20.0, y as f64 - 20.0, z as f64 - 6.0);
            dx * dx + dy * dy + dz * dz < 11.0 * 11.0
        };
        let cavity =
            |x: usize, y: usize, z: usize| (8..11).contains(&x) && (8..11).contains(&y) && (22..25).contains(&z);
        // A 1-pixel tube from the cavity's column to the top face (like a vessel).
        let vessel = |x: usize, y: usize, z: usize| x == 30 && y == 30 && z >= 14;
        let mut mask = vec![false; grid.len()];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    mask[grid.index(x, y, z)] =
                        lung_box(x, y, z) && !dome(x, y, z) && !cavity(x, y, z) && !vessel(x, y, z);
                }
            }
        }
        let mut per_slice = mask.clone();
        fill_holes_slices(grid, &mut per_slice);
        // 2 mm pixels: holes up to 100 px count as small.
        fill_lung_holes(grid, &mut mask, [2.0, 2.0], Feet::LowerK);
        let dome_in = |m: &[bool]| {
            (0..grid.len())
                .filter(|&i| {
                    let [x, y, z] = grid.coords(i);
                    m[i] && dome(x, y, z)
                })
                .count()
        };
        let swallowed = dome_in(&per_slice);
        assert!(swallowed > 1000, "per-slice filling swallows the dome ({swallowed} voxels)");
        // Only the dome's small tip (sections under 4 cm²) may be filled.
        assert!(dome_in(&mask) * 10 < swallowed, "the dome stays out of the lung: {} of {swallowed}", dome_in(&mask));
        assert!(mask[grid.index(9, 9, 23)], "an enclosed cavity is filled");
        assert!(mask[grid.index(30, 30, 20)], "a small open hole (vessel) is filled");
    }

    /// A mass beside the hilum: a large hole in the lung whose upper part joins the outside of
    /// the lungs (a wide stalk to the grid's top face, like the hilum), with lung under it. It
    /// is filled and reported as filled from a large hole. The same volume with the patient's
    /// feet at the other end (the mass now bulging in from below, like the dome) stays out.
    #[test]
    fn a_mass_resting_on_lung_is_filled_though_it_joins_the_hilum_and_not_when_it_bulges_from_below() {
        let grid = Grid { dims: [40, 40, 30] };
        let [nx, ny, nz] = grid.dims;
        let lung_box =
            |x: usize, y: usize, z: usize| (4..36).contains(&x) && (4..36).contains(&y) && (4..28).contains(&z);
        // 12 × 12 px (5.8 cm² at 2 mm) from z 10 to 15, then an 11 × 11 px (4.8 cm²) stalk up to
        // the top.
        let tumour =
            |x: usize, y: usize, z: usize| (14..26).contains(&x) && (14..26).contains(&y) && (10..16).contains(&z);
        let stalk = |x: usize, y: usize, z: usize| (15..26).contains(&x) && (15..26).contains(&y) && z >= 16;
        let mut mask = vec![false; grid.len()];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    mask[grid.index(x, y, z)] = lung_box(x, y, z) && !tumour(x, y, z) && !stalk(x, y, z);
                }
            }
        }
        let mut feet_low = mask.clone();
        let filled = fill_lung_holes(grid, &mut feet_low, [2.0, 2.0], Feet::LowerK);
        assert!(feet_low[grid.index(20, 20, 12)] && filled[grid.index(20, 20, 12)], "the mass is filled");
        assert!(feet_low[grid.index(20, 20, 20)], "the stalk's sections inside the lung rest on the mass: filled");
        assert!(!filled[grid.index(10, 10, 12)], "lung is not reported as filled");
        let mut feet_high = mask.clone();
        let filled = fill_lung_holes(grid, &mut feet_high, [2.0, 2.0], Feet::HigherK);
        let n_filled = filled.iter().filter(|&&f| f).count();
        assert!(
            !feet_high[grid.index(20, 20, 12)] && n_filled == 0,
            "bulging in from below: left out ({n_filled} filled)"
        );
        assert_eq!(Feet::of_k_axis([0.0, 0.0, 1.0]), Feet::LowerK);
        assert_eq!(Feet::of_k_axis([0.0, 0.0, -1.0]), Feet::HigherK);
    }

    #[test]
    fn opening_removes_thin_lines_and_keeps_blobs() {
        let g = grid();
        let blob = cube(g, [2, 2, 0], [9, 9, 5]);
        let line = cube(g, [12, 0, 0], [13, 20, 5]);
        let both: Vec<bool> = blob.iter().zip(&line).map(|(x, y)| *x || *y).collect();
        let opened = open(g, &both, [1, 1, 0]);
        assert!(opened[g.index(5, 5, 2)] && opened[g.index(2, 2, 2)], "blob kept, corners included");
        assert!(!opened[g.index(12, 10, 2)], "1-voxel line removed");
    }

    #[test]
    fn depth_grows_towards_the_middle() {
        let g = Grid { dims: [21, 21, 1] };
        let square = cube(g, [1, 1, 0], [20, 20, 1]);
        let depth = inplane_depth_mm(g, &square, [1.0, 1.0]);
        assert!((depth[g.index(1, 10, 0)] - 1.0).abs() < 1e-6);
        assert!((depth[g.index(10, 10, 0)] - 10.0).abs() < 0.5, "{}", depth[g.index(10, 10, 0)]);
        assert!(depth[g.index(0, 0, 0)].abs() < f32::EPSILON);
    }
}
