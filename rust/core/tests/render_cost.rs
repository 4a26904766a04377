//! What a thumbnail costs: one parse of the instance, like rendering the frame, not two. Memory
//! is counted by a counting allocator, so this file holds one test (tests of one file run on
//! parallel threads and would count each other's allocations).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use dicom_fhir_core::{render_frame, thumbnail, MediaType, RenderOptions};

mod common;

struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated_by(f: impl FnOnce()) -> u64 {
    let before = ALLOCATED.load(Relaxed);
    f();
    ALLOCATED.load(Relaxed) - before
}

/// color3d_jpeg_baseline: 120 JPEG frames of 640 × 480 RGB, 6 MB. Parsing it is most of what one
/// frame costs, so a thumbnail that parsed it twice allocated 1.4 × the rendering of frame 1.
#[test]
fn a_thumbnail_parses_the_instance_once() {
    let bytes = common::read_named("color3d_jpeg_baseline.dcm");
    // warm up once-only allocations (lazy statics of the codecs)
    render_frame(&bytes, 1, &RenderOptions::default()).unwrap();
    let rendered = allocated_by(|| {
        render_frame(&bytes, 1, &RenderOptions::default()).unwrap();
    });
    let thumb = allocated_by(|| {
        thumbnail(&bytes, MediaType::Jpeg).unwrap();
    });
    assert!(
        (thumb as f64) < rendered as f64 * 1.15,
        "the thumbnail allocated {} KiB, rendering the full frame {} KiB",
        thumb >> 10,
        rendered >> 10
    );
}
