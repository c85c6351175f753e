// Draws a view from its cached slice image: a quad over the image's place in the viewport,
// one bilinear 2D sample per fragment. The cache holds the windowed slice (with overlay) at
// about the volume's own resolution, so the costly 3D sampling runs only when the slice
// changes, and only pixels that show the volume are touched.

struct Blit {
    // Cache texture coordinate (u, v in 0..1, 0, 1) -> viewport point (x, y in points).
    view_from_cache: mat4x4<f32>,
    // Viewport width, height (points); unused; unused.
    viewport: vec4<f32>,
};

@group(0) @binding(0) var<uniform> blit: Blit;
@group(0) @binding(1) var cache: texture_2d<f32>;
@group(0) @binding(2) var cache_sampler: sampler;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// Six vertices: two triangles over the unit square of cache coordinates.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0), vec2<f32>(0.0, 1.0),
    );
    let uv = corners[index];
    let point = (blit.view_from_cache * vec4<f32>(uv, 0.0, 1.0)).xy;
    var out: VertexOut;
    out.position = vec4<f32>(point.x / blit.viewport.x * 2.0 - 1.0, 1.0 - point.y / blit.viewport.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    return textureSampleLevel(cache, cache_sampler, in.uv, 0.0);
}
