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

struct VolumeTextures {
    hu: wgpu::Texture,
    labels: wgpu::Texture,
    dims: [u32; 3],
}

struct ViewSlot {
    uniforms: wgpu::Buffer,
    bind_group: Option<wgpu::BindGroup>,
}

/// The slice pipeline and the GPU copies of one volume.
pub struct SliceRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    pub format: HuFormat,
    volume: Option<VolumeTextures>,
    views: Vec<ViewSlot>,
    /// Bumped on every upload, so callers can tell a stale view apart.
    pub volume_revision: u64,
}

impl std::fmt::Debug for SliceRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceRenderer")
            .field("format", &self.format)
            .field("dims", &self.volume.as_ref().map(|v| v.dims))
            .field("views", &self.views.len())
            .finish_non_exhaustive()
    }
}

impl SliceRenderer {
    /// Creates the pipeline for drawing into `target` textures, with `views` view slots.
    pub fn new(device: &wgpu::Device, target: wgpu::TextureFormat, views: usize) -> Self {
        let format = HuFormat::for_features(device.features());
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("lungdesk slice"),
            source: wgpu::ShaderSource::Wgsl(shader_source(format).into()),
        });
        let texture_entry = |binding, sample_type| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type,
                view_dimension: wgpu::TextureViewDimension::D3,
                multisampled: false,
            },
            count: None,
        };
        let mut entries = vec![
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: NonZeroU64::new(std::mem::size_of::<ViewUniforms>() as u64),
                },
                count: None,
            },
            texture_entry(
                1,
                match format {
                    HuFormat::Snorm16 => wgpu::TextureSampleType::Float { filterable: true },
                    HuFormat::Sint16 => wgpu::TextureSampleType::Sint,
                },
            ),
            texture_entry(2, wgpu::TextureSampleType::Uint),
        ];
        if format == HuFormat::Snorm16 {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: 3,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            });
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lungdesk slice"),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("lungdesk slice"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("lungdesk slice"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[],
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                targets: &[Some(target.into())],
            }),
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("lungdesk hu"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let views = (0..views)
            .map(|_| ViewSlot {
                uniforms: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("lungdesk view"),
                    size: std::mem::size_of::<ViewUniforms>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                bind_group: None,
            })
            .collect();
        Self { pipeline, layout, sampler, format, volume: None, views, volume_revision: 0 }
    }

    /// Uploads a HU volume (x fastest) and an empty label volume of the same size.
    pub fn upload_volume(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        dims: [usize; 3],
        voxels_hu: &[i16],
    ) -> Result<(), RenderError> {
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
        let hu = texture("lungdesk hu", self.format.texture_format());
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
        self.volume = Some(VolumeTextures { hu, labels, dims: [size.width, size.height, size.depth_or_array_layers] });
        self.volume_revision += 1;
        for slot in &mut self.views {
            slot.bind_group = None;
        }
        Ok(())
    }

    /// Replaces the labels in the box at `origin` of `size` (x fastest), e.g. after an edit or
    /// when the AI's segmentation arrives.
    pub fn update_labels(&self, queue: &wgpu::Queue, origin: [u32; 3], size: [u32; 3], labels: &[u8]) {
        let Some(volume) = &self.volume else { return };
        if labels.len() != size.iter().map(|&s| s as usize).product::<usize>() {
            return;
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
    }

    pub fn has_volume(&self) -> bool {
        self.volume.is_some()
    }

    /// Writes view `view`'s uniforms (call for every view before any `paint`).
    pub fn prepare(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, view: usize, uniforms: &ViewUniforms) {
        let Some(volume) = &self.volume else { return };
        let Some(slot) = self.views.get_mut(view) else { return };
        queue.write_buffer(&slot.uniforms, 0, bytemuck::bytes_of(uniforms));
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
                label: Some("lungdesk view"),
                layout: &self.layout,
                entries: &entries,
            }));
        }
    }

    /// Draws view `view` into the pass's current viewport.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, view: usize) {
        let Some(bind_group) = self.views.get(view).and_then(|s| s.bind_group.as_ref()) else { return };
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.draw(0..3, 0..1);
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
    fn uniforms_match_the_shader_layout() {
        // 4×4 matrix + 5 vec4 + 8 colours, each 16 bytes.
        assert_eq!(std::mem::size_of::<ViewUniforms>(), 64 + 5 * 16 + 8 * 16);
    }
}
