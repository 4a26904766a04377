//! Times `render_frame` (JPEG, default options) and `thumbnail` on the files given, and counts
//! what each allocates: `cargo run --release -p dicom-fhir-core --example render_time -- FILE...`
//! (time: best of 5; allocations: one call).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use dicom_fhir_core::{render_frame, thumbnail, MediaType, RenderOptions};

/// The system allocator, counting allocations and their bytes.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(layout.size() as u64, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Best time of 5 in ms, then (allocations, KiB allocated) of one more call.
fn measure<F: FnMut()>(mut f: F) -> (f64, u64, u64) {
    let ms = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::INFINITY, f64::min);
    let (n, b) = (ALLOCATIONS.load(Relaxed), ALLOCATED.load(Relaxed));
    f();
    (ms, ALLOCATIONS.load(Relaxed) - n, (ALLOCATED.load(Relaxed) - b) >> 10)
}

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        let (ms, n, kib) = measure(|| {
            render_frame(&bytes, 1, &RenderOptions::default()).expect("render");
        });
        println!("{path}: rendered JPEG {ms:.2} ms, {n} allocations, {kib} KiB");
        let (ms, n, kib) = measure(|| {
            thumbnail(&bytes, MediaType::Jpeg).expect("thumbnail");
        });
        println!("{path}: thumbnail {ms:.2} ms, {n} allocations, {kib} KiB");
    }
}
