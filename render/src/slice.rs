//! The slice pipeline: HU and label volumes as 3D textures, one uniform buffer and bind group
//! per view, a full-viewport triangle per view. GPU objects are created once; each frame
//! carries only a [`ViewUniforms`] value per view.

use std::num::NonZeroU64;

use bytemuck::{Pod, Zeroable};
use glam::DVec3;
use lungdesk_volume::VolumeGeometry;

use crate::view::{Plane, SlabMode, ViewMapping, Window};

/// How HU are held on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuFormat {
    /// `R16Snorm`: exact i16 HU (value / 32767), filterable. Needs TEXTURE_FORMAT_16BIT_NORM.
    Snorm16,
    /// `R16Sint`: exact i16 HU, read with nearest-neighbour loads. Works everywhere.
    Sint16,
}

impl HuFormat {
    /// The best format `features` allow.
    pub fn for_features(features: wgpu::Features) -> Self {
        if features.contains(wgpu::Features::TEXTURE_FORMAT_16BIT_NORM) { Self::Snorm16 } else { Self::Sint16 }
    }
    fn texture_format(self) -> wgpu::TextureFormat {
        match self {
            Self::Snorm16 => wgpu::TextureFormat::R16Snorm,
            Self::Sint16 => wgpu::TextureFormat::R16Sint,
        }
    }
}

/// The features LungDesk asks a device for, of those `adapter` offers.
pub fn wanted_features(adapter: wgpu::Features) -> wgpu::Features {
    adapter & wgpu::Features::TEXTURE_FORMAT_16BIT_NORM
}

const SHADER: &str = include_str!("slice.wgsl");

/// The WGSL of the slice pipeline for one HU format.
pub fn shader_source(format: HuFormat) -> String {
    let declaration = match format {
        HuFormat::Snorm16 => {
            "@group(0) @binding(1) var hu_texture: texture_3d<f32>;
@group(0) @binding(3) var hu_sampler: sampler;
fn hu_at(voxel: vec3<f32>) -> f32 {
    let coord = (voxel + vec3<f32>(0.5)) / view.dims.xyz;
    return textureSampleLevel(hu_texture, hu_sampler, coord, 0.0).r * view.window.w;
}"
        }
        HuFormat::Sint16 => {
            "@group(0) @binding(1) var hu_texture: texture_3d<i32>;
fn hu_at(voxel: vec3<f32>) -> f32 {
    let dims = vec3<i32>(view.dims.xyz);
    let index = clamp(vec3<i32>(floor(voxel + vec3<f32>(0.5))), vec3<i32>(0), dims - vec3<i32>(1));
    return f32(textureLoad(hu_texture, index, 0).r);
}"
        }
    };
    SHADER.replace("\nHU_DECL\n", &format!("\n{declaration}\n"))
}

/// Label classes drawn by the overlay (index = value in the label volume).
pub const MAX_CLASSES: usize = 8;

/// Per-view values, laid out as the shader's `View` struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ViewUniforms {
    pub voxel_from_view: [[f32; 4]; 4],
    pub slab_step: [f32; 4],
    pub dims: [f32; 4],
    pub window: [f32; 4],
    pub viewport: [f32; 4],
    pub overlay: [f32; 4],
    pub colors: [[f32; 4]; MAX_CLASSES],
}

/// How labels are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayStyle {
    pub opacity: f32,
    pub outline: bool,
    /// Bit c set: class c is drawn.
    pub visible_classes: u8,
    /// Whether the label volume holds anything; when false the shader skips it.
    pub labels_present: bool,
    pub colors: [[f32; 4]; MAX_CLASSES],
}

impl Default for OverlayStyle {
    fn default() -> Self {
        let mut colors = [[0.0; 4]; MAX_CLASSES];
        colors[1] = [0.25, 0.55, 1.0, 1.0]; // lung: blue
        colors[2] = [1.0, 0.85, 0.1, 1.0]; // ground-glass: yellow
        colors[3] = [1.0, 0.25, 0.2, 1.0]; // consolidation: red
        Self { opacity: 0.35, outline: false, visible_classes: 0b1111_1110, labels_present: false, colors }
    }
}

impl ViewUniforms {
    /// Uniforms for one view of `geometry` drawn through `mapping` in a viewport of `size`
    /// points. `slab_mm` > 0 with a MIP/MinIP mode samples a slab of that thickness.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        geometry: &VolumeGeometry,
        plane: Plane,
        mapping: &ViewMapping,
        size: [f32; 2],
        window: Window,
        slab: (SlabMode, f64),
        overlay: &OverlayStyle,
        format: HuFormat,
    ) -> Self {
        let m = mapping.voxel_from_view.as_mat4();
        let (mode, slab_mm) = slab;
        // Samples half a voxel apart (in mm of the smallest spacing) on each side.
        let step_mm = geometry.spacing_mm.iter().copied().fold(f64::INFINITY, f64::min).max(0.1) / 2.0;
        let (samples, mode_code) = match mode {
            SlabMode::Thin => (0.0, 0.0),
            SlabMode::Mip => ((slab_mm / 2.0 / step_mm).floor().min(256.0), 1.0),
            SlabMode::MinIp => ((slab_mm / 2.0 / step_mm).floor().min(256.0), 2.0),
        };
        let step_voxel = geometry.voxel_from_patient().transform_vector3(plane.normal() * step_mm);
        let hu_scale = match format {
            HuFormat::Snorm16 => 32767.0,
            HuFormat::Sint16 => 1.0,
        };
        Self {
            voxel_from_view: m.to_cols_array_2d(),
            slab_step: [step_voxel.x as f32, step_voxel.y as f32, step_voxel.z as f32, samples as f32],
            dims: [geometry.dims[0] as f32, geometry.dims[1] as f32, geometry.dims[2] as f32, 0.0],
            window: [window.center_hu, window.width_hu, mode_code, hu_scale],
            viewport: [size[0], size[1], 0.0, 0.0],
            overlay: [
                overlay.opacity,
                if overlay.outline { 1.0 } else { 0.0 },
                f32::from(overlay.visible_classes),
                if overlay.labels_present { 1.0 } else { 0.0 },
            ],
            colors: overlay.colors,
        }
    }
}

/// Why a volume could not go to the GPU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    #[error("volume {dims:?} exceeds this GPU's 3D texture limit of {limit} voxels per side")]
    TooLarge { dims: [usize; 3], limit: u32 },
    #[error("volume data holds {got} voxels, dims need {expected}")]
    WrongLength { got: usize, expected: usize },
}

/// A HU volume and its label volume on the GPU. Made by [`GpuVolume::upload`], which may run
/// on any thread (a loader thread, so the UI thread never copies 100+ MiB), then handed to a
/// [`SliceRenderer`] with [`SliceRenderer::set_volume`].
pub struct GpuVolume {
    hu: wgpu::Texture,
    labels: wgpu::Texture,
    dims: [u32; 3],
    format: HuFormat,
}

impl std::fmt::Debug for GpuVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuVolume").field("dims", &self.dims).field("format", &self.format).finish_non_exhaustive()
    }
}

impl GpuVolume {
    /// Uploads a HU volume (x fastest) and an empty label volume of the same size.
    pub fn upload(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        dims: [usize; 3],
        voxels_hu: &[i16],
    ) -> Result<Self, RenderError> {
        let format = HuFormat::for_features(device.features());
        let expected = dims.iter().product::<usize>();
        if voxels_hu.len() != expected {
            return Err(RenderError::WrongLength { got: voxels_hu.len(), expected });
        }
        let limit = device.limits().max_texture_dimension_3d;
        if dims.iter().any(|&d| d == 0 || d > limit as usize) {
            return Err(RenderError::TooLarge { dims, limit });
        }
        let size =
            wgpu::Extent3d { width: dims[0] as u32, height: dims[1] as u32, depth_or_array_layers: dims[2] as u32 };
        let texture = |label, format| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D3,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let hu = texture("lungdesk hu", format.texture_format());
        let labels = texture("lungdesk labels", wgpu::TextureFormat::R8Uint);
        let write = |texture: &wgpu::Texture, bytes: &[u8], bytes_per_voxel: u32| {
            queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(size.width * bytes_per_voxel),
                    rows_per_image: Some(size.height),
                },
                size,
            );
        };
        // Both formats hold the i16 bit pattern: Snorm16 reads it as value / 32767.
        write(&hu, bytemuck::cast_slice(voxels_hu), 2);
        write(&labels, &vec![0u8; expected], 1);
        queue.submit([]);
        Ok(Self { hu, labels, dims: [size.width, size.height, size.depth_or_array_layers], format })
    }

    pub fn dims(&self) -> [u32; 3] {
        self.dims
    }

    /// A handle to this volume's label texture, for writing labels from another thread.
    pub fn label_texture(&self) -> LabelTexture {
        LabelTexture { texture: self.labels.clone(), dims: self.dims }
    }
}

/// A volume's label texture, written from any thread (the analysis thread writes the AI's
/// labels, so the UI thread never copies a whole label volume); then
/// [`SliceRenderer::labels_written`] makes the views redraw.
#[derive(Debug, Clone)]
pub struct LabelTexture {
    texture: wgpu::Texture,
    dims: [u32; 3],
}

/// The names of the threads that wrote label volumes, oldest first (the last 64): a check
/// that whole-volume writes stay off the UI thread.
static LABEL_WRITERS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn note_label_writer() {
    let name = std::thread::current().name().unwrap_or("unnamed").to_owned();
    if let Ok(mut writers) = LABEL_WRITERS.lock() {
        if writers.len() == 64 {
            writers.remove(0);
        }
        writers.push(name);
    }
}

/// The threads that wrote label volumes so far (see [`LabelTexture::write`]).
pub fn label_writers() -> Vec<String> {
    LABEL_WRITERS.lock().map(|w| w.clone()).unwrap_or_default()
}

impl LabelTexture {
    /// Writes the whole label volume (x fastest, one class per voxel).
    pub fn write(&self, queue: &wgpu::Queue, labels: &[u8]) -> Result<(), RenderError> {
        let expected = self.dims.iter().map(|&d| d as usize).product::<usize>();
        if labels.len() != expected {
            return Err(RenderError::WrongLength { got: labels.len(), expected });
        }
        note_label_writer();
        let [width, height, depth] = self.dims;
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            labels,
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(width), rows_per_image: Some(height) },
            wgpu::Extent3d { width, height, depth_or_array_layers: depth },
        );
        queue.submit([]);
        Ok(())
    }
}

/// Per-view values of the blit pass, laid out as `blit.wgsl`'s `Blit` struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BlitUniforms {
    pub view_from_cache: [[f32; 4]; 4],
    pub viewport: [f32; 4],
}

/// Everything one view needs for one frame: what its cached slice image shows (`content`,
/// rendered into a `cache_size` texture only when it changes) and how that image sits in the
/// view (`blit`: zoom and pan cost no 3D sampling).
#[derive(Debug, Clone, Copy)]
pub struct ViewFrame {
    pub content: ViewUniforms,
    pub cache_size: [u32; 2],
    pub blit: BlitUniforms,
}

impl ViewFrame {
    /// The frame of a view whose screen mapping is `mapping` (a viewport of `size` points),
    /// showing `plane` through `crosshair_mm`. The cache covers the whole plane of the volume
    /// at its finest voxel spacing, at most `max_cache_side` pixels per side.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        geometry: &VolumeGeometry,
        plane: Plane,
        mapping: &ViewMapping,
        size: [f32; 2],
        crosshair_mm: DVec3,
        look: &Look,
        format: HuFormat,
        max_cache_side: u32,
    ) -> Self {
        let (right, down) = plane.screen_axes();
        let (lo, hi) = crate::view::patient_bounds(geometry);
        let extent = hi - lo;
        let pixel_mm = geometry.spacing_mm.iter().copied().fold(f64::INFINITY, f64::min).max(0.05);
        let pixels_for = |mm: f64| ((mm / pixel_mm).round() as u32 + 1).clamp(1, max_cache_side.max(1));
        let cache_size = [pixels_for(extent.dot(right.abs())), pixels_for(extent.dot(down.abs()))];
        let cache_points = glam::DVec2::new(f64::from(cache_size[0]), f64::from(cache_size[1]));
        let cache_mapping = ViewMapping::new(geometry, &crate::view::ViewState::new(plane), cache_points, crosshair_mm);
        let content = ViewUniforms::new(
            geometry,
            plane,
            &cache_mapping,
            [cache_size[0] as f32, cache_size[1] as f32],
            look.window,
            look.slab,
            &look.overlay,
            format,
        );
        let uv_from_cache = glam::DMat4::from_scale(DVec3::new(1.0 / cache_points.x, 1.0 / cache_points.y, 1.0));
        let cache_from_view = uv_from_cache * cache_mapping.patient_from_view.inverse() * mapping.patient_from_view;
        let blit = BlitUniforms {
            view_from_cache: cache_from_view.inverse().as_mat4().to_cols_array_2d(),
            viewport: [size[0], size[1], 0.0, 0.0],
        };
        Self { content, cache_size, blit }
    }
}

/// How slices look: window, slab and overlay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub window: Window,
    pub slab: (SlabMode, f64),
    pub overlay: OverlayStyle,
}

struct ViewSlot {
    uniforms: wgpu::Buffer,
    bind_group: Option<wgpu::BindGroup>,
    blit_uniforms: wgpu::Buffer,
    cache: Option<Cache>,
}

/// A view's slice image and what it was drawn from.
struct Cache {
    view: wgpu::TextureView,
    size: [u32; 2],
    blit_bind_group: wgpu::BindGroup,
    drawn: Option<(ViewUniforms, u64, u64)>,
}

/// The slice and blit pipelines and the GPU copy of one volume.
pub struct SliceRenderer {
    /// Indexed by `2 * slab + overlay` (see the shader's pipeline constants).
    slice_pipelines: [wgpu::RenderPipeline; 4],
    slice_layout: wgpu::BindGroupLayout,
    blit_pipeline: wgpu::RenderPipeline,
    blit_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    pub format: HuFormat,
    volume: Option<GpuVolume>,
    views: Vec<ViewSlot>,
    /// Bumped on every new volume, so callers can tell a stale view apart.
    pub volume_revision: u64,
    labels_revision: u64,
    /// Slice images drawn since the renderer was made (each one a 3D-sampling pass).
    pub slice_passes: u64,
}

impl std::fmt::Debug for SliceRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceRenderer")
            .field("format", &self.format)
            .field("volume", &self.volume)
            .field("views", &self.views.len())
            .finish_non_exhaustive()
    }
}

/// The format of the cached slice images.
const CACHE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const BLIT_SHADER: &str = include_str!("blit.wgsl");

fn uniform_entry(size: usize) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: NonZeroU64::new(size as u64),
        },
        count: None,
    }
}

fn full_screen_pipeline(
    device: &wgpu::Device,
    label: &str,
    shader: &wgpu::ShaderModule,
    constants: &[(&str, f64)],
    layout: &wgpu::BindGroupLayout,
    target: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: &[],
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some("fs_main"),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            targets: &[Some(target.into())],
        }),
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        multiview_mask: None,
        cache: None,
    })
}

/// A render pass into `view`, cleared to black first.
pub(crate) fn cleared_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    view: &wgpu::TextureView,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations { load: wgpu::LoadOp::Clear(wgpu::Color::BLACK), store: wgpu::StoreOp::Store },
        })],
        ..Default::default()
    })
}

impl SliceRenderer {
    /// Creates the pipelines for drawing into `target` textures, with `views` view slots.
    pub fn new(device: &wgpu::Device, target: wgpu::TextureFormat, views: usize) -> Self {
        let format = HuFormat::for_features(device.features());
        let texture_entry = |binding, sample_type, view_dimension| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture { sample_type, view_dimension, multisampled: false },
            count: None,
        };
        let sampler_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
            count: None,
        };
        let d3 = wgpu::TextureViewDimension::D3;
        let mut entries = vec![
            uniform_entry(std::mem::size_of::<ViewUniforms>()),
            texture_entry(
                1,
                match format {
                    HuFormat::Snorm16 => wgpu::TextureSampleType::Float { filterable: true },
                    HuFormat::Sint16 => wgpu::TextureSampleType::Sint,
                },
                d3,
            ),
            texture_entry(2, wgpu::TextureSampleType::Uint, d3),
        ];
        if format == HuFormat::Snorm16 {
            entries.push(sampler_entry(3));
        }
        let slice_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lungdesk slice"),
            entries: &entries,
        });
        let module = |label, source: String| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
        };
        let slice_shader = module("lungdesk slice", shader_source(format));
        let slice_pipelines = [(false, false), (false, true), (true, false), (true, true)].map(|(slab, overlay)| {
            let constants = [("SLAB", f64::from(u8::from(slab))), ("OVERLAY", f64::from(u8::from(overlay)))];
            full_screen_pipeline(device, "lungdesk slice", &slice_shader, &constants, &slice_layout, CACHE_FORMAT)
        });
        let blit_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lungdesk blit"),
            entries: &[
                uniform_entry(std::mem::size_of::<BlitUniforms>()),
                texture_entry(1, wgpu::TextureSampleType::Float { filterable: true }, wgpu::TextureViewDimension::D2),
                sampler_entry(2),
            ],
        });
        let blit_shader = module("lungdesk blit", BLIT_SHADER.to_owned());
        let blit_pipeline = full_screen_pipeline(device, "lungdesk blit", &blit_shader, &[], &blit_layout, target);
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("lungdesk linear"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let buffer = |label, size| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let views = (0..views)
            .map(|_| ViewSlot {
                uniforms: buffer("lungdesk view", std::mem::size_of::<ViewUniforms>() as u64),
                bind_group: None,
                blit_uniforms: buffer("lungdesk blit", std::mem::size_of::<BlitUniforms>() as u64),
                cache: None,
            })
            .collect();
        Self {
            slice_pipelines,
            slice_layout,
            blit_pipeline,
            blit_layout,
            sampler,
            format,
            volume: None,
            views,
            volume_revision: 0,
            labels_revision: 0,
            slice_passes: 0,
        }
    }

    /// Uploads a volume and shows it: [`GpuVolume::upload`] then [`Self::set_volume`].
    pub fn upload_volume(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        dims: [usize; 3],
        voxels_hu: &[i16],
    ) -> Result<(), RenderError> {
        let volume = GpuVolume::upload(device, queue, dims, voxels_hu)?;
        self.set_volume(volume);
        Ok(())
    }

    /// Shows `volume` from the next frame on. Its format must be this renderer's (both come
    /// from the same device's features).
    pub fn set_volume(&mut self, volume: GpuVolume) {
        debug_assert_eq!(volume.format, self.format);
        self.volume = Some(volume);
        self.volume_revision += 1;
        for slot in &mut self.views {
            slot.bind_group = None;
            if let Some(cache) = &mut slot.cache {
                cache.drawn = None;
            }
        }
    }

    /// Replaces the labels in the box at `origin` of `size` (x fastest): an edit's region.
    /// Whole label volumes are written with [`LabelTexture::write`] off the UI thread.
    pub fn update_labels(&mut self, queue: &wgpu::Queue, origin: [u32; 3], size: [u32; 3], labels: &[u8]) {
        let Some(volume) = &self.volume else { return };
        if labels.len() != size.iter().map(|&s| s as usize).product::<usize>() {
            return;
        }
        if self.volume.as_ref().is_some_and(|v| v.dims == size) {
            note_label_writer();
        }
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &volume.labels,
                mip_level: 0,
                origin: wgpu::Origin3d { x: origin[0], y: origin[1], z: origin[2] },
                aspect: wgpu::TextureAspect::All,
            },
            labels,
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(size[0]), rows_per_image: Some(size[1]) },
            wgpu::Extent3d { width: size[0], height: size[1], depth_or_array_layers: size[2] },
        );
        self.labels_revision += 1;
    }

    /// Labels were written into the shown volume's [`LabelTexture`]: redraw the views.
    pub fn labels_written(&mut self) {
        self.labels_revision += 1;
    }

    pub fn has_volume(&self) -> bool {
        self.volume.is_some()
    }

    /// Prepares view `view` for [`Self::paint`]: writes its blit uniforms and, when what the
    /// view shows changed since its last slice image, records a slice pass into `encoder`.
    /// Returns whether a slice pass was recorded.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        view: usize,
        frame: &ViewFrame,
    ) -> bool {
        let Some(volume) = &self.volume else { return false };
        let Some(slot) = self.views.get_mut(view) else { return false };
        if slot.bind_group.is_none() {
            let hu_view = volume.hu.create_view(&wgpu::TextureViewDescriptor::default());
            let label_view = volume.labels.create_view(&wgpu::TextureViewDescriptor::default());
            let mut entries = vec![
                wgpu::BindGroupEntry { binding: 0, resource: slot.uniforms.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&hu_view) },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&label_view) },
            ];
            if self.format == HuFormat::Snorm16 {
                entries
                    .push(wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::Sampler(&self.sampler) });
            }
            slot.bind_group = Some(device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("lungdesk slice"),
                layout: &self.slice_layout,
                entries: &entries,
            }));
        }
        if slot.cache.as_ref().is_none_or(|c| c.size != frame.cache_size) {
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: Some("lungdesk slice image"),
                size: wgpu::Extent3d {
                    width: frame.cache_size[0],
                    height: frame.cache_size[1],
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: CACHE_FORMAT,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            });
            let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
            let blit_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("lungdesk blit"),
                layout: &self.blit_layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: slot.blit_uniforms.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::TextureView(&view) },
                    wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::Sampler(&self.sampler) },
                ],
            });
            slot.cache = Some(Cache { view, size: frame.cache_size, blit_bind_group, drawn: None });
        }
        queue.write_buffer(&slot.blit_uniforms, 0, bytemuck::bytes_of(&frame.blit));
        let (Some(cache), Some(bind_group)) = (&mut slot.cache, &slot.bind_group) else { return false };
        let key = (frame.content, self.volume_revision, self.labels_revision);
        if cache.drawn.is_some_and(|drawn| {
            bytemuck::bytes_of(&drawn.0) == bytemuck::bytes_of(&key.0) && (drawn.1, drawn.2) == (key.1, key.2)
        }) {
            return false;
        }
        queue.write_buffer(&slot.uniforms, 0, bytemuck::bytes_of(&frame.content));
        {
            let mut pass = cleared_pass(encoder, "lungdesk slice", &cache.view);
            let slab = frame.content.window[2] != 0.0 && frame.content.slab_step[3] > 0.0;
            let overlay =
                frame.content.overlay[3] > 0.5 && frame.content.overlay[2] != 0.0 && frame.content.overlay[0] > 0.0;
            pass.set_pipeline(&self.slice_pipelines[2 * usize::from(slab) + usize::from(overlay)]);
            pass.set_bind_group(0, bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
        cache.drawn = Some(key);
        self.slice_passes += 1;
        true
    }

    /// Draws view `view` from its slice image into the pass's current viewport.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, view: usize) {
        let Some(cache) = self.views.get(view).and_then(|s| s.cache.as_ref()) else { return };
        if cache.drawn.is_none() {
            return;
        }
        pass.set_pipeline(&self.blit_pipeline);
        pass.set_bind_group(0, &cache.blit_bind_group, &[]);
        pass.draw(0..6, 0..1);
    }
}

/// HU at a patient point, nearest voxel, for the "HU under the cursor" readout.
pub fn hu_at_patient(geometry: &VolumeGeometry, voxels_hu: &[i16], patient_mm: DVec3) -> Option<i16> {
    let v = geometry.voxel_from_patient().transform_point3(patient_mm).round();
    let [nx, ny, nz] = geometry.dims;
    if v.min_element() < 0.0 || v.x >= nx as f64 || v.y >= ny as f64 || v.z >= nz as f64 {
        return None;
    }
    voxels_hu.get((v.z as usize * ny + v.y as usize) * nx + v.x as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both shader variants parse and validate with naga, without a GPU.
    #[test]
    fn shaders_validate_with_naga() {
        for format in [HuFormat::Snorm16, HuFormat::Sint16] {
            let source = shader_source(format);
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{format:?}: {}", e.emit_to_string(&source)));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{format:?}: {e:?}"));
        }
    }

    #[test]
    fn blit_shader_validates_with_naga() {
        let module =
            naga::front::wgsl::parse_str(BLIT_SHADER).unwrap_or_else(|e| panic!("{}", e.emit_to_string(BLIT_SHADER)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .expect("blit shader");
    }

    #[test]
    fn uniforms_match_the_shader_layout() {
        // 4×4 matrix + 5 vec4 + 8 colours, each 16 bytes.
        assert_eq!(std::mem::size_of::<ViewUniforms>(), 64 + 5 * 16 + 8 * 16);
        assert_eq!(std::mem::size_of::<BlitUniforms>(), 64 + 16);
    }
}
