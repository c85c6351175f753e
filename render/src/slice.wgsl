// One MPR slice view: samples the HU volume (and the label volume) on a patient plane.
// `HU_DECL` (the HU texture and `hu_at`) is filled in by `slice::shader_source`: a filterable R16Snorm
// texture where the adapter offers 16-bit norm formats, else an exact R16Sint texture read
// with nearest-neighbour loads.

struct View {
    // Viewport point (x, y in points, 0, 1) -> continuous voxel index.
    voxel_from_view: mat4x4<f32>,
    // Voxel-space offset of one slab sample (xyz); w = samples on each side of the plane.
    slab_step: vec4<f32>,
    // nx, ny, nz, padding HU.
    dims: vec4<f32>,
    // Window centre HU, window width HU, slab mode (0 thin, 1 MIP, 2 MinIP), HU per texel unit.
    window: vec4<f32>,
    // Viewport width, height (points); unused; unused.
    viewport: vec4<f32>,
    // Overlay opacity 0..1, outline (0/1), visible-class bit mask, labels present (0/1).
    overlay: vec4<f32>,
    // Colour of each label class (0 = none).
    colors: array<vec4<f32>, 8>,
};

// Pipeline constants: each combination is its own pipeline, so a thin slice without labels
// (the common case) runs no slab loop and no label lookups. Software rasterisers execute
// both sides of a branch, so leaving the work out matters there.
override SLAB: bool = true;
override OVERLAY: bool = true;

@group(0) @binding(0) var<uniform> view: View;
HU_DECL
@group(0) @binding(2) var labels: texture_3d<u32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// A triangle that covers the viewport (the paint callback's rectangle).
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

fn inside(voxel: vec3<f32>) -> bool {
    return all(voxel >= vec3<f32>(-0.5)) && all(voxel <= view.dims.xyz - vec3<f32>(0.5));
}

fn label_at(voxel: vec3<f32>) -> u32 {
    if (!inside(voxel)) {
        return 0u;
    }
    let dims = vec3<i32>(view.dims.xyz);
    let index = clamp(vec3<i32>(floor(voxel + vec3<f32>(0.5))), vec3<i32>(0), dims - vec3<i32>(1));
    let label = textureLoad(labels, index, 0).r;
    if (label >= 8u || ((u32(view.overlay.z) >> label) & 1u) == 0u) {
        return 0u;
    }
    return label;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let point = in.uv * view.viewport.xy;
    let voxel = (view.voxel_from_view * vec4<f32>(point, 0.0, 1.0)).xyz;
    if (!inside(voxel)) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    var hu = hu_at(voxel);
    if (SLAB) {
        let samples = i32(view.slab_step.w);
        let mode = i32(view.window.z);
        for (var i = 1; i <= samples; i = i + 1) {
            for (var side = -1; side <= 1; side = side + 2) {
                let v = voxel + view.slab_step.xyz * f32(i * side);
                if (inside(v)) {
                    let s = hu_at(v);
                    if (mode == 1) { hu = max(hu, s); } else { hu = min(hu, s); }
                }
            }
        }
    }
    let low = view.window.x - view.window.y * 0.5;
    let grey = clamp((hu - low) / max(view.window.y, 1.0), 0.0, 1.0);
    var color = vec3<f32>(grey);

    if (!OVERLAY) {
        return vec4<f32>(color, 1.0);
    }
    let label = label_at(voxel);
    if (label != 0u) {
        var draw = true;
        if (view.overlay.y > 0.5) {
            // Outline: only where a neighbour one point away has another label.
            let dx = (view.voxel_from_view * vec4<f32>(1.0, 0.0, 0.0, 0.0)).xyz;
            let dy = (view.voxel_from_view * vec4<f32>(0.0, 1.0, 0.0, 0.0)).xyz;
            draw = label_at(voxel + dx) != label || label_at(voxel - dx) != label
                || label_at(voxel + dy) != label || label_at(voxel - dy) != label;
        }
        if (draw) {
            let opacity = select(view.overlay.x, 1.0, view.overlay.y > 0.5);
            color = mix(color, view.colors[label].rgb, opacity);
        }
    }
    return vec4<f32>(color, 1.0);
}
