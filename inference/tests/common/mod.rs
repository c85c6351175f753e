//! Helpers shared by the real-data tests.

/// The tracheal lumen from the top of a series down, found on HU alone: in the head-most
/// slice, the largest air region (< -500 HU) that the slice's border cannot reach (in the neck,
/// the trachea); in each slice below, the air regions that overlap the lumen of the slice
/// above, for `slices` slices. Returns its voxels.
pub fn tracheal_lumen(volume: &lungdesk_volume::Volume, slices: usize) -> Vec<usize> {
    let [nx, ny, nz] = volume.geometry.dims;
    let plane = nx * ny;
    let head_first: Vec<usize> =
        if volume.geometry.axes()[2].z >= 0.0 { (0..nz).rev().collect() } else { (0..nz).collect() };
    // Per slice, the internal air regions as pixel lists.
    let regions = |z: usize| -> Vec<Vec<usize>> {
        let hu = &volume.voxels_hu[z * plane..(z + 1) * plane];
        let mut seen = vec![false; plane];
        let mut out = Vec::new();
        for start in 0..plane {
            if seen[start] || hu[start] >= -500 {
                continue;
            }
            let (mut stack, mut pixels, mut border) = (vec![start], Vec::new(), false);
            seen[start] = true;
            while let Some(i) = stack.pop() {
                pixels.push(i);
                let (x, y) = (i % nx, i / nx);
                border |= x == 0 || y == 0 || x == nx - 1 || y == ny - 1;
                let mut push = |j: usize| {
                    if !seen[j] && hu[j] < -500 {
                        seen[j] = true;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    push(i - 1);
                }
                if x + 1 < nx {
                    push(i + 1);
                }
                if y > 0 {
                    push(i - nx);
                }
                if y + 1 < ny {
                    push(i + nx);
                }
            }
            if !border {
                out.push(pixels);
            }
        }
        out
    };
    // No air inside the body in the top slice: no lumen (the caller's size check then fails
    // with the series' name).
    let Some(first) = head_first.first() else { return Vec::new() };
    let mut above: Vec<usize> = regions(*first).into_iter().max_by_key(Vec::len).unwrap_or_default();
    let mut lumen: Vec<usize> = above.iter().map(|&i| first * plane + i).collect();
    for &z in head_first.iter().skip(1).take(slices - 1) {
        let in_above: std::collections::HashSet<usize> = above.iter().copied().collect();
        above = regions(z).into_iter().filter(|r| r.iter().any(|i| in_above.contains(i))).flatten().collect();
        lumen.extend(above.iter().map(|&i| z * plane + i));
    }
    lumen
}
