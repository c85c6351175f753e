//! The rib cage as a bound on the lung: per axial slice, the convex hull of the bone in a slab
//! around it. Lung lies inside the ribs; dense chest wall beside the lung (intercostal muscle,
//! fat, the ribs themselves) is what a lesion model taught that tissue-dense lung against the
//! chest wall is consolidated lung may call consolidation, and the hull keeps it out.
//!
//! Only bone of the body counts (the slice's largest region denser than air), not the table's.
//! An axial slice cuts each rib obliquely, so one slice shows short arcs with gaps between
//! them, and the hull of one slice's bone cuts chords across those gaps, inside the lung's
//! edge. The hull of the bone of the slices within [`RIB_SLAB_MM`] closes the gaps. Where the
//! hull is not a rib cage (a field of view that crops the chest wall, the neck, no bone), it
//! would cut the lung: a slice's hull bounds nothing unless it holds at least
//! [`MIN_LUNG_INSIDE_SHARE`] of the lung model's lung in that slice.

use rayon::prelude::*;

use crate::mask::{Grid, components_where};

/// Lowest HU read as bone (cortical and most trabecular bone; also calcification and dense
/// contrast, both inside the rib cage, so they never widen the hull past it).
pub const BONE_HU: i16 = 250;
/// Densest HU still read as outside the body (air; the foam of the table's mattress). The body
/// in a slice is its largest 4-connected region denser than this: the table, a headrest and
/// arms held apart from the chest are other regions, so their dense parts never widen the hull.
pub const BODY_HU: i16 = -500;
/// Half-thickness (mm) of the slab whose bone makes a slice's hull.
pub const RIB_SLAB_MM: f64 = 10.0;
/// A slice's hull bounds the lung only where it holds at least this share of the lung model's
/// lung in that slice (all of it but a rim of a pixel or so).
pub const MIN_LUNG_INSIDE_SHARE: f64 = 0.98;

/// What [`bound_by_rib_cage`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RibCageBound {
    /// Slices whose hull bounded the lung.
    pub bounded_slices: usize,
    /// Slices with bone enough for a hull that did not hold the lung model's lung.
    pub rejected_slices: usize,
    /// Voxels taken out of `region`.
    pub removed_voxels: usize,
}

/// Narrows `region` (where the lesion model may add lung: near the lung model's `lung`) to the
/// rib cage: per slice whose hull holds the lung (see the module), voxels outside the hull of
/// the bone and that slice's `lung` leave `region`; everywhere, bone (> [`BONE_HU`]) that is
/// not in `lung` leaves it. `lung` itself is never taken out; a slice without `lung` is not
/// bounded by a hull.
pub fn bound_by_rib_cage(
    grid: Grid,
    spacing_mm: [f64; 3],
    voxels_hu: &[i16],
    lung: &[bool],
    region: &mut [bool],
) -> RibCageBound {
    let [nx, ny, nz] = grid.dims;
    let plane = grid.slice_len();
    // Per slice and row, the leftmost and rightmost bone pixel of the body: the hull of a set
    // of pixels is the hull of its row extremes.
    let mut extremes = vec![(i32::MAX, i32::MIN); ny * nz];
    extremes.par_chunks_mut(ny).zip(voxels_hu.par_chunks(plane)).for_each(|(extremes, hu)| {
        if hu.iter().all(|&v| v <= BONE_HU) {
            return;
        }
        let components = components_where(Grid { dims: [nx, ny, 1] }, |i| hu[i] > BODY_HU);
        let Some(body) = (1..components.sizes.len()).max_by_key(|&c| components.sizes[c]) else { return };
        for (run, label) in components.runs() {
            if label as usize != body {
                continue;
            }
            let row = &hu[run.clone()];
            if let Some(first) = row.iter().position(|&v| v > BONE_HU) {
                let last = row.iter().rposition(|&v| v > BONE_HU).unwrap_or(first);
                let (y, x0) = (run.start / nx, run.start % nx);
                let e = &mut extremes[y];
                *e = (e.0.min((x0 + first) as i32), e.1.max((x0 + last) as i32));
            }
        }
    });
    // (A NaN or zero spacing gives no slab; an absurdly fine one, the whole series.)
    let slab = if spacing_mm[2] > 0.0 { ((RIB_SLAB_MM / spacing_mm[2]).round() as usize).min(nz) } else { 0 };
    let per_slice =
        region.par_chunks_mut(plane).zip(lung.par_chunks(plane)).zip(voxels_hu.par_chunks(plane)).enumerate();
    per_slice
        .map(|(z, ((region_z, lung_z), hu_z))| {
            let mut done = RibCageBound::default();
            if !region_z.contains(&true) {
                return done;
            }
            let mut points = Vec::with_capacity(2 * ny);
            for y in 0..ny {
                let (mut lo, mut hi) = (i32::MAX, i32::MIN);
                for k in z.saturating_sub(slab)..=(z + slab).min(nz - 1) {
                    let (a, b) = extremes[k * ny + y];
                    lo = lo.min(a);
                    hi = hi.max(b);
                }
                if lo <= hi {
                    points.push([lo, y as i32]);
                    if hi != lo {
                        points.push([hi, y as i32]);
                    }
                }
            }
            let hull = convex_hull(&mut points.clone());
            let spans = (hull.len() >= 3).then(|| row_spans(&hull, nx, ny)).flatten();
            let holds_lung = spans.as_ref().is_some_and(|spans| {
                let (mut total, mut inside) = (0usize, 0usize);
                for (row, span) in lung_z.chunks(nx).zip(spans) {
                    let lung_in_row = row.iter().filter(|&&l| l).count();
                    total += lung_in_row;
                    if lung_in_row > 0 {
                        inside += span.map_or(0, |(a, b)| row[a..=b].iter().filter(|&&l| l).count());
                    }
                }
                total > 0 && inside as f64 >= MIN_LUNG_INSIDE_SHARE * total as f64
            });
            // The hull that bounds is that of the bone and the lung model's lung together, so
            // that no chord across a gap in the bone cuts the lung's edge.
            let spans = if holds_lung {
                for (y, row) in lung_z.chunks(nx).enumerate() {
                    if let (Some(a), Some(b)) = (row.iter().position(|&l| l), row.iter().rposition(|&l| l)) {
                        points.extend([[a as i32, y as i32], [b as i32, y as i32]]);
                    }
                }
                row_spans(&convex_hull(&mut points), nx, ny)
            } else {
                spans
            };
            match (&spans, holds_lung) {
                (Some(_), true) => done.bounded_slices += 1,
                (Some(_), false) => done.rejected_slices += 1,
                (None, _) => {}
            }
            let rows = region_z.chunks_mut(nx).zip(lung_z.chunks(nx)).zip(hu_z.chunks(nx)).enumerate();
            for (y, ((region, lung), hu)) in rows {
                let span = if holds_lung { spans.as_ref().and_then(|s| s[y]) } else { Some((0, nx - 1)) };
                for (x, ((r, &l), &v)) in region.iter_mut().zip(lung).zip(hu).enumerate() {
                    let outside = span.is_none_or(|(a, b)| !(a..=b).contains(&x)) || v > BONE_HU;
                    if *r && !l && outside {
                        *r = false;
                        done.removed_voxels += 1;
                    }
                }
            }
            done
        })
        .reduce(RibCageBound::default, |a, b| RibCageBound {
            bounded_slices: a.bounded_slices + b.bounded_slices,
            rejected_slices: a.rejected_slices + b.rejected_slices,
            removed_voxels: a.removed_voxels + b.removed_voxels,
        })
}

/// The convex hull of `points` (sorted here), counter-clockwise in (x, y), without collinear
/// points (Andrew's monotone chain); fewer than three points when they are all on a line.
fn convex_hull(points: &mut Vec<[i32; 2]>) -> Vec<[i32; 2]> {
    points.sort_unstable();
    points.dedup();
    let cross = |o: [i32; 2], a: [i32; 2], b: [i32; 2]| {
        i64::from(a[0] - o[0]) * i64::from(b[1] - o[1]) - i64::from(a[1] - o[1]) * i64::from(b[0] - o[0])
    };
    let chain = |points: &mut dyn Iterator<Item = [i32; 2]>| {
        let mut chain: Vec<[i32; 2]> = Vec::new();
        for p in points {
            while chain.len() >= 2 && cross(chain[chain.len() - 2], chain[chain.len() - 1], p) <= 0 {
                chain.pop();
            }
            chain.push(p);
        }
        chain.pop();
        chain
    };
    let mut hull = chain(&mut points.iter().copied());
    hull.extend(chain(&mut points.iter().rev().copied()));
    hull
}

/// Per row of an `nx` × `ny` slice, the columns `(first, last)` whose pixel centres lie in the
/// convex polygon `hull` (edges included), or `None` for rows it misses; `None` overall when
/// the polygon has no area.
fn row_spans(hull: &[[i32; 2]], nx: usize, ny: usize) -> Option<Vec<Option<(usize, usize)>>> {
    let area2: i64 = hull
        .iter()
        .zip(hull.iter().cycle().skip(1))
        .map(|(a, b)| i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1]))
        .sum();
    if area2 == 0 {
        return None;
    }
    let mut spans = vec![None; ny];
    for (y, span) in spans.iter_mut().enumerate() {
        let yf = y as f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (a, b) in hull.iter().zip(hull.iter().cycle().skip(1)) {
            let (ya, yb) = (f64::from(a[1]), f64::from(b[1]));
            if yf < ya.min(yb) || yf > ya.max(yb) {
                continue;
            }
            let (xa, xb) = (f64::from(a[0]), f64::from(b[0]));
            let xs = if a[1] == b[1] { [xa, xb] } else { [xa + (xb - xa) * (yf - ya) / (yb - ya); 2] };
            for x in xs {
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        if lo <= hi {
            let first = (lo - 1e-9).ceil().max(0.0) as usize;
            let last = ((hi + 1e-9).floor() as usize).min(nx - 1);
            *span = (first <= last).then_some((first, last));
        }
    }
    Some(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64 × 64 × `nz` grid of soft tissue (40 HU) with a ring of bone (radius 24–26 px
    /// about the centre) cut into `arcs` short arcs, as an axial slice cuts the ribs; each
    /// slice's arcs turned by `turn` radians per slice, as oblique ribs move from slice to
    /// slice.
    fn chest(nz: usize, arcs: usize, turn: f64) -> (Grid, Vec<i16>) {
        const ON: f64 = 0.2;
        let grid = Grid { dims: [64, 64, nz] };
        let mut hu = vec![40i16; grid.len()];
        for z in 0..nz {
            for y in 0..64 {
                for x in 0..64 {
                    let (dx, dy) = (x as f64 - 32.0, y as f64 - 32.0);
                    let r = dx.hypot(dy);
                    let phase = (dy.atan2(dx) + z as f64 * turn).rem_euclid(std::f64::consts::TAU);
                    let on_arc = (phase * arcs as f64 / std::f64::consts::TAU).fract() < ON;
                    if (24.0..=26.0).contains(&r) && on_arc {
                        hu[grid.index(x, y, z)] = 700;
                    }
                }
            }
        }
        (grid, hu)
    }

    fn disc(grid: Grid, radius: f64, centre: [f64; 2]) -> Vec<bool> {
        (0..grid.len())
            .map(|i| {
                let [x, y, _] = grid.coords(i);
                (x as f64 - centre[0]).hypot(y as f64 - centre[1]) <= radius
            })
            .collect()
    }

    #[test]
    fn the_hull_of_a_slab_keeps_the_lung_edge_between_ribs_and_drops_the_chest_wall() {
        // Four arcs of 18° per slice: one slice's hull cuts chords across the 72° gaps down to
        // radius 21, inside the lung's edge; a ±10 mm slab (5 slices each way at 2 mm) of arcs
        // turning 0.15 rad a slice closes them.
        let (grid, hu) = chest(11, 4, 0.15);
        let spacing = [1.0, 1.0, 2.0];
        let lung = disc(grid, 12.0, [32.0, 32.0]);
        // The lesion model's lung reaches the inner edge of the ribs (radius 23.5) and, beyond
        // them, into the chest wall (to radius 31).
        let inner_edge = disc(grid, 23.5, [32.0, 32.0]);
        let mut region = disc(grid, 31.0, [32.0, 32.0]);
        let done = bound_by_rib_cage(grid, spacing, &hu, &lung, &mut region);
        assert_eq!(done.bounded_slices, 11, "{done:?}");
        let z = 5;
        let slice = |m: &[bool]| m[z * 4096..(z + 1) * 4096].to_vec();
        let (kept, edge) = (slice(&region), slice(&inner_edge));
        let lost = edge.iter().zip(&kept).filter(|&(&e, &k)| e && !k).count();
        assert!(lost as f64 <= 0.005 * edge.iter().filter(|&&e| e).count() as f64, "lost {lost} of the lung's edge");
        let beyond_ribs =
            (0..4096).filter(|&i| kept[i] && ((i % 64) as f64 - 32.0).hypot((i / 64) as f64 - 32.0) > 27.0);
        assert_eq!(beyond_ribs.count(), 0, "chest wall beyond the ribs stays out");
        // No bone is added, and the lung model's lung is never taken out.
        assert!((0..grid.len()).all(|i| !(region[i] && hu[i] > BONE_HU && !lung[i])));
        assert!((0..grid.len()).all(|i| !lung[i] || region[i]));
    }

    #[test]
    fn the_table_under_the_body_does_not_widen_the_hull() {
        // Air around a body of radius 28 px; a dense table (bone-bright) from row 62, under an
        // air gap.
        let (grid, mut hu) = chest(11, 4, 0.15);
        for (i, v) in hu.iter_mut().enumerate() {
            let [x, y, _] = grid.coords(i);
            let r = (x as f64 - 32.0).hypot(y as f64 - 32.0);
            if y >= 62 {
                *v = 900;
            } else if r > 28.0 {
                *v = -1000;
            }
        }
        let lung = disc(grid, 12.0, [32.0, 32.0]);
        let mut region = vec![true; grid.len()];
        let done = bound_by_rib_cage(grid, [1.0, 1.0, 2.0], &hu, &lung, &mut region);
        assert_eq!(done.bounded_slices, 11, "{done:?}");
        let below_ribs = (0..grid.len()).filter(|&i| region[i] && grid.coords(i)[1] > 59).count();
        assert_eq!(below_ribs, 0, "nothing between the body and the table, nor the table, stays in");
    }

    #[test]
    fn one_slice_of_ribs_alone_would_cut_the_lung_edge_the_slab_does_not() {
        let (grid, hu) = chest(1, 4, 0.0);
        let lung = disc(grid, 12.0, [32.0, 32.0]);
        let inner_edge = disc(grid, 23.5, [32.0, 32.0]);
        let mut region = inner_edge.clone();
        bound_by_rib_cage(grid, [1.0, 1.0, 2.0], &hu, &lung, &mut region);
        let lost = inner_edge.iter().zip(&region).filter(|&(&e, &k)| e && !k).count();
        assert!(lost > 20, "a single slice's chords cut {lost} px: the slab is what keeps them");
    }

    #[test]
    fn a_hull_that_does_not_hold_the_lung_bounds_nothing() {
        // A cropped field of view: bone only on the left, the lung model's lung reaching far
        // right of it.
        let grid = Grid { dims: [64, 64, 1] };
        let mut hu = vec![40i16; grid.len()];
        for y in 10..54 {
            hu[grid.index(6, y, 0)] = 700;
            hu[grid.index(12, y, 0)] = 700;
        }
        let lung = disc(grid, 10.0, [40.0, 32.0]);
        let mut region = disc(grid, 20.0, [40.0, 32.0]);
        let before = region.clone();
        let done = bound_by_rib_cage(grid, [1.0, 1.0, 2.0], &hu, &lung, &mut region);
        assert_eq!((done.bounded_slices, done.rejected_slices, done.removed_voxels), (0, 1, 0));
        assert_eq!(region, before);
        // No bone at all: nothing to bound by either.
        let soft = vec![40i16; grid.len()];
        let done = bound_by_rib_cage(grid, [1.0, 1.0, 2.0], &soft, &lung, &mut region);
        assert_eq!(done, RibCageBound::default());
    }

    #[test]
    fn hull_and_spans_of_a_square() {
        let mut points = vec![[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [2, 0]];
        let hull = convex_hull(&mut points);
        assert_eq!(hull, vec![[0, 0], [4, 0], [4, 4], [0, 4]]);
        let spans = row_spans(&hull, 8, 6).expect("area");
        assert_eq!(spans[0], Some((0, 4)));
        assert_eq!(spans[3], Some((0, 4)));
        assert_eq!(spans[5], None);
        assert!(row_spans(&convex_hull(&mut vec![[0, 0], [1, 1], [3, 3]]), 8, 8).is_none());
    }
}
