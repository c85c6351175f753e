//! A headless GPU device and an offscreen target: for tests, benchmarks and exports, and for
//! checking what the views show without a window.

use crate::slice::{SliceRenderer, ViewFrame, wanted_features};

/// Why no headless GPU device could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffscreenError {
    #[error("no GPU adapter found (on Linux without a GPU install mesa-vulkan-drivers): {0}")]
    NoAdapter(String),
    #[error("the GPU adapter refused a device: {0}")]
    NoDevice(String),
    #[error("reading the rendered image back failed: {0}")]
    Readback(String),
}

/// A device without a window. `WGPU_BACKEND` (e.g. `vulkan`) and `WGPU_ADAPTER_NAME` choose
/// the adapter, as in every wgpu program.
#[derive(Debug)]
pub struct Headless {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: wgpu::AdapterInfo,
}

impl Headless {
    pub fn new() -> Result<Self, OffscreenError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| OffscreenError::NoAdapter(e.to_string()))?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("lungdesk headless"),
            required_features: wanted_features(adapter.features()),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| OffscreenError::NoDevice(e.to_string()))?;
        Ok(Self { device, queue, adapter: adapter.get_info() })
    }
}

/// The colour format of offscreen targets.
pub const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// One view to draw: its slot in the renderer, its rectangle in pixels, its frame.
#[derive(Debug, Clone, Copy)]
pub struct ViewDraw {
    pub slot: usize,
    pub rect: [f32; 4],
    pub frame: ViewFrame,
}

/// An offscreen colour target of a fixed size.
#[derive(Debug)]
pub struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    pub size: [u32; 2],
}

impl Target {
    pub fn new(device: &wgpu::Device, size: [u32; 2]) -> Self {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("lungdesk offscreen"),
            size: wgpu::Extent3d { width: size[0], height: size[1], depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: TARGET_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        Self { texture, view, size }
    }

    /// Draws `views` (slice images that changed first, then one pass of blits) and waits for
    /// the GPU. Returns how many slice images were redrawn.
    pub fn draw(&self, gpu: &Headless, renderer: &mut SliceRenderer, views: &[ViewDraw]) -> usize {
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        let mut redrawn = 0;
        for v in views {
            redrawn += usize::from(renderer.prepare(&gpu.device, &gpu.queue, &mut encoder, v.slot, &v.frame));
        }
        {
            let mut pass = crate::slice::cleared_pass(&mut encoder, "lungdesk offscreen", &self.view);
            for v in views {
                let [x, y, w, h] = v.rect;
                pass.set_viewport(x, y, w, h, 0.0, 1.0);
                renderer.paint(&mut pass, v.slot);
            }
        }
        gpu.queue.submit([encoder.finish()]);
        let _ = gpu.device.poll(wgpu::PollType::wait_indefinitely());
        redrawn
    }

    /// The target's pixels, RGBA, rows top to bottom.
    pub fn read(&self, gpu: &Headless) -> Result<Vec<u8>, OffscreenError> {
        let [w, h] = self.size;
        let row = (w * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("lungdesk readback"),
            size: u64::from(row * h),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(row), rows_per_image: Some(h) },
            },
            wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        );
        gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| OffscreenError::Readback(e.to_string()))?;
        rx.recv()
            .map_err(|e| OffscreenError::Readback(e.to_string()))?
            .map_err(|e| OffscreenError::Readback(e.to_string()))?;
        let mapped = buffer.get_mapped_range(..).map_err(|e| OffscreenError::Readback(e.to_string()))?;
        let mut pixels = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            let start = (y * row) as usize;
            pixels.extend_from_slice(&mapped[start..start + (w * 4) as usize]);
        }
        Ok(pixels)
    }
}
