//! One slice view: pointer input, the GPU image (a paint callback carrying only this view's
//! frame), crosshair, orientation letters, slice number, position and HU; and the layout of
//! the three views.

use egui::{Color32, FontId, Pos2, Rect, Sense, Stroke, Vec2};
use glam::DVec2;
use lungdesk_render::slice::{Look, OverlayStyle, SliceRenderer, ViewFrame, hu_at_patient};
use lungdesk_render::view::ViewMapping;

use crate::i18n::tr;
use crate::viewer::Viewer;

/// Trackpad scrolling (in points) that makes one slice step.
const WHEEL_POINTS_PER_STEP: f32 = 40.0;

impl Viewer {
    #[allow(clippy::too_many_lines)] // input, image and annotations of one view, in drawing order
    pub(crate) fn view_ui(&mut self, ui: &mut egui::Ui, view: usize, rect: Rect) {
        let Some(volume) = self.volume.clone() else { return };
        let response = ui.allocate_rect(rect, Sense::click_and_drag());
        let size = DVec2::new(f64::from(rect.width()), f64::from(rect.height()));
        let state = self.nav.views[view];
        let mapping = ViewMapping::new(&volume.geometry, &state, size, self.nav.crosshair_mm);
        self.nav.mappings[view] = Some(mapping);
        let local = |p: Pos2| DVec2::new(f64::from(p.x - rect.min.x), f64::from(p.y - rect.min.y));

        // Pointer: hover readout, click moves the crosshair, wheel scrolls, drags adjust.
        if let Some(pos) = response.hover_pos() {
            self.nav.hover = Some((view, mapping.patient(local(pos))));
            // Discrete wheel events: one slice per notch, whatever the platform's scroll speed;
            // every notch of a slow frame counts.
            let (notches, points, zoom) = ui.input(|i| {
                let (mut notches, mut points) = (0.0f32, 0.0f32);
                for e in &i.raw.events {
                    match e {
                        // A vertical notch is one step; a sideways one is none.
                        egui::Event::MouseWheel { unit: egui::MouseWheelUnit::Point, delta, .. } => points += delta.y,
                        egui::Event::MouseWheel { delta, .. } if delta.y != 0.0 => notches += delta.y.signum(),
                        _ => {}
                    }
                }
                (notches, points, i.modifiers.command)
            });
            // A trackpad scrolls in points: a step per WHEEL_POINTS_PER_STEP, the rest kept.
            self.nav.wheel_points += points;
            let whole = (self.nav.wheel_points / WHEEL_POINTS_PER_STEP).trunc();
            self.nav.wheel_points -= whole * WHEEL_POINTS_PER_STEP;
            let scroll = notches + whole;
            if scroll != 0.0 {
                if zoom {
                    self.nav.views[view].zoom =
                        (self.nav.views[view].zoom * 1.1f64.powf(f64::from(scroll))).clamp(0.2, 20.0);
                } else {
                    self.scroll(view, f64::from(scroll));
                }
            }
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            self.nav.crosshair_mm = mapping.patient(local(pos));
        }
        if response.double_clicked() {
            self.nav.toggle_maximised(view);
        }
        if response.dragged_by(egui::PointerButton::Secondary) {
            let d = response.drag_delta();
            self.display.window.width_hu = (self.display.window.width_hu + d.x * 4.0).clamp(1.0, 6000.0);
            self.display.window.center_hu += d.y * 2.0;
        }
        if response.dragged_by(egui::PointerButton::Middle) {
            let d = response.drag_delta();
            self.nav.views[view].pan_mm -= DVec2::new(f64::from(d.x), f64::from(d.y)) * mapping.mm_per_point;
        }

        // The image.
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::BLACK);
        if self.render_state.is_some() {
            let overlay = OverlayStyle {
                visible_classes: if self.display.overlay_on { self.display.overlay.visible_classes } else { 0 },
                ..self.display.overlay
            };
            let (format, max_side) =
                self.render_state.as_ref().map_or((lungdesk_render::HuFormat::Sint16, 2048), |rs| {
                    (
                        lungdesk_render::HuFormat::for_features(rs.device.features()),
                        rs.device.limits().max_texture_dimension_2d,
                    )
                });
            let look = Look { window: self.display.window, slab: self.display.slab, overlay };
            let frame = ViewFrame::new(
                &volume.geometry,
                state.plane,
                &mapping,
                [rect.width(), rect.height()],
                self.nav.crosshair_mm,
                &look,
                format,
                max_side.min(4096),
            );
            painter.add(egui_wgpu::Callback::new_paint_callback(rect, SliceCallback { slot: view, frame }));
        }

        // Crosshair, orientation letters, slice number, position and HU.
        let c = mapping.view_point(self.nav.crosshair_mm);
        let c = Pos2::new(rect.min.x + c.x as f32, rect.min.y + c.y as f32);
        let stroke = Stroke::new(1.0, Color32::from_rgba_unmultiplied(80, 220, 120, 160));
        painter.line_segment([Pos2::new(rect.min.x, c.y), Pos2::new(rect.max.x, c.y)], stroke);
        painter.line_segment([Pos2::new(c.x, rect.min.y), Pos2::new(c.x, rect.max.y)], stroke);
        let [left, right, top, bottom] = state.plane.edge_letters();
        let font = FontId::proportional(16.0);
        let letter = Color32::from_rgb(255, 210, 80);
        let (mid_x, mid_y) = (rect.center().x, rect.center().y);
        for (pos, align, text) in [
            (Pos2::new(rect.min.x + 4.0, mid_y), egui::Align2::LEFT_CENTER, left),
            (Pos2::new(rect.max.x - 4.0, mid_y), egui::Align2::RIGHT_CENTER, right),
            (Pos2::new(mid_x, rect.min.y + 4.0), egui::Align2::CENTER_TOP, top),
            (Pos2::new(mid_x, rect.max.y - 4.0), egui::Align2::CENTER_BOTTOM, bottom),
        ] {
            text_with_backdrop(&painter, pos, align, text.to_string(), font.clone(), letter);
        }
        let (n, count) = self.slice_number(view).unwrap_or((0, 0));
        let position = self.nav.crosshair_mm.dot(state.plane.normal());
        let mut info = format!("{} {n}/{count}  {position:.1} mm", tr(self.lang, state.plane.name()));
        if let Some((hv, p)) = self.nav.hover
            && hv == view
            && let Some(hu) = hu_at_patient(&volume.geometry, &volume.voxels_hu, p)
        {
            use std::fmt::Write as _;
            let _ = write!(info, "\n({:.1}, {:.1}, {:.1}) mm  {hu} HU", p.x, p.y, p.z);
        }
        text_with_backdrop(
            &painter,
            rect.min + Vec2::new(4.0, 24.0),
            egui::Align2::LEFT_TOP,
            info,
            FontId::monospace(12.0),
            Color32::from_gray(235),
        );
        painter.rect_stroke(rect, 0.0, Stroke::new(1.0, Color32::from_gray(60)), egui::StrokeKind::Inside);
    }
}

/// Text on a translucent dark box, readable over bright bone or soft tissue.
fn text_with_backdrop(
    painter: &egui::Painter,
    pos: Pos2,
    align: egui::Align2,
    text: String,
    font: FontId,
    color: Color32,
) {
    let galley = painter.layout_no_wrap(text, font, color);
    let rect = align.anchor_size(pos, galley.size());
    painter.rect_filled(rect.expand(2.0), 3.0, Color32::from_black_alpha(150));
    painter.galley(rect.min, galley, color);
}

/// Axial on the left half, coronal and sagittal stacked on the right; or one maximised view.
pub(crate) fn layout(area: Rect, maximised: Option<usize>) -> [Option<Rect>; 3] {
    if let Some(m) = maximised {
        let mut rects = [None; 3];
        rects[m] = Some(area);
        return rects;
    }
    let half = area.width() / 2.0;
    let left = Rect::from_min_size(area.min, Vec2::new(half, area.height()));
    let top = Rect::from_min_size(Pos2::new(area.min.x + half, area.min.y), Vec2::new(half, area.height() / 2.0));
    let bottom = Rect::from_min_size(
        Pos2::new(area.min.x + half, area.min.y + area.height() / 2.0),
        Vec2::new(half, area.height() / 2.0),
    );
    [Some(left), Some(top), Some(bottom)]
}

/// One view's paint callback: carries only its frame.
struct SliceCallback {
    slot: usize,
    frame: ViewFrame,
}

impl egui_wgpu::CallbackTrait for SliceCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(renderer) = resources.get_mut::<SliceRenderer>() {
            renderer.prepare(device, queue, encoder, self.slot, &self.frame);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = resources.get::<SliceRenderer>() {
            renderer.paint(pass, self.slot);
        }
    }
}
